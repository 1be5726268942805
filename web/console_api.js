// The SQL console's calls, installed on Client by web/ducksync.js (the page's console,
// web/console.js, uses only these). The work runs in the local worker on a DuckDB
// connection of its own (ducksync.worker.console_service): statements are interruptible
// and do not hold up the page's other queries or the sync; the last statement's rows stay
// in the worker and come out one page at a time, as DuckDB's own text.
import { tableFromIPC } from "apache-arrow";
import { REQUEST } from "@ducksync/protocol";
import { arrowToRows, columnsOf } from "./rows.js";

const pageRows = (ipc) => arrowToRows(tableFromIPC(ipc), "arrays");

const methods = {
  /**
   * Run console SQL: every statement of `sql`, or with `cursor` (an offset in `sql`) only
   * the statement under it. The last statement's result:
   *   {kind: "table", result, columns: [{name, type}], total, rows, ms, statements, span}
   *     (`rows`: the first `pageRows` rows, each value DuckDB's text or null; types are
   *     DuckDB's names), or
   *   {kind: "raw", statement, columns, rows, ipc, ms}: DDL/DML/EXPLAIN... as they answer
   *     (`statement`: its first keyword, lower case).
   * Rejects with code "cancelled" after {@link consoleCancel}.
   */
  async consoleRun(sql, { cursor = null, pageRows: rows = 200 } = {}) {
    const reply = await this.local.request(REQUEST.CONSOLE_RUN, { sql, cursor, page_rows: rows });
    if (reply.kind === "table") return { ...reply, rows: pageRows(reply.ipc), ipc: undefined };
    const table = tableFromIPC(reply.ipc);
    return { ...reply, columns: columnsOf(table), rows: arrowToRows(table, "arrays"),
             total: table.numRows };
  },

  /** Rows `offset`..`offset + limit` of console result `result` (DuckDB's text, or null). */
  async consolePage(result, offset, limit) {
    const reply = await this.local.request(REQUEST.CONSOLE_PAGE, { result, offset, limit });
    return pageRows(reply.ipc);
  },

  /** Interrupt the running console query: {cancelled: boolean}. */
  consoleCancel() {
    return this.local.request(REQUEST.CONSOLE_CANCEL, {});
  },

  /** Console result `result` as a file: Blob of CSV (with a header) or Arrow IPC. */
  async consoleExport(result, format = "csv") {
    const { data } = await this.local.request(REQUEST.CONSOLE_EXPORT, { result, format });
    return new Blob([data], { type: format === "csv" ? "text/csv" : "application/vnd.apache.arrow.file" });
  },

  /** Past console runs, newest first: [{id, sql, ran_at_ms, ms, rows, error}]. */
  async consoleHistory({ search = "", limit = 100 } = {}) {
    return (await this.local.request(REQUEST.CONSOLE_HISTORY, { search, limit })).entries;
  },
};

export function installConsole(Client) {
  for (const [name, fn] of Object.entries(methods)) {
    Object.defineProperty(Client.prototype, name, { value: fn, writable: true, configurable: true });
  }
}
