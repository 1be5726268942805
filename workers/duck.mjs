// DuckDB-WASM (eh bundle) behind one small interface, in one of two hostings:
//   "blocking": the synchronous bindings instantiated inside this (Pyodide) worker;
//   "async":    AsyncDuckDB, which runs DuckDB in its own nested worker.
// Both return query results as Arrow IPC stream bytes (a Uint8Array owning its buffer,
// so it can be transferred without a copy). See docs/architecture.md for the measurement.
import * as async_ from "@duckdb/duckdb-wasm";
import { mark } from "./boot.mjs";

// The blocking bindings are a separate bundle (./duckdb_blocking.mjs), loaded on demand: a
// URL built at run time keeps esbuild from inlining it into the local worker's bundle.
const BLOCKING_BUNDLE = new URL("./duckdb_blocking.js", import.meta.url).href;

// Not opened with `arrowLosslessConversion`: in 1.32 that flag exports every BOOLEAN as
// garbage bytes (arrow.bool8 over a bitmap). Without it BIT and TIMETZ leave inexactly, so
// the engine exports those columns as text (ducksync.engine.sqlbuild.export_cols_sql).
const LOSSLESS = false;

const OPEN_ATTEMPTS = 40; // OPFS handles of a page being reloaded are released asynchronously
const OPEN_RETRY_MS = 100;

async function retryOpen(open) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await open();
    } catch (err) {
      const busy = /NoModificationAllowed|createSyncAccessHandle|Access Handle/i.test(String(err?.message ?? err));
      if (!busy || attempt >= OPEN_ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, OPEN_RETRY_MS));
    }
  }
}

// DuckDB-WASM 1.32 registers a prepared OPFS handle only when the file is non-empty. A WAL left
// empty (by a session that never wrote) next to a non-empty database is then never registered,
// and every later commit fails with "File is not opened in write mode". So we register the WAL
// ourselves before open; open's own preparation then finds it already registered.
async function walDirectory(path) {
  let dir = await navigator.storage.getDirectory();
  for (const folder of path.slice("opfs://".length).split("/").slice(0, -1)) {
    dir = await dir.getDirectoryHandle(folder, { create: true });
  }
  return dir;
}

async function walFileHandle(path) {
  const name = `${path.slice("opfs://".length)}.wal`.split("/").at(-1);
  return (await walDirectory(path)).getFileHandle(name, { create: true });
}

// A WAL that DuckDB-WASM never deleted (see workers/duckdb.worker.js, which now empties it)
// can make a database written by an earlier version unopenable: its replay re-creates what
// the database already holds, and DuckDB replays a log whole or not at all. The log is
// then no use to DuckDB either way: what precedes its last checkpoint marker is in the
// database; a commit appended after it (possible only if the tab closed right after one)
// could not be replayed without the rest. So that one failure is answered by setting the
// log aside — copied to its own OPFS file, never deleted, and said so in the console —
// and opening again; every other open error is raised as it is.
const STALE_WAL = /Failure while replaying WAL file[\s\S]*already exists/;

async function setAsideWAL(db, path, walHandle) {
  await db.dropFile(`${path}.wal`); // DuckDB's access handle on it is closed
  const bytes = new Uint8Array(await (await walHandle.getFile()).arrayBuffer());
  const name = `${walHandle.name}.stale-${new Date().toISOString().replaceAll(":", "-")}`;
  const dir = await walDirectory(path);
  const copy = await (await dir.getFileHandle(name, { create: true })).createSyncAccessHandle();
  try {
    copy.truncate(0);
    copy.write(bytes, { at: 0 });
    copy.flush();
  } finally {
    copy.close();
  }
  const wal = await walHandle.createSyncAccessHandle();
  try {
    wal.truncate(0);
    wal.flush();
  } finally {
    wal.close();
  }
  console.warn(`[ducksync] the local database's write-ahead log was already contained in the ` +
               `database and could not be replayed; it was set aside as OPFS file ${name} ` +
               `(${bytes.byteLength} bytes) and the database opened without it`);
  mark("duckdb:stale-wal-set-aside");
}

