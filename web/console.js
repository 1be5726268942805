// The demo page's SQL console (bundled to /dist/console.js, precached like every dist file):
// a CodeMirror 6 editor with DuckDB's SQL highlighted and tables/columns completed, a
// virtualised grid that fetches pages of the result from the local worker, copy/download,
// Cancel, and the query history kept in the local database. Values arrive as DuckDB's
// own text (ducksync.worker.console_service); this module only lays them out.
//
//   Ctrl/Cmd-Enter        the selection, else the statement under the cursor
//   Shift-Ctrl/Cmd-Enter  everything (the Run button: the selection, else everything)
import { EditorView, basicSetup } from "codemirror";
import { keymap } from "@codemirror/view";
import { Compartment, Prec } from "@codemirror/state";
import { sql, SQLDialect, PostgreSQL } from "@codemirror/lang-sql";
import { Grid, PAGE_ROWS } from "./console_grid.js";

const SAMPLE = "SELECT 42 AS answer, 'duck' AS animal, version() AS duckdb;";
const DUCKDB = SQLDialect.define({
  ...PostgreSQL.spec,
  keywords: `${PostgreSQL.spec.keywords} pivot unpivot describe summarize qualify exclude replace
    columns struct map union list install load attach detach pragma checkpoint positional asof
    anti semi sample using macro`.replace(/\s+/g, " "),
  types: `${PostgreSQL.spec.types} tinyint utinyint usmallint uinteger ubigint hugeint uhugeint
    varint bignum blob bit uuid interval timestamptz timetz enum struct map union list`.replace(/\s+/g, " "),
  doubleDollarQuotedStrings: true,
});

