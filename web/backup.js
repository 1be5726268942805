// Export / import of the local database, installed on Client by web/ducksync.js.
// The work runs in the local worker (workers/backup_worker.py, ducksync.backup): a SQL
// export arrives as text chunks pulled one request at a time (the Blob is built from the
// parts, so no single giant string); a CSV bundle and an upload move as transferred bytes.
import { REQUEST } from "@ducksync/protocol";

const FORMATS = new Set(["sql", "csv"]);

const methods = {
  /**
   * Export user tables: `format` "sql" (a script for the DuckDB CLI / MotherDuck UI) or
   * "csv" (a zip: schema.sql, manifest.json, one CSV per table); `tables` (default: all).
   * Resolves to a Blob. Progress: "progress" events with `task: "backup"`.
   */
  async export({ format = "sql", tables, chunkBytes } = {}) {
    if (!FORMATS.has(format)) throw new TypeError(`format must be "sql" or "csv", not ${JSON.stringify(format)}`);
    const first = await this.local.request(REQUEST.BACKUP_EXPORT, {
      format, tables: tables ?? null, chunk_bytes: chunkBytes ?? null });
    if (format === "csv") return new Blob([first.data], { type: "application/zip" });
    const parts = first.chunk == null ? [] : [first.chunk];
    let reply = first;
    try {
      while (!reply.done) {
        reply = await this.local.request(REQUEST.BACKUP_NEXT, { export_id: first.export_id });
        if (reply.chunk != null) parts.push(reply.chunk);
      }
    } catch (err) { // end the worker's read transaction, then report
      this.local.request(REQUEST.BACKUP_NEXT, { export_id: first.export_id, close: true }).catch(() => {});
      throw err;
    }
    return new Blob(parts, { type: "application/sql" });
  },

  /**
   * Import a File/Blob (or bytes) written by export(): SQL script or CSV bundle (found by
   * its first bytes). All or nothing; a table that already has rows is an error unless
   * `replace`. Resolves to {format, tables, rows, statements}.
   */
  async import(file, { replace = false, format } = {}) {
    const data = file instanceof Uint8Array ? file.slice()
      : new Uint8Array(file instanceof ArrayBuffer ? file.slice(0) : await file.arrayBuffer());
    return this.local.request(REQUEST.BACKUP_IMPORT, { data, replace, format: format ?? null },
                              [data.buffer]);
  },
};

/** Add export() and import() to Client. */
export function installBackup(Client) {
  for (const [name, fn] of Object.entries(methods)) {
    Object.defineProperty(Client.prototype, name, { value: fn, writable: true, configurable: true });
  }
}
