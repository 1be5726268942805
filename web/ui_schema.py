"""The schema browser of the demo page (MicroPython): what this device and the server hold.

This device: every table of the local database (all schemas; the engine's own ``ducksync``
schema left out) with its columns and types, exact row count, primary key, sync state and
changes not sent yet. The server: its tables with exact row counts (``remoteTables()``).

Cheap by design: the local catalog is one statement (:data:`CATALOG_SQL`) and the row
counts one more (:func:`counts_sql`). ``ui_tables.PageTables`` reads them (and the sync
state, and the server's tables) once for every panel that lists tables, and says when;
this module defines those statements and draws.
"""

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
    plain_error,
    shown_key,
    stale_words,
)

ENGINE_SCHEMA = "ducksync"
CATALOG_SQL = (
    "SELECT t.schema_name, t.table_name, c.column_name, c.data_type, c.is_nullable, "
    "k.constraint_column_names AS primary_key "
    "FROM duckdb_tables() t JOIN duckdb_columns() c ON c.database_name = t.database_name "
    "AND c.schema_name = t.schema_name AND c.table_name = t.table_name "
    "LEFT JOIN (SELECT database_name, schema_name, table_name, constraint_column_names "
    "FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY') k "
    "ON k.database_name = t.database_name AND k.schema_name = t.schema_name "
    "AND k.table_name = t.table_name "
    "WHERE t.database_name = current_database() AND NOT t.internal "
    "AND t.schema_name <> '" + ENGINE_SCHEMA + "' "
    "ORDER BY t.schema_name, t.table_name, c.column_index")


def quote(name):
    return '"' + name.replace('"', '""') + '"'


def counts_sql(tables):
    """One statement, one row: ``count(*)`` of each ``(schema, table)``, in order."""
    return "SELECT " + ", ".join(
        "(SELECT count(*) FROM " + quote(s) + "." + quote(t) + ")::BIGINT" for s, t in tables)


def group_catalog(rows):
    """``[{schema, table, columns: [{name, type, nullable}], key}]`` from the catalog rows
    (each ``[schema, table, column, type, nullable, key]``), in order."""
    out = []
    for schema, table, column, kind, nullable, key in rows:
        if not out or out[-1]["schema"] != schema or out[-1]["table"] != table:
            out.append({"schema": schema, "table": table, "columns": [], "key": key or []})
        out[-1]["columns"].append({"name": column, "type": kind, "nullable": bool(nullable)})
    return out


def sync_words(table, synced, unsent, counting=False):
    """The sync state of one local table in words: only tables of ``main`` with a key sync.
    ``counting``: its unsent changes are being counted again (after a write): not yet
    "synced", whatever an older count said."""
    if table["schema"] != "main":
        return "not synced (only the main schema syncs)"
    if not table["key"]:
        return KEY_OWED_STATE if synced.get("key_pending") else "not synced (no primary key)"
    if synced.get("held") is False:
        return NOT_HELD_STATE
    if synced.get("pending_conflicts"):
        return count(synced["pending_conflicts"], "conflict") + " to resolve"
    if synced.get("error"):
        return failed_state(synced["error"])
    if not synced.get("synced"):
        return "not synced yet"
    if unsent:
        return count(unsent, "change") + " not sent"
    if counting:
        return "counting changes not sent"
    if synced.get("outbox_batches"):
        return "changes waiting to be sent"
    return "synced"


