"""The demo page's UI, run by PyScript on a MicroPython main thread.

It only draws: the client (``window.ducksyncClient``, created by the page's module
script so both workers start before this interpreter boots) does all the work. The sync
panel is ``ui_sync.py``, the backup buttons ``ui_backup.py``, the transport choice
``ui_remote.py``, sign-in ``ui_signin.py`` (fetched through the ``files`` config in index.html).
Values cross as JSON (``JSON.stringify`` -> ``json.loads``): plain data, no proxies.
"""

from pyscript import document, window
from pyscript.ffi import create_proxy

from ui_backup import BackupPanel
from ui_common import PLAIN_WORDS, count, el, escape, from_js, sentence
from ui_remote import RemotePanel
from ui_schema import SchemaPanel
from ui_signin import SignInPanel
from ui_sync import SyncPanel

client = window.ducksyncClient  # None until someone signs in, on a server that asks (ui_signin)
MAX_ROWS_SHOWN = 500
signin_panel = SignInPanel(window.ducksyncSession, client)
if client:
    sync_panel = SyncPanel(client)
    schema_panel = SchemaPanel(client)
    backup_panel = BackupPanel(client, after_import=lambda: (sync_panel.refresh(),
                                                             schema_panel.refresh()))
    remote_panel = RemotePanel(client, after_switch=sync_panel.refresh)


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
    online.textContent = "online" if status["online"] else "offline"
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
    code = str(err.code) if err.code else "internal"
    lead = PLAIN_WORDS.get(code, "Something went wrong")
    message = lead + ": " + sentence(err.message)
    if err.hint:
        message += "\nWhat to do: " + sentence(err.hint)
    box = el("error")
    box.textContent = message
    box.hidden = False
    # An old result beside a new error would look like the answer to the failed SQL.
    el("results").innerHTML = ""
    el("summary").textContent = ""
    el("run").disabled = False


def show_result(result, started):
    columns = from_js(result.columns)
    rows = from_js(result.rows)
    head = "".join("<th>" + escape(c["name"]) + "<small>" + escape(c["type"]) + "</small></th>"
                   for c in columns)
    body = "".join("<tr>" + "".join("<td>" + escape(v) + "</td>" for v in row) + "</tr>"
                   for row in rows[:MAX_ROWS_SHOWN])
    el("results").innerHTML = "<table><thead><tr>" + head + "</tr></thead><tbody>" + body + \
        "</tbody></table>"
    ms = window.performance.now() - started
    shown = "" if len(rows) <= MAX_ROWS_SHOWN else " (first " + str(MAX_ROWS_SHOWN) + " shown)"
    el("summary").textContent = count(len(rows), "row") + shown + " in " + \
        str(int(ms)) + " ms"
    el("run").disabled = False
    window.performance.mark("ducksync:query-result")


def run(_event=None):
    sql = el("sql").value
    if not sql.strip():
        return
    el("run").disabled = True
    el("error").hidden = True
    started = window.performance.now()
    client.queryTable(sql).then(create_proxy(lambda r: show_result(r, started)),
                                create_proxy(show_error))


def on_key(event):
    if (event.ctrlKey or event.metaKey) and event.key == "Enter":
        event.preventDefault()
        run()


def on_ready(_client):
    render_status()
    el("run").disabled = False
    sync_panel.start()
    backup_panel.start()
    remote_panel.start()
    schema_panel.start()
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
    el("run").addEventListener("click", create_proxy(run))
    el("sql").addEventListener("keydown", create_proxy(on_key))
    render_status()
    window.performance.mark("ducksync:ui-interactive")
    client.ready.then(create_proxy(on_ready), create_proxy(on_failed))
