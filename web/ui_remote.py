"""The Remote section of the demo page (MicroPython): pick how this tab reaches the remote.

``proxy`` (our server) or ``motherduck`` (MotherDuck directly, with a token the user
pastes). The token is read from its password input once, cleared from it at once, and
handed to ``client.setTransport``; it is never stored, printed or kept in this module
(docs/transports.md). ``?service=<same-origin module>`` in the page URL is passed on as
the SQL service (the browser tests' loopback stand-in); the remote worker honours it on
a loopback origin only.

Below it, the server's tables with a "hold here" checkbox each (the device's
subscriptions, ``client.subscribe`` / ``client.unsubscribe``): unticking asks whether
to stop syncing it, then whether to delete the local copy too; the server keeps every
row either way.
"""

from pyscript import window
from pyscript.ffi import create_proxy

from ui_common import (
    el,
    escape,
    from_js,
    js_obj,
    lead_once,
    on_promise,
    plain_error,
    sentence,
    stale_words,
)

# Two questions, so that Cancel always means "change nothing": with one question (OK:
# delete the copy, Cancel: keep it), Cancel still stopped the table's sync.
STOP = ("Stop syncing {table} on this device?\n\nThe server keeps every row either way. "
        "Cancel: keep syncing it.")
DELETE_COPY = ("Also delete the copy of {table} on this device?\n\nOK: delete it here. "
               "Cancel: keep it here, no longer synced.")
REFUSED = ("MotherDuck refused the token: paste a fresh token from app.motherduck.com "
           "(Settings → Access Tokens), then Connect again.")
FIELDS = ("remote-transport", "remote-token", "remote-database", "remote-connect")


def transport_error(err):
    """A failed switch in plain words, with the next step; never the token."""
    if str(err.code) == "auth":
        return REFUSED
    text = str(err.message or "unknown error")
    if str(err.code) == "remote_unavailable":
        text = lead_once("Could not reach MotherDuck", text)
    text = sentence(text)
    if err.hint:
        text += " What to do: " + sentence(err.hint)
    return text


def hold_words(table, held, dropped):
    """What ticking or unticking ``table``'s "hold here" did, in words (the lists alone
    said nothing of the copy kept, nor that the server lost nothing)."""
    if held:
        return table + " is held on this device: it syncs from now on."
    if dropped:
        return (table + " is no longer synced here, and its copy on this device was "
                "deleted. The server keeps every row.")
    return (table + " is no longer synced here: its copy on this device is kept, and "
            "changes to it are not sent. The server keeps every row; tick it to sync "
            "it again.")


def wait_words(table, held, running):
    """Why a ticked box stays disabled: a hold is saved between two syncs, so a tick made
    while another table downloads (a new device's bootstrap: minutes) waits for it;
    ``running``: the table the sync is on ("" before it names one)."""
    what = "the sync of " + running if running else "the sync running now"
    return (("Holding " if held else "Not holding ") + table + " here waits for " + what +
            " to finish.")


