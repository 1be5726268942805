// The remote worker's handle on a SQL service worker (workers/sql_service.mjs): one nested
// worker per connect attempt, terminated after a failed attempt or on close, so nothing a
// client library keeps in its module state outlives the attempt. `conn` has the shape of
// workers/sync_host.mjs's sync connection, so workers/sync_worker.py's WasmLocalStore
// drives it unchanged. IPC bytes are transferred both ways, never copied or decoded.
// The service bounds each call itself (workers/sql_service.mjs: the statement is cancelled,
// the call fails with a TimeoutError). This side only guards against a service worker that
// stops answering altogether: no answer within its deadline plus GRACE_MS -> it is closed.
const OPEN_TIMEOUT_MS = 60_000; // the MotherDuck client downloads its assets first
const GRACE_MS = 10_000;

const owned = (a) => (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice());

export async function openSqlService({ url, token, database = null }) {
  const worker = new Worker(url, { type: "module", name: "ducksync-sql-service" });
  const pending = new Map();
  let nextId = 1;
  let closed = null;
  const failAll = (error) => {
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };
  worker.onmessage = ({ data }) => {
    const waiting = pending.get(data?.id);
    if (!waiting) return;
    pending.delete(data.id);
    if (data.ok) waiting.resolve(data.value);
    else waiting.reject(Object.assign(new Error(data.error.message), { name: data.error.name }));
  };
  worker.onerror = (ev) => {
    ev.preventDefault?.();
    failAll(new Error(`the SQL service worker failed: ${ev.message || "script failed to load"}`));
  };
  let deadlineMs = null; // the service's call deadline, known once it is open
  const call = (op, args, transfer = []) => new Promise((resolve, reject) => {
    if (closed) return reject(new Error(closed));
    const id = nextId++;
    let timer = null;
    const settle = (fn) => (value) => { clearTimeout(timer); fn(value); };
    pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
    if (deadlineMs !== null) {
      timer = setTimeout(() => {
        const why = `the SQL service stopped answering (nothing within ${(deadlineMs + GRACE_MS) / 1000} s)`;
        pending.delete(id);
        reject(Object.assign(new Error(why), { name: "TimeoutError" }));
        close(why);
      }, deadlineMs + GRACE_MS);
    }
    worker.postMessage({ id, op, args }, transfer);
  });
  const close = (why = "the SQL service was closed") => {
    closed = why;
    worker.terminate();
    failAll(new Error(why));
  };
  let timer;
  try {
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from the SQL service within ${OPEN_TIMEOUT_MS / 1000} s (offline?)`)), OPEN_TIMEOUT_MS);
    });
    const info = await Promise.race([call("open", { token, database }), timeout]);
    deadlineMs = info.callTimeoutMs ?? null;
    const conn = {
      query: (sql) => call("query", { sql }),
      rows: (sql) => call("rows", { sql }),
      exportChunks: (sql, batchRows, batchBytes) => call("chunks", { sql, batchRows, batchBytes }),
      script: (sqls) => call("script", { sqls }),
      scriptChunks: (sqls, batchRows, batchBytes) => call("scriptChunks", { sqls, batchRows, batchBytes }),
      ingest: (name, ipc, append) => {
        const data = owned(ipc);
        return call("ingest", { name, ipc: data, append }, [data.buffer]);
      },
    };
    return { conn, close, database: info.database };
  } catch (err) {
    close("the SQL service failed to open");
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