const COPY_MAX_ROWS = 100_000; // the clipboard is for a look elsewhere; downloads take all
const $ = (id) => document.getElementById(id);
const plural = (n, one, many = `${one}s`) => `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
const DONE_VERBS = { insert: "inserted", update: "updated", delete: "deleted", copy: "copied",
                     merge: "merged" };
// Statements that answer with nothing to show (DuckDB-WASM gives them an empty result).
const NO_RESULT = new Set(["create", "drop", "alter", "set", "reset", "attach", "detach", "use",
  "begin", "start", "commit", "end", "rollback", "abort", "checkpoint", "install", "load", "vacuum",
  "analyze", "comment", "export", "import", "prepare", "deallocate", "truncate"]);

class Console {
  constructor(client) {
    this.client = client;
    this.result = null; // the last run's reply
    this.running = false;
    this.schema = new Compartment();
    this.editor = new EditorView({
      parent: $("console-editor"),
      doc: localStorage.getItem("ducksync:console") ?? SAMPLE,
      extensions: [
        Prec.highest(keymap.of([
          { key: "Mod-Enter", run: () => { this.runCurrent(); return true; } },
          { key: "Shift-Mod-Enter", run: () => { this.runAll(); return true; } },
        ])),
        basicSetup,
        this.schema.of(sql({ dialect: DUCKDB, upperCaseKeywords: true })),
        EditorView.updateListener.of((u) => { if (u.docChanged) this.#saveDraft(); }),
        EditorView.contentAttributes.of({ "aria-label": "SQL (Ctrl+Enter runs the statement under the cursor)" }),
      ],
    });
    this.grid = new Grid($("results"), (offset, limit) => this.client.consolePage(this.result.result, offset, limit));
    $("run").addEventListener("click", () => this.runAll());
    $("run-statement").addEventListener("click", () => this.runCurrent());
    $("cancel").addEventListener("click", () => this.cancel());
    for (const format of ["tsv", "csv", "markdown"]) {
      $(`copy-${format}`).addEventListener("click", () => this.copy(format));
    }
    $("download-result-csv").addEventListener("click", () => this.download("csv"));
    $("download-result-arrow").addEventListener("click", () => this.download("arrow"));
    $("history-search").addEventListener("input", () => this.refreshHistory());
  }

  start() {
    for (const id of ["run", "run-statement"]) $(id).disabled = false;
    this.refreshSchema();
    this.refreshHistory();
  }

  #saveDraft() {
    clearTimeout(this.draftTimer);
    this.draftTimer = setTimeout(() => localStorage.setItem("ducksync:console", this.text()), 300);
  }

  text() {
    return this.editor.state.doc.toString();
  }

  /** Replace the editor's text (tests, history): `cursor` places the caret. */
  setText(text, cursor = text.length) {
    this.editor.dispatch({ changes: { from: 0, to: this.editor.state.doc.length, insert: text },
                           selection: { anchor: Math.min(cursor, text.length) } });
  }

  runAll() {
    const { from, to } = this.editor.state.selection.main;
    return from !== to ? this.run(this.text().slice(from, to)) : this.run(this.text());
  }

  runCurrent() {
    const { from, to, head } = this.editor.state.selection.main;
    return from !== to ? this.run(this.text().slice(from, to)) : this.run(this.text(), head);
  }

  async run(sqlText, cursor = null) {
    if (this.running || !sqlText.trim()) return;
    this.#busy(true);
    const started = performance.now();
    try {
      const reply = await this.client.consoleRun(sqlText, { cursor, pageRows: PAGE_ROWS });
      this.show(reply, performance.now() - started);
    } catch (err) {
      this.showError(err);
    } finally {
      this.#busy(false);
      this.refreshHistory();
      if (!this.result || this.result.kind === "raw") this.refreshSchema(); // DDL may add tables
    }
  }

  #busy(on) {
    this.running = on;
    $("run").disabled = on;
    $("run-statement").disabled = on;
    $("cancel").hidden = !on;
    $("console").dataset.state = on ? "running" : "idle";
    if (on) {
      $("error").hidden = true;
      $("summary").textContent = "Running…";
    }
  }

  async cancel() {
    $("summary").textContent = "Cancelling…";
    await this.client.consoleCancel();
  }

  show(reply, elapsed) {
    this.result = reply;
    const ms = `${Math.round(reply.ms ?? elapsed).toLocaleString("en-US")} ms`;
    const single = reply.columns.length === 1 ? reply.columns[0].name : null;
    let summary;
    if (reply.kind === "raw" && reply.rows.length === 0
        && (single === "Success" || NO_RESULT.has(reply.statement))) {
      summary = `Done in ${ms}.`; // DDL: no grid, no "0 rows"
      this.grid.clear();
    } else if (reply.kind === "raw" && single === "Count" && DONE_VERBS[reply.statement]) {
      const n = Number(reply.rows[0]?.[0] ?? 0);
      summary = `${plural(n, "row")} ${DONE_VERBS[reply.statement]} in ${ms}.`;
      this.grid.clear();
    } else {
      summary = `${plural(reply.total, "row")} in ${ms}.`;
      this.grid.show(reply);
    }
    $("summary").textContent = summary;
    $("result-actions").hidden = !this.grid.columns.length;
    $("console").dataset.result = reply.kind;
    performance.mark("ducksync:query-result");
    // Other panels (tables, schema) refresh on this: DDL/DML come back as kind "raw".
    window.dispatchEvent(new CustomEvent("ducksync:console-ran",
      { detail: { kind: reply.kind, statement: reply.statement ?? null } }));
  }

  showError(err) {
    const cancelled = err?.code === "cancelled";
    const box = $("error");
    box.dataset.kind = cancelled ? "cancelled" : "error";
    box.textContent = cancelled ? "Cancelled. The query was stopped; statements before it had run."
      : `DuckDB could not run this SQL. ${err?.message ?? err}${err?.hint ? `\nWhat to do: ${err.hint}.` : ""}`;
    box.hidden = false;
    $("summary").textContent = "";
    this.grid.clear();
    $("result-actions").hidden = true;
    this.result = null;
  }

  /** The result's rows as DuckDB's text, at most `limit` (one request to the worker). */
  async allRows(limit = Infinity) {
    const r = this.result;
    if (r.kind === "raw") return r.rows.map((row) => row.map((v) => this.grid.text(v)));
    return this.client.consolePage(r.result, 0, Math.max(1, Math.min(r.total, limit)));
  }

  async copy(format) {
    const rows = await this.allRows(COPY_MAX_ROWS);
    const names = this.grid.columns.map((c) => c.name);
    const text = formatRows(format, names, rows);
    await navigator.clipboard.writeText(text);
    $("summary").dataset.copied = format;
    const total = this.result.total ?? rows.length;
    $("copy-status").textContent = rows.length < total
      ? `Copied the first ${plural(rows.length, "row")} of ${total.toLocaleString("en-US")} as ` +
        `${format.toUpperCase()}; Download CSV has them all.`
      : `Copied ${plural(rows.length, "row")} as ${format.toUpperCase()}.`;
  }

  async download(format) {
    const r = this.result;
    let blob;
    if (r.kind === "table") blob = await this.client.consoleExport(r.result, format);
    else if (format === "csv") {
      blob = new Blob([formatRows("csv", this.grid.columns.map((c) => c.name), await this.allRows())]);
    }
    else blob = new Blob([r.ipc]);
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `result.${format}`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }

  async refreshSchema() {
    try {
      const rows = await this.client.query(
        "SELECT schema_name AS s, table_name AS t, list(column_name ORDER BY column_index) AS c " +
        "FROM duckdb_columns() WHERE NOT internal AND schema_name <> 'ducksync' " +
        "AND database_name = current_database() GROUP BY ALL");
      const schema = {};
      for (const { s, t, c } of rows) schema[s === "main" ? t : `${s}.${t}`] = c;
      this.editor.dispatch({ effects: this.schema.reconfigure(
        sql({ dialect: DUCKDB, upperCaseKeywords: true, schema })) });
      $("console").dataset.completion = String(Object.keys(schema).length);
    } catch (err) {
      console.warn("[ducksync console] table names for completion:", err);
    }
  }

  async refreshHistory() {
    const search = $("history-search").value;
    const seq = (this.historySeq = (this.historySeq ?? 0) + 1);
    let entries;
    try {
      entries = await this.client.consoleHistory({ search, limit: 50 });
    } catch (err) {
      console.warn("[ducksync console] history:", err);
      return;
    }
    if (seq !== this.historySeq) return; // a newer search answered first
    const list = $("history-list");
    list.replaceChildren(...entries.map((e) => this.#historyItem(e)));
    if (!entries.length) list.textContent = search ? "No past query matches." : "No queries yet.";
  }

  #historyItem(entry) {
    const li = document.createElement("li");
    li.dataset.id = entry.id;
    const code = document.createElement("code");
    code.textContent = entry.sql;
    code.title = "Put this query in the editor";
    code.addEventListener("click", () => this.setText(entry.sql));
    const meta = document.createElement("small");
    const when = new Date(Number(entry.ran_at_ms)).toLocaleString();
    const cancelled = entry.error?.startsWith("cancelled");
    meta.textContent = `${when} · ${cancelled ? "cancelled" : entry.error ? "failed"
      : entry.rows == null ? "done" : plural(Number(entry.rows), "row")}`;
    if (entry.error) meta.title = entry.error;
    const again = document.createElement("button");
    again.type = "button";
    again.textContent = "Run again";
    again.addEventListener("click", () => { this.setText(entry.sql); this.run(entry.sql); });
    li.append(code, meta, again);
    if (entry.error) li.dataset.failed = "true";
    return li;
  }
}

/** Rows of text (or null) as TSV, CSV (RFC 4180) or a Markdown table; NULL as DuckDB prints it. */
export function formatRows(format, names, rows) {
  if (format === "markdown") {
    const cell = (v) => (v == null ? "NULL" : String(v)).replaceAll("|", "\\|").replaceAll("\n", " ");
    return [`| ${names.map(cell).join(" | ")} |`, `|${names.map(() => "---").join("|")}|`,
            ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`)].join("\n") + "\n";
  }
  if (format === "csv") {
    const cell = (v) => (v == null ? "" : /[",\n\r]/.test(v) ? `"${String(v).replaceAll('"', '""')}"` : String(v));
    return [names, ...rows].map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
  }
  const cell = (v) => (v == null ? "NULL" : String(v).replace(/[\t\n\r]/g, " "));
  return [names, ...rows].map((r) => r.map(cell).join("\t")).join("\n") + "\n";
}

/** Build the console once the client is ready (index.html's module script made the client). */
export function startConsole(client) {
  const ui = new Console(client);
  window.ducksyncConsole = ui;
  client.ready.then(() => ui.start(), () => {});
  return ui;
}

if (window.ducksyncClient) startConsole(window.ducksyncClient);
