"""The demo page's UI, run by PyScript on a MicroPython main thread.

It only draws: the client (``window.ducksyncClient``, created by the page's module
script so both workers start before this interpreter boots) does all the work. The SQL
console is ``web/console.js`` (a JS module: its editor is CodeMirror). The sync
panel is ``ui_sync.py``, the backup buttons ``ui_backup.py``, the transport choice
``ui_remote.py``, sign-in ``ui_signin.py``; every panel that lists tables draws what
``ui_tables.py`` read once (fetched through the ``files`` config in index.html).
Values cross as JSON (``JSON.stringify`` -> ``json.loads``): plain data, no proxies.
"""

from pyscript import document, window
from pyscript.ffi import create_proxy

from ui_backup import BackupPanel
from ui_common import PLAIN_WORDS, el, from_js, online_words, sentence
from ui_remote import RemotePanel
from ui_schema import SchemaPanel
from ui_signin import SignInPanel
from ui_sync import SyncPanel
from ui_tables import PageTables

client = window.ducksyncClient  # None until someone signs in, on a server that asks (ui_signin)
signin_panel = SignInPanel(window.ducksyncSession, client)
if client:
    tables = PageTables(client)  # first: its reads go before the panels' own after a sync
    sync_panel = SyncPanel(client, tables)
    schema_panel = SchemaPanel(client, tables)
    backup_panel = BackupPanel(client, after_import=sync_panel.refresh)
    remote_panel = RemotePanel(client, tables, after_switch=sync_panel.refresh)


def render_status(_=None):
    status = from_js(client.status())
    for name in ("local", "remote"):
        worker = status[name]
        phase = worker.get("phase") or "booting"
        text = phase
        if phase == "booting" and worker.get("step"):
            text = "booting (" + worker["step"] + ")"
        elif phase == "failed":
            text = "failed: " + str(worker.get("reason") or "unknown reason")
        node = el("status-" + name)
        node.dataset.phase = phase
        node.title = worker.get("reason") or ""
        node.querySelector("b").textContent = text
    online = el("status-online")
    online.dataset.online = "true" if status["online"] else "false"
    online.textContent = online_words(status)
    render_tab(status.get("tab") or {})


def render_tab(tab):
    role = tab.get("role") or "pending"
    node = el("status-tab")
    node.dataset.role = role
    if role == "owner":
        text = "this tab owns the database"
    elif role == "follower":
        owner = tab.get("owner")
        text = ("open in another tab (owner: tab " + owner + "); requests go there") if owner \
            else "open in another tab; waiting for it"
    else:
        text = "starting"
    node.title = "this tab: " + str(tab.get("id") or "?")
    node.querySelector("b").textContent = text


def show_error(err):
    """The local worker failed: say so where the console shows its errors."""
    code = str(err.code) if err.code else "internal"
    lead = PLAIN_WORDS.get(code, "Something went wrong")
    message = lead + ": " + sentence(err.message)
    if err.hint:
        message += "\nWhat to do: " + sentence(err.hint)
    box = el("error")
    box.textContent = message
    box.hidden = False


def on_ready(_client):
    render_status()
    sync_panel.start()
    backup_panel.start()
    remote_panel.start()
    schema_panel.start()
    tables.refresh()
    window.ducksync = client
    document.body.dataset.ready = "true"
    window.performance.mark("ducksync:ready")


def on_failed(err):
    render_status()
    show_error(err)
    el("run").disabled = True
    document.body.dataset.ready = "failed"


if client:
    client.on("status", create_proxy(render_status))
    render_status()
    window.performance.mark("ducksync:ui-interactive")
    client.ready.then(create_proxy(on_ready), create_proxy(on_failed))
