"""The sync panel of the demo page (MicroPython): badge, Sync/Cancel, progress bar, chart of
recent syncs, tables list, conflicts view and the rows the server's sync rules rejected.

It only draws what the client reports (``status().sync``, events ``sync``, ``progress``,
``conflict``, ``rejection``) and asks it for lists (``syncLog``, ``conflicts``,
``rejections``), re-read after each sync; the tables list is drawn from what
``ui_tables.PageTables`` read for every panel that lists tables. Values cross as JSON,
like the rest of the UI.

Times: MicroPython's FFI turns a JS integer into a 32-bit int, so an epoch in ms
(``Date.now()``) arrives wrong. No such number crosses here: a stamp becomes a JS
``Date`` from its text (shown in the user's local time by the browser), and ages are
computed from the texts of two UTC stamps (:func:`epoch_s`).
"""

from pyscript import window
from pyscript.ffi import create_proxy

from ui_common import (
    KEY_OWED_STATE,
    NOT_HELD_STATE,
    count,
    el,
    escape,
    failed_state,
    from_js,
    no_tables_words,
    on_promise,
    plain_error,
    shown_key,
)

CHART_RUNS = 20
PHASE_WORDS = {
    "idle": "in sync",
    "pending": "not in sync yet",
    "syncing": "syncing",
    "offline": "offline",
    "error": "sync failed",
    "conflict": "conflicts to resolve",
}


def changes(n):
    return str(n) + (" change" if n == 1 else " changes")


def badge_words(state):
    """The badge: the phase, and for ``pending`` why this device is not proved in sync."""
    phase = state.get("phase") or "pending"
    unsent = state.get("unsent")
    keyless = len(state.get("keyless_tables") or [])
    kept = len(state.get("not_held_changed") or [])
    if phase == "idle" and (keyless or kept):
        words = ["in sync"]
        if keyless:  # as the tables list says: "not synced (no primary key)"
            words.append(count(keyless, "table") + " not synced")
        if kept:  # a copy kept unheld, edited here: no sync sends it (not an error)
            words.append(count(kept, "table") + " not held here " +
                         ("has" if kept == 1 else "have") + " changes that will not be sent")
        return " · ".join(words)
    if phase != "pending":
        words = PHASE_WORDS.get(phase, phase)
        return words + ", " + changes(unsent) + " not sent" if unsent and phase != "syncing" \
            else words
    if unsent:
        return changes(unsent) + " not sent"
    if unsent is None and state.get("last_outcome") is not None:
        return "changes not sent"
    if state.get("last_outcome") == "cancelled":
        return "sync cancelled"
    if state.get("last_outcome") is None:
        return "not synced yet" if not state.get("last_sync") else "waiting to sync"
    return PHASE_WORDS["pending"]


def feed_words(state):
    """How another device's change reaches this one: live (the change feed) or, when the
    feed is not there, the interval sync (docs/change-feed.md)."""
    feed = state.get("feed") or {}
    kind, reason = feed.get("state"), feed.get("reason")
    interval = state.get("interval_s") or 0
    every = ("checked every " + str(int(interval)) + " s" if interval
             else "checked only when you sync")
    if kind == "live":
        return "Live: changes made on other devices show here within a second."
    if kind == "connecting":
        return "Connecting to live updates…"
    if kind == "off":
        return "No live updates with this connection: other devices' changes are " + every + "."
    if kind == "fallback":
        why = " (" + reason + ")" if reason else ""
        return "Live updates unavailable" + why + ": other devices' changes are " + every + "."
    return ""


def epoch_s(stamp):
    """Seconds since 1970 of a UTC stamp ``YYYY-MM-DD[ T]HH:MM:SS…`` (pure integer math)."""
    y, m, d = int(stamp[0:4]), int(stamp[5:7]), int(stamp[8:10])
    y -= 1 if m <= 2 else 0
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return days * 86400 + int(stamp[11:13]) * 3600 + int(stamp[14:16]) * 60 + \
        int(stamp[17:19])


