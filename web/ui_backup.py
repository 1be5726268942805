"""Backup buttons of the demo page (MicroPython): Download SQL / CSV, Upload a backup.

``ducksync.export()`` resolves to a Blob that is saved through an object URL;
an uploaded file goes to ``ducksync.import()`` as is (the client transfers its bytes).
"""

from pyscript import document, window
from pyscript.ffi import create_proxy

from ui_common import count, el, from_js, js_obj, on_promise, plain_error

SUFFIX = {"sql": ".sql", "csv": ".zip"}


def stamp():
    return str(window.Date.new().toISOString())[:19].replace(":", "-")


class BackupPanel:
    def __init__(self, client, after_import):
        self.client = client
        self.after_import = after_import
        client.on("progress", create_proxy(self.on_progress))
        el("download-sql").addEventListener("click", create_proxy(lambda _e: self.download("sql")))
        el("download-csv").addEventListener("click", create_proxy(lambda _e: self.download("csv")))
        el("backup-file").addEventListener("change", create_proxy(self.upload))

    def start(self):
        for name in ("download-sql", "download-csv", "backup-file"):
            el(name).disabled = False

    def busy(self, on, text):
        for name in ("download-sql", "download-csv", "backup-file"):
            el(name).disabled = on
        box = el("backup-result")
        box.dataset.state = "running" if on else box.dataset.state
        box.textContent = text

    def done(self, text, state="done"):
        self.busy(False, text)
        el("backup-result").dataset.state = state

    def on_progress(self, p):
        p = from_js(p)
        if p.get("task") != "backup":
            return
        total = p.get("rows_total")
        done = p.get("rows_done") or 0
        rows = str(done) + " of " + count(total, "row") if total and total > 0 \
            else count(done, "row")
        verb = "Importing" if p.get("phase") == "import" else "Exporting"
        table = p.get("table")
        el("backup-result").textContent = verb + (" " + table if table else "") + ": " + rows + \
            "…"

    def download(self, fmt):
        self.busy(True, "Exporting…")

        def save(blob):
            url = window.URL.createObjectURL(blob)
            link = document.createElement("a")
            link.href = url
            link.download = "ducksync-" + stamp() + SUFFIX[fmt]
            document.body.appendChild(link)
            link.click()
            link.remove()
            window.setTimeout(create_proxy(lambda: window.URL.revokeObjectURL(url)), 10000)
            self.done("Exported " + count(int(blob.size), "byte") + " as " + link.download + ".")

        on_promise(self.client.export(js_obj({"format": fmt})), save, self.failed)

    def upload(self, event):
        files = event.target.files
        if not files.length:
            return
        file = files.item(0)
        replace = bool(el("backup-replace").checked)
        self.busy(True, "Importing " + str(file.name) + "…")

        def imported(result):
            r = from_js(result)
            self.done("Imported " + count(r["rows"], "row") + " into " +
                      count(len(r["tables"]), "table") + " (" + ", ".join(r["tables"]) +
                      ") from " + str(file.name) + ".")
            el("backup-file").value = ""
            self.after_import()

        on_promise(getattr(self.client, "import")(file, js_obj({"replace": replace})), imported,
                   self.failed)

    def failed(self, err):
        el("backup-file").value = ""
        self.done(plain_error({"code": str(err.code), "message": str(err.message),
                               "hint": err.hint}), state="failed")
