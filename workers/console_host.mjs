// JS helpers for the SQL console's connection (workers/console_worker.py): a DuckDB
// connection of its own whose statements run as pending queries (interruptible, and
// other connections' queries run between its polls: workers/duck.mjs `send`).
// Bulk bytes stay JS Uint8Arrays: Python only passes them along.
import { ipcToRows } from "./sync_host.mjs";

const CSV_FILE = "__ds_console.csv";

/** The console's connection on `db` (workers/duck.mjs). */
export async function consoleConnection(db) {
  const conn = await db.connect();
  return {
    run: (sql) => conn.send(sql),
    cancel: async () => Boolean(await conn.cancel()),
    rows: async (sql) => ipcToRows(await conn.query(sql)),
    ipc: (sql) => conn.query(sql),
    copyCSV: async (sql) => {
      await db.files.registerEmpty(CSV_FILE);
      try {
        await conn.query(`COPY (${sql}) TO '${CSV_FILE}' (FORMAT csv, HEADER)`);
        return await db.files.copyOut(CSV_FILE);
      } finally {
        await db.files.drop(CSV_FILE);
      }
    },
  };
}