async function openBlocking({ path, wasmURL, onStep }) {
  const blocking = await import(BLOCKING_BUNDLE);
  const bundles = { mvp: { mainModule: wasmURL, mainWorker: null },
                    eh: { mainModule: wasmURL, mainWorker: null } };
  onStep("duckdb-instantiate");
  const db = await blocking.createDuckDB(bundles, new blocking.VoidLogger(), blocking.BROWSER_RUNTIME);
  await db.instantiate(() => {});
  onStep("duckdb-open");
  await retryOpen(async () => {
    if (path.startsWith("opfs://")) {
      const opfs = blocking.DuckDBDataProtocol.BROWSER_FSACCESS;
      if (!globalThis.DUCKDB_RUNTIME?._files?.has(`${path}.wal`)) {
        await db.registerFileHandleAsync(`${path}.wal`, await walFileHandle(path), opfs, true);
      }
      await db.prepareDBFileHandle(path, opfs);
    }
    db.open({ path, accessMode: blocking.DuckDBAccessMode.READ_WRITE, useDirectIO: path.startsWith("opfs://"),
              arrowLosslessConversion: LOSSLESS });
  });
  const conn = db.connect();
  const run = (sql) => conn.useUnsafe((bindings, id) => bindings.runQuery(id, sql));
  return {
    mode: "blocking",
    version: db.getVersion(),
    query: async (sql) => run(sql),
    // Another connection (own transactions and temp tables), e.g. for the sync engine.
    connect: async () => {
      const c = db.connect();
      return { query: async (sql) => c.useUnsafe((b, id) => b.runQuery(id, sql)),
               insert: async (ipc, options) => c.insertArrowFromIPCStream(ipc, options),
               send: (sql) => c.useUnsafe((b, id) => pendingQuery(b, id, sql)),
               cancel: async () => c.useUnsafe((b, id) => b.cancelPendingQuery(id)) };
    },
    files: fileAPI(db),
    close: async () => { conn.close(); db.reset(); },
    kill: async () => { db.reset(); },
  };
}

async function openAsync({ path, wasmURL, workerURL, shimURL, onStep }) {
  onStep("duckdb-instantiate");
  // DuckDB's own (classic) worker, nested in ours, behind ./duckdb.worker.js when given: it
  // compiles the wasm code-cacheably while DuckDB's script loads.
  const worker = new Worker(shimURL ? `${shimURL}?${new URLSearchParams({ worker: workerURL, wasm: wasmURL })}`
                                    : workerURL);
  const db = new async_.AsyncDuckDB(new async_.VoidLogger(), worker);
  // The WAL's OPFS handle does not need DuckDB: look it up while DuckDB instantiates.
  const walHandle = path.startsWith("opfs://") ? walFileHandle(path) : null;
  walHandle?.catch(() => {}); // awaited (and reported) by the open below
  await db.instantiate(wasmURL);
  onStep("duckdb-open");
  let walRegistered = false;
  const open = async () => {
    if (walHandle && !walRegistered) {
      await db.registerFileHandle(`${path}.wal`, await walHandle,
                                  async_.DuckDBDataProtocol.BROWSER_FSACCESS, true);
      mark("duckdb:wal-registered");
      walRegistered = true;
    }
    await db.open({ path, accessMode: async_.DuckDBAccessMode.READ_WRITE, arrowLosslessConversion: LOSSLESS });
  };
  try {
    await retryOpen(open);
  } catch (err) {
    if (!walHandle || !STALE_WAL.test(String(err?.message ?? err))) throw err;
    await setAsideWAL(db, path, await walHandle);
    walRegistered = false;
    await retryOpen(open);
  }
  mark("duckdb:opened");
  const conn = await db.connect();
  return {
    mode: "async",
    adb: db, // the AsyncDuckDB itself (the browser tests' SQL service stands on it)
    version: await db.getVersion(),
    query: (sql) => conn.useUnsafe((bindings, id) => bindings.runQuery(id, sql)),
    // Another connection (own transactions and temp tables), e.g. for the sync engine.
    connect: async () => {
      const c = await db.connect();
      return { query: (sql) => c.useUnsafe((b, id) => b.runQuery(id, sql)),
               insert: (ipc, options) => c.insertArrowFromIPCStream(ipc, options),
               send: (sql) => c.useUnsafe((b, id) => pendingQuery(b, id, sql)),
               cancel: () => c.cancelSent() };
    },
    files: fileAPI(db),
    close: async () => { await conn.close(); await db.terminate(); },
    kill: async () => db.terminate(), // its worker ends: the OPFS handles it held are released
  };
}

const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Run `sql` as a *pending* query: DuckDB works on it one poll (~100 ms) at a time, so other
 * connections' queries run between polls and `cancelPendingQuery` interrupts it (the next
 * poll then throws "query was canceled"). Several statements run in turn; the last one's
 * result comes back as one Arrow IPC stream (a Uint8Array owning its buffer).
 * Same calls on the blocking bindings (synchronous: we yield between polls so this
 * worker can take the cancel) and on AsyncDuckDB (each call a message to its worker).
 */