class RemotePanel:
    def __init__(self, client, tables, after_switch):
        self.client = client
        self.tables = tables  # ui_tables.PageTables: reads the server's tables for us
        tables.add(self)
        self.after_switch = after_switch
        self.service = window.URLSearchParams.new(window.location.search).get("service")
        el("remote-transport").addEventListener("change", create_proxy(self.on_choice))
        el("remote-connect").addEventListener("click", create_proxy(self.connect))
        el("remote-token").addEventListener("keydown", create_proxy(self.on_key))
        el("remote-tables-body").addEventListener("change", create_proxy(self.on_hold))
        self.rules = False  # our server applies sync rules (GET /api/v1/sync/config)
        self.syncing = None  # the table a running sync is on ("" unnamed yet); None: none
        client.on("sync", create_proxy(self.on_sync))
        client.on("progress", create_proxy(self.on_progress))
        self.on_choice()

    def start(self):
        self.busy(False)
        self.on_sync(self.client.status().sync)  # a run already going (the first sync)
        # Sync rules without sign-in (open loopback dev mode) bypass the same way: ask.
        on_promise(window.fetch("/api/v1/sync/config", js_obj({"cache": "no-store"})),
                   self.got_config_response, lambda _e: None)

    def got_config_response(self, response):
        if response.ok:
            on_promise(response.json(), self.got_config, lambda _e: None)

    def got_config(self, config):
        self.rules = bool(from_js(config).get("rules"))
        self.on_choice()

    # --- which server tables this device holds (subscriptions) ----------------------
    def on_sync(self, state):
        running = bool(from_js(state).get("running"))
        self.syncing = (self.syncing or "") if running else None

    def on_progress(self, p):
        """A sync's progress says it runs, even one that began before this page listened
        (a new device's first sync starts while the page loads)."""
        p = from_js(p)
        if p.get("task") != "backup":
            self.syncing = p.get("table") or ""

    def draw_remote(self, listing, subs, error):
        if listing is None or subs is None:  # nothing to list: why
            el("remote-tables-body").innerHTML = '<tr><td colspan="3">' + escape(plain_error(
                {"code": str(error.code), "message": str(error.message),
                 "hint": error.hint})) + "</td></tr>"
            return
        held, not_held = set(subs.get("held") or []), set(subs.get("not_held") or [])
        rows = []
        for t in listing.get("tables") or []:
            name = t.get("name") or ""
            on = name in held or (subs.get("all") and name not in not_held)
            rows.append('<tr data-table="' + escape(name) + '"><td><input type="checkbox" '
                        'data-table="' + escape(name) + '" aria-label="hold ' + escape(name) +
                        ' on this device"' + (" checked" if on else "") + '></td><th scope="row">'
                        + escape(name) + '</th><td class="num">' +
                        ("" if t.get("rows") is None else str(t["rows"])) + "</td></tr>")
        if error is not None:  # the server's tables as last read
            rows.append('<tr class="stale"><td colspan="3" class="muted">' +
                        escape(stale_words(listing, error)) + "</td></tr>")
        el("remote-tables-body").innerHTML = "".join(rows) or \
            '<tr><td colspan="3">The server has no tables yet.</td></tr>'

    def on_hold(self, event):
        box = event.target
        table = box.dataset.table
        if not table:
            return
        drop = False
        if not box.checked:
            if not window.confirm(STOP.format(table=table)):
                box.checked = True  # Cancel: nothing changes
                return
            drop = window.confirm(DELETE_COPY.format(table=table))
        box.disabled = True
        self.tables.ticking()
        # unholding the table the run is on stops that run at once: no wait to explain
        if self.syncing is not None and (box.checked or self.syncing != table):
            box.title = wait_words(table, box.checked, self.syncing)
            self.say(box.title, "running")
        if box.checked:
            call = self.client.subscribe(table)
        else:
            call = self.client.unsubscribe(table, js_obj({"keepLocal": not drop}))

        def saved(subs):
            box.title = ""
            self.held_changed(subs, hold_words(table, box.checked, drop))

        def failed(err):
            box.title = ""
            self.hold_failed(err)

        on_promise(call, saved, failed)

    def held_changed(self, subs, words):
        self.say(words, "done")  # what the tick did, and what it did not (the server)
        self.tables.took_choices(subs)  # the choices now: the box stays as ticked
        self.after_switch()  # every tables list (this one too) and the sync panel

    def hold_failed(self, err):
        self.say(plain_error({"code": str(err.code), "message": str(err.message),
                              "hint": err.hint}), "failed")
        self.tables.tick_failed()  # the box back as the choices stand

    def on_choice(self, _event=None):
        el("remote-md").hidden = el("remote-transport").value != "motherduck"
        # Sign-in and sync rules belong to our server: say so before switching.
        state = from_js(window.ducksyncSession.state()) if window.ducksyncSession else {}
        el("remote-single-user").hidden = not (
            self.rules or state.get("signInRequired") or state.get("rules"))

    def on_key(self, event):
        if event.key == "Enter":
            event.preventDefault()
            self.connect()

    def busy(self, on):
        for name in FIELDS:
            el(name).disabled = on

    def say(self, text, state):
        box = el("remote-result")
        box.textContent = text
        box.dataset.state = state

    def connect(self, _event=None):
        transport = el("remote-transport").value
        options = {"transport": transport}
        if transport == "motherduck":
            token_input = el("remote-token")
            if not token_input.value.strip():
                self.say("Paste a MotherDuck token first (app.motherduck.com → Settings → "
                         "Access Tokens).", "failed")
                return
            database = el("remote-database").value.strip()
            options = {"transport": transport, "token": token_input.value.strip(),
                       "database": database or None, "service": self.service or None}
            token_input.value = ""  # used once: the worker holds it from here on
            self.say("Connecting to MotherDuck…", "running")
        else:
            self.say("Switching to our server…", "running")
        self.busy(True)
        on_promise(self.client.setTransport(js_obj(options)), self.switched, self.failed)

    def switched(self, reply):
        reply = from_js(reply)
        self.busy(False)
        if reply.get("transport") == "motherduck":
            self.say("Connected to MotherDuck (" + str(reply.get("remote") or "md:") +
                     "): syncs go there directly.", "done")
        else:
            self.say("Using our server (proxy).", "done")
        self.after_switch()  # every tables list and the sync panel

    def failed(self, err):
        self.busy(False)
        self.say(transport_error(err) + " The previous transport is still in use.", "failed")