def local_html(tables, counts, synced, unsent, opened=(), syncing=False):
    """``opened``: ``schema.table`` names whose columns were shown (kept open on redraw);
    ``syncing``: a sync runs (an empty list says the server's tables are on their way)."""
    if not tables:
        return '<p class="muted">' + no_tables_words(syncing) + "</p>"
    items = []
    for i, t in enumerate(tables):
        name = t["table"] if t["schema"] == "main" else t["schema"] + "." + t["table"]
        info = synced.get(t["table"], {}) if t["schema"] == "main" else {}
        pending = unsent.get(t["table"]) if t["schema"] == "main" else None
        key = set(t["key"])
        owed = not t["key"] and bool(info.get("key_pending"))  # comes after its rows
        key_shown = info.get("primary_key") if owed else t["key"]
        columns = "".join(
            "<tr><th scope=\"row\">" + escape(c["name"]) + ("" if c["name"] not in key else
                                                         ' <span class="schema-pk">(key)</span>') +
            "</th><td>" + escape(c["type"]) + "</td><td>" +
            ("" if c["nullable"] else "NOT NULL") + "</td></tr>" for c in t["columns"])
        items.append(
            '<details class="schema-table" data-schema="' + escape(t["schema"]) +
            '" data-table="' + escape(t["table"]) + '" data-rows="' + str(counts[i]) +
            '" data-unsent="' + str(pending or 0) + '"' +
            (" open" if t["schema"] + "." + t["table"] in opened else "") +
            "><summary><b>" + escape(name) +
            "</b> <span class=\"schema-rows\">" + count(counts[i], "row") + "</span> · " +
            '<span class="schema-key">' +
            (("key " + escape(shown_key(key_shown, owed))) if key_shown else "no key") +
            "</span> · " +
            '<span class="schema-sync">' +
            escape(sync_words(t, info, pending, t["schema"] == "main" and pending is None
                              and t["table"] in unsent)) +
            "</span></summary><table><thead><tr><th scope=\"col\">column</th>"
            "<th scope=\"col\">type</th><th scope=\"col\"></th></tr></thead><tbody>" +
            columns + "</tbody></table></details>")
    return "".join(items)


def remote_html(reply):
    tables = reply.get("tables") or []
    if not tables:
        return '<p class="muted">The server has no tables yet.</p>'
    rows = []
    for t in tables:
        name = t["name"] if (t.get("schema") or "main") == "main" else t["schema"] + "." + \
            t["name"]
        n = t.get("rows")
        rows.append('<tr data-table="' + escape(t["name"]) + '"><th scope="row">' + escape(name) +
                    '</th><td class="num">' + ("—" if n is None else str(n)) + "</td></tr>")
    return ('<table id="schema-remote-tables"><thead><tr><th scope="col">table</th>'
            '<th scope="col">rows</th></tr></thead><tbody>' + "".join(rows) +
            "</tbody></table>")


class SchemaPanel:
    """Draws what :class:`ui_tables.PageTables` read (it reads nothing itself)."""

    def __init__(self, client, tables):
        self.tables = tables
        tables.add(self)
        client.on("restarted", create_proxy(self.on_restarted))
        el("schema-refresh").addEventListener("click", create_proxy(tables.refresh))

    def start(self):
        el("schema-refresh").disabled = False

    def on_restarted(self, event):
        reason = str(from_js(event).get("reason") or "unknown error")
        el("schema-note").textContent = ("DuckDB crashed (" + reason + ") and was restarted; "
                                         "the database was reopened and is read again.")
        self.tables.refresh_soon()

    # --- this device ----------------------------------------------------------------
    def draw_local(self, local):
        box = el("schema-local")
        shown = box.querySelectorAll("details[open]")
        opened = [shown.item(i).dataset.schema + "." + shown.item(i).dataset.table
                  for i in range(shown.length)]
        box.innerHTML = local_html(local["tables"], local["counts"], local["synced"],
                                   local["unsent"], opened, local["syncing"])
        note = el("schema-note")
        if not note.textContent.startswith("DuckDB crashed"):
            note.textContent = count(len(local["tables"]), "table") + " here."

    def read_failed(self, err):
        el("schema-note").textContent = "Could not read the tables: " + plain_error(
            {"code": str(err.code), "message": str(err.message), "hint": err.hint})

    # --- the server -----------------------------------------------------------------
    def draw_remote(self, listing, _subs, error):
        if listing is not None:
            el("schema-remote").innerHTML = ("" if error is None else (
                '<p class="muted" id="schema-remote-stale">' +
                escape(stale_words(listing, error)) + "</p>")) + remote_html(listing)
            return
        el("schema-remote").innerHTML = '<p class="muted">' + escape(
            "The server's tables are not available: " + plain_error(
                {"code": str(error.code), "message": str(error.message), "hint": error.hint})) + \
            "</p>"
