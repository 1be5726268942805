"""The sync panel of the demo page (MicroPython): badge, Sync/Cancel, progress bar, chart of
recent syncs, tables list and conflicts view.

It only draws what the client reports (``status().sync``, events ``sync``, ``progress``,
``conflict``) and asks it for lists (``syncTables``, ``syncLog``, ``conflicts``); every list
is re-read after each sync. Values cross as JSON, like the rest of the UI.
"""

from pyscript import window
from pyscript.ffi import create_proxy

from ui_common import el, escape, from_js, on_promise, plain_error

CHART_RUNS = 20
PHASE_WORDS = {
    "idle": "in sync",
    "syncing": "syncing",
    "offline": "offline",
    "error": "sync failed",
    "conflict": "conflicts to resolve",
}


def _ms(stamp):
    """Epoch ms of the worker's UTC stamp ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return window.Date.parse(stamp.replace(" ", "T")[:23] + "Z")


def ago(stamp):
    seconds = int((window.Date.now() - _ms(stamp)) / 1000)
    if seconds < 5:
        return "just now"
    if seconds < 90:
        return str(seconds) + " s ago"
    if seconds < 5400:
        return str(seconds // 60) + " min ago"
    return str(seconds // 3600) + " h ago"


def local_time(stamp):
    return window.Date.new(_ms(stamp)).toLocaleTimeString()


def size(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return (str(int(n)) if unit == "B" else "{:.1f}".format(n)) + " " + unit
        n = n / 1024
    return str(n)


class SyncPanel:
    def __init__(self, client):
        self.client = client
        self.state = {}
        self.running = False
        client.on("sync", create_proxy(self.on_sync))
        client.on("progress", create_proxy(self.on_progress))
        client.on("conflict", create_proxy(lambda _p: self.refresh_conflicts()))
        el("sync-now").addEventListener("click", create_proxy(self.sync_now))
        el("sync-cancel").addEventListener("click", create_proxy(self.cancel))
        el("conflict-list").addEventListener("click", create_proxy(self.on_conflict_click))

    def start(self):
        el("sync-now").disabled = False
        self.render(from_js(self.client.status())["sync"])
        self.refresh()

    # --- status ---------------------------------------------------------------------
    def on_sync(self, state):
        state = from_js(state)
        was_running = self.running
        self.render(state)
        if was_running and not state.get("running"):
            self.refresh()  # a run ended: tables, chart and conflicts changed

    def render(self, state):
        self.state = state
        phase = state.get("phase") or "idle"
        self.running = bool(state.get("running"))
        badge = el("status-sync")
        badge.dataset.phase = phase
        badge.querySelector("b").textContent = PHASE_WORDS.get(phase, phase)
        el("sync-detail").textContent = self.detail(state)
        el("sync-now").disabled = self.running
        el("sync-cancel").hidden = not self.running
        if not self.running:
            el("sync-progress").hidden = True

    def detail(self, state):
        phase = state.get("phase")
        last, error = state.get("last_sync"), state.get("last_error")
        parts = []
        if phase == "syncing":
            progress = state.get("progress") or {}
            parts.append("syncing " + (progress.get("table") or "") + "…")
        elif phase == "conflict":
            n = state.get("pending_conflicts") or 0
            parts.append(str(n) + (" row was" if n == 1 else " rows were") +
                         " changed on both sides: choose a version below.")
        elif phase == "offline":
            parts.append("No connection to the server: changes are kept here and sent "
                         "when it is back.")
        if error and phase in ("error", "offline"):
            parts.append("Last sync failed: " + plain_error(error))
        if last:
            parts.append("Last synced at " + local_time(last) + " (" + ago(last) + ").")
        elif phase == "idle":
            parts.append("Never synced yet.")
        return " ".join(parts)

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
        el("sync-progress-label").textContent = "{}: {} of {} rows, {} of {}".format(
            p.get("table") or "sync", done, total, size(p.get("bytes_done") or 0),
            size(p.get("bytes_total") or 0))

    # --- actions --------------------------------------------------------------------
    def sync_now(self, _event=None):
        el("sync-now").disabled = True
        el("sync-error").hidden = True
        on_promise(self.client.sync(), lambda _r: self.refresh(), self.show_error)

    def cancel(self, _event=None):
        on_promise(self.client.cancelSync(), lambda _r: None, self.show_error)

    def show_error(self, err):
        box = el("sync-error")
        if str(err.code) == "cancelled":
            box.textContent = "Sync cancelled. The next sync picks up where it stopped."
        else:
            box.textContent = "Sync failed: " + plain_error({"message": str(err.message),
                                                            "code": str(err.code),
                                                            "hint": err.hint})
        box.hidden = False
        el("sync-now").disabled = False

    # --- lists ----------------------------------------------------------------------
    def refresh(self):
        on_promise(self.client.syncTables(), self.render_tables, self.show_error)
        on_promise(self.client.syncLog(CHART_RUNS), self.render_chart, self.show_error)
        self.refresh_conflicts()

    def refresh_conflicts(self):
        on_promise(self.client.conflicts(), self.render_conflicts, self.show_error)

    def render_tables(self, tables):
        tables = from_js(tables)
        rows = []
        for t in tables:
            if t.get("pending_conflicts"):
                n = t["pending_conflicts"]
                state = str(n) + (" conflict" if n == 1 else " conflicts")
            elif not t.get("primary_key"):
                state = "not synced (no primary key)"
            elif not t.get("synced"):
                state = "not synced yet"
            elif t.get("outbox_batches"):
                state = "changes waiting to be sent"
            else:
                state = "synced" + (" " + ago(t["synced_at"]) if t.get("synced_at") else "")
            rows.append('<tr data-table="' + escape(t["table"]) + '"><th scope="row">' +
                        escape(t["table"]) + '</th><td class="num">' + str(t["rows"]) +
                        "</td><td>" + escape(", ".join(t.get("primary_key") or [])) +
                        "</td><td>" + escape(state) + "</td></tr>")
        el("sync-tables-body").innerHTML = "".join(rows) or \
            '<tr><td colspan="4">No tables yet: create one in the console below.</td></tr>'

    def render_chart(self, runs):
        el("sync-chart").innerHTML = chart_svg(list(reversed(from_js(runs))))

    def render_conflicts(self, conflicts):
        conflicts = from_js(conflicts)
        section = el("conflicts")
        section.hidden = not conflicts
        el("conflicts-count").textContent = str(len(conflicts))
        items = []
        for c in conflicts:
            ident = 'data-table="' + escape(c["table"]) + '" data-key="' + escape(c["key"]) + '"'
            label = escape(c["table"]) + " key " + escape(c["key"])
            items.append(
                '<li class="conflict" ' + ident + '><p class="conflict-title">' + label + "</p>"
                '<dl><dt>This device</dt><dd class="local">' +
                escape(row_text(c["local"])) + "</dd>"
                '<dt>Server</dt><dd class="remote">' +
                escape(row_text(c["remote"])) + "</dd></dl>"
                '<button type="button" ' + ident + ' data-take="local" aria-label="Keep this '
                'device\'s version of ' + label + '">Take local</button> '
                '<button type="button" ' + ident + ' data-take="remote" aria-label="Take the '
                'server\'s version of ' + label + '">Take remote</button></li>')
        el("conflict-list").innerHTML = "".join(items)

    def on_conflict_click(self, event):
        data = event.target.dataset
        if not data.take:
            return
        event.target.disabled = True
        on_promise(self.client.resolveConflict(data.table, data.key, data.take),
                   lambda _r: self.refresh(), self.show_error)


def row_text(text):
    """A conflict version without the engine's bookkeeping fields (``__side``, ``__key``)."""
    if text is None:
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