def _date(stamp):
    """A JS Date of the worker's UTC stamp, made from text (see the module docstring)."""
    return window.Date.new(stamp.replace(" ", "T")[:19] + "Z")


def ago(stamp, now=None):
    seconds = epoch_s(now or window.Date.new().toISOString()) - epoch_s(stamp)
    if seconds < 5:
        return "just now"
    if seconds < 90:
        return str(seconds) + " s ago"
    if seconds < 5400:
        return str(seconds // 60) + " min ago"
    return str(seconds // 3600) + " h ago"


def local_time(stamp):
    """The stamp in the user's time zone (with the date unless it is today)."""
    date = _date(stamp)
    if date.toDateString() == window.Date.new().toDateString():
        return date.toLocaleTimeString()
    return date.toLocaleString()


def grouped(n):
    """``1234567`` as ``1,234,567``: a row count a reader takes in at a glance."""
    text = str(int(n))
    head = len(text) % 3 or 3
    return ",".join([text[:head]] + [text[i:i + 3] for i in range(head, len(text), 3)])


def progress_words(p):
    """The progress bar's label: rows and bytes of the table so far, and the time left;
    once every row is here, the sync still writes them (and a new table's key), so it
    says so instead of sitting at "300,000 of 300,000" with nothing to say."""
    done, total = p.get("rows_done") or 0, p.get("rows_total") or 0
    eta = p.get("eta_s")
    if total and done >= total:
        tail = ", finishing…"
    elif eta is not None:
        tail = ", about {} s left".format(int(eta + 0.99))
    else:
        tail = ""
    return "{}: {} of {} {}, {} of {}{}".format(
        p.get("table") or "sync", grouped(done), grouped(total), "row" if total == 1 else "rows",
        size(p.get("bytes_done") or 0), size(p.get("bytes_total") or 0), tail)


def size(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return (str(int(n)) if unit == "B" else "{:.1f}".format(n)) + " " + unit
        n = n / 1024
    return str(n)


class SyncPanel:
    def __init__(self, client, tables):
        self.client = client
        self.tables = tables  # ui_tables.PageTables: reads the tables list for us
        tables.add(self)
        self.state = {}
        self.running = False
        client.on("sync", create_proxy(self.on_sync))
        client.on("progress", create_proxy(self.on_progress))
        client.on("conflict", create_proxy(lambda _p: self.refresh_conflicts()))
        client.on("rejection", create_proxy(lambda _p: self.refresh_rejections()))
        el("sync-now").addEventListener("click", create_proxy(self.sync_now))
        el("sync-cancel").addEventListener("click", create_proxy(self.cancel))
        el("conflict-list").addEventListener("click", create_proxy(self.on_conflict_click))
        el("rejection-list").addEventListener("click", create_proxy(self.on_rejection_click))
        el("stopped-list").addEventListener("click", create_proxy(self.on_stopped_click))

    def start(self):
        el("sync-now").disabled = False
        self.render(from_js(self.client.status())["sync"])
        # The worker's status (the owner tab's, in a follower), not the client's default.
        on_promise(self.client.syncStatus(), lambda s: self.render(from_js(s)), self.show_error)
        self.refresh_lists(every=True)  # a reloaded page's waiting conflicts, rejections

    # --- status ---------------------------------------------------------------------
    def on_sync(self, state):
        state = from_js(state)
        was_running = self.running
        self.render(state)
        if was_running and not state.get("running"):
            self.refresh_lists()  # a run ended: chart and conflicts changed (the tables
            # list too: PageTables reads it for every panel)

    def render(self, state):
        self.state = state
        phase = state.get("phase") or "pending"
        self.running = bool(state.get("running"))
        badge = el("status-sync")
        badge.dataset.phase = phase
        badge.querySelector("b").textContent = badge_words(state)
        el("sync-detail").textContent = self.detail(state)
        el("sync-now").disabled = self.running
        el("sync-cancel").hidden = not self.running
        self.render_stopped(state.get("stopped") or [])
        if not self.running:
            el("sync-progress").hidden = True

    def detail(self, state):
        phase = state.get("phase")
        last, error = state.get("last_sync"), state.get("last_error")
        parts = []
        if phase == "syncing":
            table = (state.get("progress") or {}).get("table")
            parts.append("syncing " + table + "…" if table else "syncing…")
        elif phase == "conflict":
            n = state.get("pending_conflicts") or 0
            parts.append(str(n) + (" row was" if n == 1 else " rows were") +
                         " changed on both sides: choose a version below.")
        elif phase == "offline":
            parts.append("No connection to the server: changes are kept here and sent "
                         "when it is back.")
        elif phase == "pending" and state.get("last_outcome") == "cancelled":
            parts.append("Sync cancelled: the next one picks up where it stopped.")
        rejected = state.get("rejections") or 0
        if rejected:
            parts.append(str(rejected) + (" change was" if rejected == 1 else " changes were") +
                         " rejected by the server's sync rules: see below.")
        keyless = state.get("keyless_tables") or []
        if keyless:  # the badge's "1 table not synced": which, and why
            parts.append(("Table " if len(keyless) == 1 else "Tables ") + ", ".join(keyless) +
                         (" is" if len(keyless) == 1 else " are") +
                         " not synced: no primary key. Declare one to sync it.")
        kept = state.get("not_held_changed") or []
        if kept:  # the badge's "not held here has changes": which, and the way to send them
            one = len(kept) == 1
            parts.append(("Table " if one else "Tables ") + ", ".join(kept) +
                         (" is" if one else " are") + " not held here: " +
                         ("its" if one else "their") + " changes made here will not be "
                         'sent. Tick "hold here" to sync ' + ("it" if one else "them") +
                         " again.")
        unsent = state.get("unsent")
        if unsent:
            parts.append(changes(unsent) + " made here not sent yet.")
        elif unsent is None and state.get("last_outcome") is not None:
            parts.append("Changes made here are not sent yet.")
        # offline, an unreachable server is what the first part said already
        if error and (phase == "error" or (phase == "offline"
                                           and error.get("code") != "remote_unavailable")):
            parts.append("Last sync failed: " + plain_error(error))
        if phase != "offline":
            parts.append(feed_words(state))
        if last:
            parts.append("Last synced at " + local_time(last) + " (" + ago(last) + ").")
        elif phase in ("idle", "pending"):
            parts.append("Never synced yet.")
        return " ".join(p for p in parts if p)

    def on_progress(self, p):
        p = from_js(p)
        if p.get("task") == "backup" or not self.running:
            return
        done, total = p.get("rows_done") or 0, p.get("rows_total") or 0
        box = el("sync-progress")
        box.hidden = False
        bar = el("sync-progress-bar")
        bar.max = max(total, 1)
        bar.value = min(done, max(total, 1))
        el("sync-progress-label").textContent = progress_words(p)
        self.state["progress"] = p  # the detail names the table being synced
        el("sync-detail").textContent = self.detail(self.state)

    # --- actions --------------------------------------------------------------------
    def sync_now(self, _event=None):
        el("sync-now").disabled = True
        el("sync-error").hidden = True
        # its end is a sync event, on which every list is read again
        on_promise(self.client.sync(), lambda _r: None, self.show_error)

    def cancel(self, _event=None):
        on_promise(self.client.cancelSync(), lambda _r: None, self.show_error)

    def show_error(self, err):
        box = el("sync-error")
        box.dataset.kind = "cancelled" if str(err.code) == "cancelled" else "error"
        if str(err.code) == "cancelled":  # not a failure: shown without the error colour
            box.textContent = "Sync cancelled. The next sync picks up where it stopped."
        else:
            box.textContent = "Sync failed: " + plain_error({"message": str(err.message),
                                                            "code": str(err.code),
                                                            "hint": err.hint,
                                                            "request_id": err.requestId})
        box.hidden = False
        el("sync-now").disabled = False

    # --- lists ----------------------------------------------------------------------
    def refresh(self, *_args):
        """Every list: after an action here (a conflict settled, an import, a switch)."""
        self.tables.refresh()
        self.refresh_lists(every=True)

    def refresh_lists(self, every=False):
        """The chart, and the conflicts and rejections when there are (or were) any: the
        status counts them, so a sync that left none asks for neither list."""
        on_promise(self.client.syncLog(CHART_RUNS), self.render_chart, self.show_error)
        if every or self.state.get("pending_conflicts") or not el("conflicts").hidden:
            self.refresh_conflicts()
        if every or self.state.get("rejections") or not el("rejections").hidden:
            self.refresh_rejections()

    def refresh_rejections(self):
        on_promise(self.client.rejections(), self.render_rejections, self.show_error)

    def refresh_conflicts(self):
        on_promise(self.client.conflicts(), self.render_conflicts, self.show_error)

    def draw_local(self, local):
        """The main schema's tables (the ones a sync covers): rows from the counts every
        panel shows, the state from ``syncTables()``."""
        rows = []
        for i, table in enumerate(local["tables"]):
            if table["schema"] != "main":
                continue
            t = dict(local["synced"].get(table["table"]) or
                     {"table": table["table"], "primary_key": table["key"]})
            counting = table["table"] in local["unsent"] and \
                local["unsent"][table["table"]] is None
            t["unsent"] = local["unsent"].get(table["table"], t.get("unsent"))
            state = table_state(t, counting)
            rows.append('<tr data-table="' + escape(t["table"]) + '"><th scope="row">' +
                        escape(t["table"]) + '</th><td class="num">' + str(local["counts"][i]) +
                        "</td><td>" +
                        escape(shown_key(t.get("primary_key"), t.get("key_pending"))) +
                        "</td><td>" + escape(state) + "</td></tr>")
        el("sync-tables-body").innerHTML = "".join(rows) or \
            '<tr><td colspan="4">' + no_tables_words(local["syncing"]) + "</td></tr>"

    def read_failed(self, _err):
        """Said by the schema browser's note; the list keeps what it showed."""

    def render_chart(self, runs):
        el("sync-chart").innerHTML = chart_svg(list(reversed(from_js(runs))))

    def render_conflicts(self, conflicts):
        conflicts = from_js(conflicts)
        section = el("conflicts")
        section.hidden = not conflicts
        el("conflicts-count").textContent = str(len(conflicts))
        items = []
        for c in conflicts:
            # The key as the conflict record gives it (an opaque label: never parsed here).
            ident = 'data-table="' + escape(c["table"]) + '" data-key="' + escape(c["key"]) + '"'
            label = escape(c["table"]) + " key " + escape(c["key"])
            kind = conflict_kind(c)
            items.append(
                '<li class="conflict" data-kind="' + kind + '" ' + ident + '>'
                '<p class="conflict-title">' + label + " <small>(" + KIND_WORDS[kind] +
                ")</small></p>"
                '<dl><dt>This device</dt><dd class="local">' +
                escape(row_text(c.get("local"), c.get("local_deleted"))) + "</dd>"
                '<dt>Server</dt><dd class="remote">' +
                escape(row_text(c.get("remote"), c.get("remote_deleted"))) + "</dd></dl>"
                '<button type="button" ' + ident + ' data-take="local" aria-label="Keep this '
                'device\'s version of ' + label + '">Take local</button> '
                '<button type="button" ' + ident + ' data-take="remote" aria-label="Take the '
                'server\'s version of ' + label + '">Take remote</button></li>')
        el("conflict-list").innerHTML = "".join(items)

    def render_rejections(self, rejections):
        rejections = from_js(rejections)
        el("rejections").hidden = not rejections
        el("rejections-count").textContent = str(len(rejections))
        el("rejection-list").innerHTML = "".join(rejection_item(r) for r in rejections)

    def on_rejection_click(self, event):
        data = event.target.dataset
        if not data.act:
            return
        event.target.disabled = True
        c = self.client
        call = (c.discardRejection(data.table, data.key) if data.act == "discard"
                else c.retryRejection(data.table, data.key))
        on_promise(call, lambda _r: self.refresh(), self.show_error)

    def render_stopped(self, stopped):
        """Tables a structural change stopped: what happened, and the explicit ways out
        (a sync never takes them by itself)."""
        el("stopped").hidden = not stopped
        el("stopped-list").innerHTML = "".join(stopped_item(s) for s in stopped)

    def on_stopped_click(self, event):
        data = event.target.dataset
        if not data.act:
            return
        table = data.table
        ask = STOPPED_CONFIRM.get(data.act)
        if ask and not window.confirm(ask.format(table=table, rows=data.rows or "")):
            return
        event.target.disabled = True
        c = self.client
        calls = {"redownload": lambda: c.redownload(table),
                 "reupload": lambda: c.reupload(table),
                 "drop": lambda: c.dropEverywhere(table),
                 "delete": lambda: c.confirmMassDelete(table)}
        on_promise(calls[data.act](), lambda _r: self.refresh(), self.show_error)

    def on_conflict_click(self, event):
        data = event.target.dataset
        if not data.take:
            return
        event.target.disabled = True
        on_promise(self.client.resolveConflict(data.table, data.key, data.take),
                   lambda _r: self.refresh(), self.show_error)


def table_state(t, counting=False):
    """One table's sync state in the Tables list (``t``: its ``syncTables()`` entry, with
    ``unsent`` from the latest count); ``counting``: its changes are being counted again
    (after a write), so not "synced" whatever an older count said."""
    if t.get("pending_conflicts"):
        n = t["pending_conflicts"]
        return str(n) + (" conflict" if n == 1 else " conflicts")
    if t.get("rejections"):
        n = t["rejections"]
        return str(n) + (" change" if n == 1 else " changes") + " rejected"
    if t.get("key_pending"):
        return KEY_OWED_STATE
    if not t.get("primary_key"):
        return "not synced (no primary key)"
    if t.get("held") is False:
        return NOT_HELD_STATE
    if t.get("error"):
        return failed_state(t["error"])
    if not t.get("synced"):
        return "not synced yet"
    if t.get("unsent"):
        return changes(t["unsent"]) + " not sent"
    if counting:
        return "counting changes not sent"
    if t.get("outbox_batches"):
        return "changes waiting to be sent"
    return "synced" + (" " + ago(t["synced_at"]) if t.get("synced_at") else "")


def rejection_item(r):
    """One rejected row: which, why, this device's version, and the two ways out."""
    ident = 'data-table="' + escape(r["table"]) + '" data-key="' + escape(r["key"]) + '"'
    label = escape(r["table"]) + " key " + escape(r["key"])
    change = "deleting it" if r.get("deleted") else "<code>" + escape(r.get("local") or "") + \
        "</code>"
    return ('<li class="rejection" data-reason="' + escape(r.get("reason") or "") + '" ' +
            ident + '><p><b>' + label + "</b>: " + escape(r.get("why") or "") + ".</p>"
            "<p>This device: " + change + "</p>"
            '<button type="button" ' + ident + ' data-act="discard" aria-label="Discard the '
            'change to ' + label + '">Discard change</button> '
            '<button type="button" ' + ident + ' data-act="retry" aria-label="Send ' + label +
            ' again">Retry</button></li>')


STOPPED_CONFIRM = {
    "drop": "Drop table {table} on this device AND on the server? Its rows are deleted "
            "everywhere; other devices keep their copies until they drop it.",
    "delete": "Delete {rows} rows of {table} as this device's change says? They are "
              "deleted on the other side too.",
}


def stopped_item(s):
    """One stopped table: why, and its buttons (``data-act`` says which call)."""
    table = escape(s["table"])
    ident = 'data-table="' + table + '"'

    def button(act, text, extra=""):
        return ('<button type="button" ' + ident + ' data-act="' + act + '"' + extra + ">" +
                text + "</button> ")

    if s.get("dropped_on") == "local":
        why = ("was dropped on this device since the last sync; the server keeps its copy "
               "and nothing was deleted.")
        acts = button("redownload", "Download it again") + button("drop", "Drop everywhere")
    elif s.get("dropped_on") == "remote":
        why = ("was dropped on the server since the last sync; this device keeps its copy "
               "and nothing was deleted.")
        acts = button("reupload", "Upload it again") + button("drop", "Drop everywhere")
    else:
        m = s.get("mass_delete") or {}
        rows, of = m.get("rows") or 0, m.get("of") or 0
        where = "on the server" if m.get("side") == "remote" else "on this device"
        why = ("would delete " + str(rows) + " of its " + count(of, "row") + " " + where +
               ", so it stopped before changing anything.")
        acts = button("delete", "Delete them", ' data-rows="' + str(rows) + '"')
        why += " Undo the deletion to keep them, or confirm it."
    return ('<li class="stopped" ' + ident + '><p><b>' + table + "</b> " + escape(why) +
            "</p>" + acts + "</li>")


KIND_WORDS = {
    "update/update": "changed on both sides",
    "delete/update": "deleted here, changed on the server",
    "update/delete": "changed here, deleted on the server",
    "insert/insert": "added on both sides",
}


def conflict_kind(c):
    """The worker's ``kind``: update/update, delete/update (deleted here), update/delete
    or insert/insert. A side's version may be absent (a Python None reaches JS as
    ``undefined``, which JSON drops), so every field is read with ``get``."""
    kind = c.get("kind")
    if kind in KIND_WORDS:
        return kind
    if c.get("local_deleted"):
        return "delete/update"
    return "update/delete" if c.get("remote_deleted") else "update/update"


def row_text(text, deleted=False):
    """A conflict version without the engine's bookkeeping fields (``__side``, ``__key``)."""
    if deleted or text is None:
        return "(deleted)"
    cut = text.find(", '__side'")
    return text[:cut] + "}" if cut > 0 and text.endswith("}") else text


def chart_svg(runs):
    """Bars of sync durations (ms) and a line of rows moved, oldest first, as inline SVG."""
    if not runs:
        return '<p class="muted">No syncs yet.</p>'
    width, height, pad = 320, 90, 14
    step = min((width - 2 * pad) / max(len(runs), 1), 28)
    max_ms = max([r.get("ms") or 0 for r in runs] + [1])
    moved = [(r.get("rows_pushed") or 0) + (r.get("rows_pulled") or 0) for r in runs]
    max_rows = max(moved + [1])
    parts, points = [], []
    for i, run in enumerate(runs):
        ms = run.get("ms") or 0
        h = max(1.0, (height - 2 * pad) * ms / max_ms)
        x = pad + i * step
        outcome = run.get("outcome") or "ok"
        tip = "{}: {} ms, {} rows pushed, {} pulled ({})".format(
            run.get("started_at") or "", int(ms), run.get("rows_pushed") or 0,
            run.get("rows_pulled") or 0, outcome)
        parts.append('<rect class="bar" data-outcome="' + escape(outcome) + '" x="{:.1f}" '
                     'y="{:.1f}" width="{:.1f}" height="{:.1f}"><title>{}</title></rect>'.format(
                         x + 1, height - pad - h, max(step - 2, 1), h, escape(tip)))
        points.append("{:.1f},{:.1f}".format(
            x + step / 2, height - pad - (height - 2 * pad) * moved[i] / max_rows))
    summary = "{} recent syncs; longest {} ms; most rows moved {}".format(
        len(runs), int(max_ms), max_rows if any(moved) else 0)
    return ('<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{s}">'
            '<text x="{p}" y="10" class="axis">max {ms} ms</text>'
            '<text x="{r}" y="10" class="axis rows" text-anchor="end">max {rows} rows</text>'
            '{bars}<polyline class="rows" points="{pts}"/></svg>').format(
        w=width, h=height, s=escape(summary), p=pad, r=width - pad, ms=int(max_ms),
        rows=max_rows if any(moved) else 0, bars="".join(parts), pts=" ".join(points))