async function pendingQuery(bindings, conn, sql) {
  let header = await bindings.startPendingQuery(conn, sql, false);
  while (header == null) {
    await nextTask();
    header = await bindings.pollPendingQuery(conn);
  }
  const parts = [header];
  for (;;) {
    const chunk = await bindings.fetchQueryResults(conn); // null: not ready, empty: the end
    if (chunk == null) { await nextTask(); continue; }
    if (chunk.length === 0) break;
    parts.push(chunk);
  }
  parts.push(EOS);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

// Scratch files DuckDB reads and writes by name (backup: COPY … TO / read_csv). The same
// calls exist on both hostings (sync bindings or AsyncDuckDB). `register` detaches `bytes`.
function fileAPI(db) {
  return {
    register: async (name, bytes) => db.registerFileBuffer(name, bytes),
    registerEmpty: async (name) => db.registerEmptyFileBuffer(name),
    copyOut: async (name) => db.copyFileToBuffer(name),
    drop: async (name) => db.dropFile(name),
  };
}

/**
 * The database, restartable. A WebAssembly trap inside DuckDB (`RuntimeError`: "table index
 * is out of bounds", "function signature mismatch", e.g. `AT TIME ZONE` without icu) leaves
 * its state undefined, so any statement, on any connection, that ends in one restarts it
 * before its error is passed on: the instance is thrown away, the same database opened
 * again, `init` statements replayed, and `onRestart` listeners told (the local worker
 * reports it: workers/local_worker.py). Every member goes to the current instance; each
 * connection from `connect()` opens a new one on its first statement after a restart (its
 * temp tables and open transaction are gone with the old instance: a sync in flight fails
 * and retries) and runs the `setup` it was given on the new one. `restart()` may also be
 * called directly.
 *
 * @param {{mode: "blocking"|"async", path: string, wasmURL: string, workerURL: string,
 *          shimURL?: string,
 *          onStep?: (step: string) => void}} options
 */
export async function openDuckDB(options) {
  const onStep = options.onStep ?? (() => {});
  const open = options.mode === "async" ? openAsync : openBlocking;
  let current = await open({ ...options, onStep });
  let generation = 0;
  let restarting = null;
  let init = []; // statements every opened instance runs first (setInit)
  const listeners = new Set();
  const restart = (reason = "restart requested") => {
    restarting ??= (async () => {
      try {
        await current.kill();
      } catch (err) {
        console.warn("[ducksync] closing the crashed DuckDB:", err);
      }
      abandon(reason);
      current = await open({ ...options, onStep: () => {} });
      for (const sql of init) await current.query(sql);
      generation += 1;
      mark("duckdb:restarted");
      console.warn(`[ducksync] DuckDB crashed (${reason}); restarted and reopened ${options.path}`);
      for (const fn of listeners) fn(reason);
    })().finally(() => { restarting = null; });
    return restarting;
  };
  // A statement's failure: a trap restarts DuckDB first, then the error goes on either way.
  const failed = async (err) => {
    if (err?.name === "RuntimeError") await restart(String(err.message ?? err));
    throw err;
  };
  // Statements in flight: AsyncDuckDB.terminate() drops its pending requests without
  // settling them, so a restart rejects them here (else their callers, e.g. a sync holding
  // its lock, would wait forever).
  const inflight = new Set();
  const track = (promise) => new Promise((resolve, reject) => {
    inflight.add(reject);
    promise.then(resolve, reject).finally(() => inflight.delete(reject));
  });
  const abandon = (reason) => {
    const err = new Error(`DuckDB was restarted (${reason}) while this statement ran; ` +
                          "it did not complete: run it again");
    for (const reject of inflight) reject(err);
    inflight.clear();
  };
  const files = Object.fromEntries(Object.keys(current.files).map(
    (name) => [name, (...args) => current.files[name](...args)]));
  return {
    mode: current.mode,
    get version() { return current.version; },
    get adb() { return current.adb; },
    get generation() { return generation; },
    runsSetup: true, // connect(setup) runs it, and again on every reopened connection
    query: (sql) => track(current.query(sql)).catch(failed),
    // `setup(conn)` runs on the connection now and again on each reopened one (SETs, ATTACHes:
    // a connection's state does not survive its instance).
    connect: async (setup = async () => {}) => {
      const opened = async () => {
        const c = await current.connect();
        await setup(c);
        return c;
      };
      let made = generation;
      let conn = opened();
      await conn;
      const live = () => { // checked and replaced in one step: concurrent callers share it
        if (made !== generation) {
          made = generation;
          conn = opened();
        }
        return conn;
      };
      // Every member of a connection (query, insert, the console's send/cancel) goes to
      // the live one; a trap in any of them restarts DuckDB (`failed`).
      return { query: async (sql) => track((await live()).query(sql)).catch(failed),
               insert: async (ipc, opts) => track((await live()).insert(ipc, opts)).catch(failed),
               send: async (sql) => track((await live()).send(sql)).catch(failed),
               cancel: async () => (made === generation ? (await conn).cancel() : false) };
    },
    files,
    close: () => current.close(),
    restart,
    /** Statements to run on every instance opened from now on (the caller ran them on this one). */
    setInit: (statements) => { init = [...statements]; },
    onRestart: (fn) => { listeners.add(fn); },
  };
}
