// JS helpers for the local worker's sync store (workers/sync_worker.py): a DuckDB
// connection of its own, small metadata results as plain arrays, IPC split into
// bounded chunks, and Arrow IPC ingested into temp tables. Bulk bytes stay JS
// Uint8Arrays: Python only passes them along.
import { MessageReader, Table, tableFromIPC, tableToIPC } from "apache-arrow";

const quote = (name) => `"${String(name).replaceAll('"', '""')}"`;

function plain(value) {
  if (value === null || value === undefined) return null;
  if (typeof value !== "object") return value; // number, bigint (-> Python int), string, boolean
  if (value instanceof Date) return value.toISOString();
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return value instanceof BigInt64Array || value instanceof BigUint64Array ? Array.from(value) : value;
  }
  if (typeof value.toArray === "function") return Array.from(value.toArray(), plain); // LIST
  if (typeof value.toJSON === "function") { // STRUCT / MAP rows
    const out = {};
    for (const [k, v] of Object.entries(value.toJSON())) out[k] = plain(v);
    return out;
  }
  return String(value);
}

/** Rows of an IPC stream as arrays of plain values (metadata only: small results). */
export function ipcToRows(ipc) {
  const table = tableFromIPC(ipc);
  const columns = table.schema.fields.map((_, i) => table.getChildAt(i));
  const rows = new Array(table.numRows);
  for (let r = 0; r < table.numRows; r++) rows[r] = columns.map((c) => plain(c.get(r)));
  return rows;
}

/** Number of rows in an IPC stream: reads only the messages' headers (no body decoded). */
export function ipcRows(ipc) {
  let rows = 0;
  const reader = new MessageReader(ipc);
  for (let message; (message = reader.readMessage()) !== null;) {
    if (message.isRecordBatch()) rows += Number(message.header().length);
    reader.readMessageBody(message.bodyLength); // a view: skips the body
  }
  return rows;
}

const MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"
const EOS = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/**
 * The IPC stream inside an IPC file, as a view (no copy), or null if `ipc` is not a file
 * laid out as the spec says: magic + padding, the stream's messages ending with the
 * end-of-stream marker, the footer, its length, magic. DuckDB-WASM writes exactly that.
 */
export function streamOfFile(ipc) {
  const n = ipc.byteLength;
  if (n < 26 || !MAGIC.every((b, i) => ipc[i] === b && ipc[n - 6 + i] === b)) return null;
  const footer = new DataView(ipc.buffer, ipc.byteOffset + n - 10, 4).getInt32(0, true);
  const end = n - 10 - footer;
  if (footer <= 0 || end < 16 || !EOS.every((b, i) => ipc[end - 8 + i] === b)) return null;
  return ipc.subarray(8, end);
}

/** `ipc` as an IPC stream view: a file's inner stream, a stream itself, else null. */
function asStream(ipc) {
  const continuation = ipc.byteLength >= 8 && ipc[0] === 0xff && ipc[1] === 0xff && ipc[2] === 0xff && ipc[3] === 0xff;
  return continuation ? ipc : streamOfFile(ipc);
}

/**
 * A DuckDB-WASM result (Arrow IPC *file* format from runQuery, a *stream* from the pending
 * query path) -> IPC *streams* (what the engine and the server speak) of at most `batchRows`
 * rows / about `batchBytes` each. A result within both bounds (a bulk range always is) is
 * passed on as the stream it holds: no Arrow decode and re-encode (30-60 ms per 10 MB in
 * the sync worker, on the push's path).
 */
export function splitIPC(ipc, batchRows, batchBytes) {
  if (ipc.byteLength <= batchBytes) {
    const stream = asStream(ipc);
    if (stream !== null && ipcRows(stream) <= batchRows) return [stream];
  }
  const table = tableFromIPC(ipc);
  if (table.numRows <= batchRows && ipc.byteLength <= batchBytes) return [tableToIPC(table, "stream")];
  const bytesPerRow = ipc.byteLength / Math.max(1, table.numRows);
  const step = Math.max(1, Math.min(batchRows, Math.floor(batchBytes / bytesPerRow)));
  const out = [];
  for (let start = 0; start < table.numRows; start += step) {
    out.push(tableToIPC(table.slice(start, start + step), "stream"));
  }
  return out.length ? out : [tableToIPC(table, "stream")];
}

/**
 * The schema message that starts an IPC stream, as a string key (its bytes), or null for
 * IPC that does not start with one (a file, the legacy framing): two streams with equal
 * keys have the same columns, in the same order, of the same types.
 */
export function schemaKey(ipc) {
  if (ipc.byteLength < 8 || ipc[0] !== 0xff || ipc[1] !== 0xff || ipc[2] !== 0xff || ipc[3] !== 0xff) return null;
  const length = new DataView(ipc.buffer, ipc.byteOffset + 4, 4).getInt32(0, true);
  if (length <= 0 || 8 + length > ipc.byteLength) return null;
  let key = "";
  for (let i = 8; i < 8 + length; i += 4096) key += String.fromCharCode(...ipc.subarray(i, Math.min(8 + length, i + 4096)));
  return key;
}

