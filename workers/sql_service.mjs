// A SQL service in a nested worker: the remote worker's `motherduck` transport talks to it.
//
// Why a worker of its own: a client library may keep module-level state that a failed
// login poisons (the MotherDuck WASM client does: after a bad token the shared DuckDB
// instance never reconnects). Each connect attempt gets a fresh worker, so a fresh module
// realm; the remote worker terminates it after any failure (workers/sql_service_client.mjs).
//
// The entry (md_service.worker.mjs, or the loopback stand-in the browser tests build)
// passes `open({token, database})` -> a DuckDB host `{connect() -> {query, insert, cancel}}`;
// this shell runs the sync connection of workers/sync_host.mjs on it (query, metadata rows,
// IPC chunks, Arrow IPC -> temp tables) and answers `{id, op, args}` messages, one at a
// time (the MotherDuck client queues a connection's queries too), each within a deadline:
// a call that outlives it has its statement cancelled and fails with a TimeoutError, so a
// hung remote never holds the caller's store lock. A script (`script`, `scriptChunks`:
// several statements, the last one's answer) is one message and one deadline: the remote
// store sends a write's whole transaction that way (docs/remote-store.md). `onCall(op,
// args)` (optional, awaited before each call but `open`) lets an entry observe the calls:
// the browser tests' stand-in counts round trips and adds latency there.
// IPC bytes travel in transfer lists.
// Error texts are scrubbed of the token before they leave.
import { syncConnection } from "./sync_host.mjs";

export const CALL_TIMEOUT_MS = 120_000; // one statement (a bulk range at most); cloud latency included
const CANCEL_TIMEOUT_MS = 5_000;
const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/** `text` with every occurrence of `secret` masked (secrets shorter than 4 chars are not). */
export function scrub(text, secret) {
  const s = String(text ?? "");
  return secret && secret.length >= 4 ? s.split(secret).join("***") : s;
}

const owned = (a) => a instanceof Uint8Array && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
const within = (promise, ms, fallback) => Promise.race([
  promise, new Promise((resolve) => setTimeout(() => resolve(fallback), ms))]);

/** A TimeoutError saying how long was waited and whether the statement was cancelled. */
function timeoutError(ms, cancelled) {
  const error = new Error(`the SQL service did not answer within ${ms / 1000} s; ` +
    (cancelled ? "the statement was cancelled" : "cancelling the statement failed too"));
  error.name = "TimeoutError";
  return error;
}

/** Run `work()` unless it outlives `ms`: then cancel the statement in flight and reject. */
async function withDeadline(work, ms, cancel) {
  let timer;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(async () => {
      const cancelled = await within(cancel().catch(() => false), CANCEL_TIMEOUT_MS, false);
      reject(timeoutError(ms, cancelled));
    }, ms);
  });
  const running = work();
  running.catch(() => {}); // after a timeout its late failure (cancelled) is nobody's
  try {
    return await Promise.race([running, expired]);
  } finally {
    clearTimeout(timer);
  }
}

export function serveSqlService(open, { callTimeoutMs = CALL_TIMEOUT_MS, onCall = null } = {}) {
  let conn = null;
  let token = null;
  let queue = Promise.resolve();
  const ops = {
    open: async (args) => {
      token = args.token;
      conn = await syncConnection(await open(args));
      const [[name]] = await conn.rows("SELECT current_database()");
      return { database: name, callTimeoutMs };
    },
    query: async ({ sql }) => { await conn.query(sql); return null; },
    rows: ({ sql }) => conn.rows(sql),
    chunks: ({ sql, batchRows, batchBytes }) => conn.exportChunks(sql, batchRows, batchBytes),
    script: ({ sqls }) => conn.script(sqls),
    scriptChunks: ({ sqls, batchRows, batchBytes }) => conn.scriptChunks(sqls, batchRows, batchBytes),
    ingest: async ({ name, ipc, append }) => { await conn.ingest(name, ipc, append); return null; },
  };
  const answer = async ({ id, op, args }) => {
    try {
      if (op !== "open" && !conn) throw new Error("the SQL service is not open");
      const work = op === "open" || !onCall ? () => ops[op](args ?? {})
        : async () => { await onCall(op, args ?? {}); return ops[op](args ?? {}); };
      // `open` has the client's own (longer) deadline: it downloads the client's assets.
      const value = op === "open" ? await work() : await withDeadline(work, callTimeoutMs, () => conn.cancel());
      const transfer = Array.isArray(value) ? value.filter(owned).map((a) => a.buffer) : [];
      self.postMessage({ id, ok: true, value }, transfer);
    } catch (err) {
      self.postMessage({ id, ok: false, error: { name: err?.name ?? "Error",
                                                 message: scrub(err?.message ?? err, token) } });
    }
  };
  self.onmessage = ({ data }) => {
    queue = queue.then(() => answer(data ?? {}));
  };
}

/**
 * One statement on DuckDB-WASM's pending-query path, the one the MotherDuck client's own
 * query tasks use (`AsyncDuckDBConnection.send`): start, poll until the result is ready
 * (each poll a round trip that lets the DuckDB worker serve the extension's network I/O;
 * the synchronous `runQuery` path can deadlock with the MotherDuck extension, says the
 * client's README), then fetch the result's IPC messages. Returns an IPC stream that owns
 * its buffer. `state.cancelled` (set by `cancel`) stops the polling.
 */
async function pendingQuery(adb, id, sql, state) {
  let header = await adb.startPendingQuery(id, sql, false);
  while (header === null || header === undefined) {
    if (state.cancelled) throw new Error("the statement was cancelled");
    header = await adb.pollPendingQuery(id);
  }
  const parts = [header];
  for (;;) {
    // A statement cancelled by the deadline must not read on: the next call's statement
    // may already be running on this connection, and its chunks are not ours.
    if (state.cancelled) throw new Error("the statement was cancelled");
    const chunk = await adb.fetchQueryResults(id);
    if (chunk === null || chunk === undefined) continue; // a streaming result not ready yet
    if (chunk.byteLength === 0) break;
    parts.push(chunk);
  }
  parts.push(EOS);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.byteLength; }
  return out;
}

/**
 * An AsyncDuckDB (DuckDB-WASM's own API; the MotherDuck client's `getAsyncDuckDb`) as the
 * host shape `syncConnection` expects: every statement on the pending-query path, never
 * `runQuery`; `cancel()` cancels the one in flight (`cancelPendingQuery`, what the
 * client's `cancelQuery` does). Temp tables live on this connection, so Arrow IPC is
 * inserted on it too.
 */
export function asyncDuckDBHost(adb, database = null) {
  const quote = (name) => `"${String(name).replaceAll('"', '""')}"`;
  return {
    connect: async () => {
      const c = await adb.connect();
      let current = null;
      const query = (sql) => c.useUnsafe(async (bindings, id) => {
        const state = { cancelled: false, cancel: () => bindings.cancelPendingQuery(id) };
        current = state;
        try {
          return await pendingQuery(bindings, id, sql, state);
        } finally {
          if (current === state) current = null;
        }
      });
      const cancel = async () => {
        if (!current) return false;
        current.cancelled = true;
        return Boolean(await current.cancel());
      };
      if (database) await query(`USE ${quote(database)}`);
      return { query, cancel, insert: (ipc, options) => c.insertArrowFromIPCStream(ipc, options) };
    },
  };
}
