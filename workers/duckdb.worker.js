// DuckDB-WASM's own worker (a classic script) behind a shim that compiles DuckDB's 34 MB wasm
// from a plain fetch, first thing, while DuckDB's 770 KB worker script is still loading.
//
// Why: DuckDB's worker streams its wasm through a TransformStream (for progress events),
// which hands V8 a Response without a URL: Chromium then never keeps the compiled code (the
// wasm code cache lives beside the HTTP or Cache Storage entry of a URL), and the compile
// only starts after the worker script has run. Here WebAssembly.compileStreaming(fetch(url))
// gets the code cache, and DuckDB's one instantiateStreaming call instantiates that Module.
// DuckDB's own fetch of the same 34 MB would be read and dropped: while the precompile is
// good, that one request is answered with an empty body instead (it is never consumed).
// See docs/startup.md.
//
// It also empties the WAL that DuckDB deletes (emptyDeletedWAL below).
//
// URL: duckdb.worker.js?worker=<DuckDB's worker script URL>&wasm=<duckdb-eh.wasm URL>.
// Boot milestones go to self.ducksyncTimeline (absolute ms), like workers/boot.mjs's.
"use strict";

// The WAL. DuckDB 1.4 ends a checkpoint by deleting its WAL, but DuckDB-WASM's RemoveFile
// does nothing: the OPFS file keeps the old log, and DuckDB's next commits go after it.
// Replay trusts a log's last checkpoint marker: if it names the database's current root,
// the whole file is skipped — so commits made after that checkpoint were silently lost at
// the next open (measured: a table created after a CHECKPOINT, then a reload: gone); and
// a root moved by a checkpoint that logs no marker (one made at the commit of a big write,
// right after such a "delete") made the next open replay the old log onto a database that
// already held it ("Failure while replaying WAL file: Table with name … already exists!"):
// the database could not be opened at all.
// So after each message DuckDB's worker handled that checkpointed (a hook the build adds,
// scripts/duckdb_glue.py), a non-empty WAL file is emptied when DuckDB itself says its log
// holds nothing (pragma_database_size: wal_size '0 bytes', which is exactly its state
// after such a "delete" and before its next commit). It runs synchronously on DuckDB's one
// thread, right after the message that checkpointed, so no commit lands in between; the
// file then holds exactly what DuckDB believes, and replay does the right thing. (One
// message running several statements — a checkpoint, then a commit — escapes it.)
// See docs/architecture.md, "The WAL DuckDB-WASM never deletes".
function emptyDeletedWAL(bindings) {
  const wals = [...(self.DUCKDB_RUNTIME?._files ?? [])].filter(
    ([name, handle]) => name.endsWith(".wal") && typeof handle?.truncate === "function");
  if (wals.length !== 1 || wals[0][1].getSize() === 0) return;
  const [name, handle] = wals[0];
  const path = name.slice(0, -".wal".length).replaceAll("'", "''");
  const conn = bindings.connect();
  const id = conn.useUnsafe((_, connId) => connId);
  try {
    // Succeeds only for the open database this WAL belongs to, with nothing in its log.
    bindings.runQuery(id, "SELECT CASE WHEN count(*) = 1 AND bool_and(d.path = '" + path + "' AND " +
      "s.wal_size = '0 bytes') THEN 1 ELSE error('the log is in use') END FROM duckdb_databases() d " +
      "JOIN pragma_database_size() s USING (database_name) WHERE d.database_name = current_database()");
  } catch {
    return; // DuckDB may need what the log holds (or another database is open)
  } finally {
    bindings.disconnect(id);
  }
  handle.truncate(0);
  handle.flush();
}

// Checked only after a message that wrote the database file's headers (every checkpoint
// ends by writing one; the first 12 KiB of the file are its headers) and after the open:
// a check costs a query, and most messages checkpoint nothing.
const HEADERS_END = 3 * 4096;
let headerWritten = false;

function watchHeaderWrites(runtime) {
  if (runtime.ducksyncWatched) return;
  runtime.ducksyncWatched = true;
  const writeFile = runtime.writeFile;
  runtime.writeFile = (mod, fileId, buf, bytes, location) => {
    if (location < HEADERS_END && !headerWritten &&
        !runtime.getFileInfo(mod, fileId)?.fileName?.endsWith(".wal")) {
      headerWritten = true;
    }
    return writeFile.call(runtime, mod, fileId, buf, bytes, location);
  };
}

self.ducksyncAfterMessage = (request) => {
  const bindings = self.ducksyncDispatcher?._bindings;
  const runtime = self.DUCKDB_RUNTIME;
  if (!bindings || !runtime) return;
  watchHeaderWrites(runtime); // DuckDB calls it through globalThis.DUCKDB_RUNTIME
  if (headerWritten || request?.type === "OPEN") {
    headerWritten = false;
    try {
      emptyDeletedWAL(bindings);
    } catch (err) { // e.g. no database open yet: nothing was truncated
      console.warn("[ducksync] WAL check failed:", err);
    }
  }
};

(() => {
  const timeline = (self.ducksyncTimeline = {});
  const mark = (name) => { timeline[name] = performance.timeOrigin + performance.now(); };
  const params = new URL(self.location.href).searchParams;
  const wasmURL = new URL(params.get("wasm"), self.location.href).href;
  const compiled = WebAssembly.compileStreaming(fetch(wasmURL, { credentials: "same-origin" }));
  compiled.then(() => mark("wasm-compiled"), () => {}); // a failure is handled where it is awaited
  let precompiled = true; // until the precompile is known to have failed

  const realFetch = self.fetch.bind(self);
  self.fetch = (input, init) => {
    const url = typeof input === "string" ? input : input?.url;
    if (precompiled && url && new URL(url, self.location.href).href === wasmURL) {
      return Promise.resolve(new Response(new Blob([]), { headers: { "content-length": "0" } }));
    }
    return realFetch(input, init);
  };

  const instantiateStreaming = WebAssembly.instantiateStreaming;
  WebAssembly.instantiateStreaming = async (source, imports) => {
    let module;
    try {
      module = await compiled;
    } catch (err) {
      console.warn("[ducksync] DuckDB wasm precompile failed; fetching it again:", err);
      precompiled = false;
      return instantiateStreaming(realFetch(wasmURL, { credentials: "same-origin" }), imports);
    }
    const instance = await WebAssembly.instantiate(module, imports);
    mark("wasm-instantiated");
    return { module, instance };
  };
  importScripts(params.get("worker"));
  mark("glue-loaded");
})();