/** Run `sqls` one by one on `conn` (the first error stops them); the last one's result. */
async function runScript(conn, sqls) {
  if (!sqls.length) throw new Error("an empty script");
  for (const sql of sqls.slice(0, -1)) await conn.query(sql);
  return conn.query(sqls[sqls.length - 1]);
}

/** The sync engine's connection: query, rows, chunked export, scripts, temp-table ingest. */
export async function syncConnection(db) {
  // Run again on the connection that replaces this one if DuckDB is restarted (duck.mjs).
  const shapes = new Map(); // temp table name -> the IPC schema its columns now have
  const templates = new Map(); // IPC schema -> an empty temp table of that schema
  const setup = async (c) => {
    shapes.clear(); // a new connection (DuckDB restarted): no temp table of ours is left
    templates.clear();
    await c.query("SET arrow_lossless_conversion = true").catch(() => {}); // HUGEINT, UUID... survive
    // insertArrowFromIPCStream cannot create TEMP tables, and a table in the database
    // itself would be written to the OPFS WAL. So IPC lands in an in-memory scratch
    // catalog (USE'd for the insert only, on this connection only), then moves to temp.
    await c.query("ATTACH IF NOT EXISTS ':memory:' AS __ds_scratch");
  };
  const conn = await db.connect(setup);
  // Only our restartable DuckDB (duck.mjs) runs `setup` itself, again on each reopened
  // connection; other hosts (the MotherDuck client's SQL service) take no setup.
  if (!db.runsSetup) await setup(conn);
  const home = quote(ipcToRows(await conn.query("SELECT current_database()"))[0][0]);
  return {
    query: (sql) => conn.query(sql),
    // Cancel the statement in flight, if the host can (the SQL service's deadline): true
    // when one was cancelled. DuckDB-WASM's own (local) connection cannot: false.
    cancel: async () => (conn.cancel ? conn.cancel() : false),
    rows: async (sql) => ipcToRows(await conn.query(sql)),
    exportChunks: async (sql, batchRows, batchBytes) => splitIPC(await conn.query(sql), batchRows, batchBytes),
    // A script (ducksync.stores.connector.ScriptConnector): `sqls` in order on this
    // connection, stopping at the first error; the last one's rows / IPC chunks. One
    // call for the caller (the SQL service: one message, so one round trip to count).
    script: async (sqls) => ipcToRows(await runScript(conn, sqls)),
    scriptChunks: async (sqls, batchRows, batchBytes) => splitIPC(await runScript(conn, sqls), batchRows, batchBytes),
    // Backup scratch files: `sql` names the file `name` (COPY … TO it / read_csv from it).
    copyOut: async (sql, name) => {
      await db.files.registerEmpty(name);
      try {
        await conn.query(sql);
        return await db.files.copyOut(name); // a Uint8Array that owns its buffer
      } finally {
        await db.files.drop(name);
      }
    },
    copyIn: async (sql, name, data) => {
      // registerFileBuffer detaches (transfers) its buffer: hand it a copy we own alone.
      const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
      await db.files.register(name, own);
      try {
        await conn.query(sql);
      } finally {
        await db.files.drop(name);
      }
    },
    // Load IPC into temp table `name` (replaced, or appended to). DuckDB-WASM detaches `ipc`.
    // The first IPC of a schema lands in the scratch catalog and is copied into temp (the
    // insert cannot create a TEMP table), leaving an empty temp template of that schema;
    // IPC of a schema seen before, on any table, is inserted into the temp table directly
    // (replacing: an empty one made from the template): no copy, 3 statements fewer. A
    // bootstrap's pages all share one schema, over two alternating tables (the saving:
    // docs/benchmarks.md, session 10, page; the second table: session 13, page).
    ingest: async (name, ipc, append) => {
      const target = `temp.main.${quote(name)}`;
      const schema = schemaKey(ipc);
      const template = schema === null ? undefined : templates.get(schema);
      if (template !== undefined && (!append || shapes.get(name) === schema)) {
        if (!append) {
          await conn.query(`CREATE OR REPLACE TEMP TABLE ${quote(name)} AS SELECT * FROM ${template} LIMIT 0`);
          shapes.set(name, schema);
        }
        await conn.insert(ipc, { name, schema: "temp", create: false }); // positional: same schema
        return;
      }
      const scratch = `__ds_scratch.main.${quote(name)}`;
      shapes.delete(name);
      await conn.query(`DROP TABLE IF EXISTS ${scratch}`);
      await conn.query("USE __ds_scratch");
      try {
        await conn.insert(ipc, { name, schema: "main", create: true });
      } finally {
        await conn.query(`USE ${home}`);
      }
      await conn.query(append
        ? `INSERT INTO ${target} BY NAME SELECT * FROM ${scratch}`
        : `CREATE OR REPLACE TEMP TABLE ${quote(name)} AS SELECT * FROM ${scratch}`);
      if (schema !== null && !append) { // the temp table now has exactly this schema's columns
        const made = quote(`__ds_template_${templates.size}`); // a temp table: this connection's alone
        await conn.query(`CREATE OR REPLACE TEMP TABLE ${made} AS SELECT * FROM ${scratch} LIMIT 0`);
        templates.set(schema, made);
        shapes.set(name, schema);
      }
      await conn.query(`DROP TABLE ${scratch}`);
    },
  };
}
