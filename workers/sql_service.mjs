// A SQL service in a nested worker: the remote worker's `motherduck` transport talks to it.
//
// Why a worker of its own: a client library may keep module-level state that a failed
// login poisons (the MotherDuck WASM client does: after a bad token the shared DuckDB
// instance never reconnects). Each connect attempt gets a fresh worker, so a fresh module
// realm; the remote worker terminates it after any failure (workers/sql_service_client.mjs).
//
// The entry (md_service.worker.mjs, or the loopback stand-in the browser tests build)
// passes `open({token, database})` -> a DuckDB host `{connect() -> {query, insert}}`; this
// shell runs the sync connection of workers/sync_host.mjs on it (query, metadata rows,
// IPC chunks, Arrow IPC -> temp tables) and answers `{id, op, args}` messages. IPC bytes
// travel in transfer lists. Error texts are scrubbed of the token before they leave.
import { syncConnection } from "./sync_host.mjs";

/** `text` with every occurrence of `secret` masked (secrets shorter than 4 chars are not). */
export function scrub(text, secret) {
  const s = String(text ?? "");
  return secret && secret.length >= 4 ? s.split(secret).join("***") : s;
}

const owned = (a) => a instanceof Uint8Array && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;

export function serveSqlService(open) {
  let conn = null;
  let token = null;
  const ops = {
    open: async (args) => {
      token = args.token;
      conn = await syncConnection(await open(args));
      const [[name]] = await conn.rows("SELECT current_database()");
      return { database: name };
    },
    query: async ({ sql }) => { await conn.query(sql); return null; },
    rows: ({ sql }) => conn.rows(sql),
    chunks: ({ sql, batchRows, batchBytes }) => conn.exportChunks(sql, batchRows, batchBytes),
    ingest: async ({ name, ipc, append }) => { await conn.ingest(name, ipc, append); return null; },
  };
  self.onmessage = async ({ data }) => {
    const { id, op, args } = data ?? {};
    try {
      if (op !== "open" && !conn) throw new Error("the SQL service is not open");
      const value = await ops[op](args ?? {});
      const transfer = Array.isArray(value) ? value.filter(owned).map((a) => a.buffer) : [];
      self.postMessage({ id, ok: true, value }, transfer);
    } catch (err) {
      self.postMessage({ id, ok: false, error: { name: err?.name ?? "Error",
                                                 message: scrub(err?.message ?? err, token) } });
    }
  };
}

/** An AsyncDuckDB (DuckDB-WASM's own API) as the host shape `syncConnection` expects. */
export function asyncDuckDBHost(adb, database = null) {
  const quote = (name) => `"${String(name).replaceAll('"', '""')}"`;
  return {
    connect: async () => {
      const c = await adb.connect();
      const query = (sql) => c.useUnsafe((bindings, id) => bindings.runQuery(id, sql));
      if (database) await query(`USE ${quote(database)}`);
      return { query, insert: (ipc, options) => c.insertArrowFromIPCStream(ipc, options) };
    },
  };
}
