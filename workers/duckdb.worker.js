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
// a root moved by a checkpoint that logs no marker (one made at the commit of a big write)
// made the next open replay the old log onto a database that already held it ("Failure
// while replaying WAL file: Table with name … already exists!"): the database could not
// be opened at all. So here the file is made to hold what DuckDB believes it holds:
//  * no checkpoint at commit (debug_skip_checkpoint_on_commit): the root moves only at a
//    CHECKPOINT statement (the app runs one after each write and at the end of a sync);
//  * after the database is opened, and after each CHECKPOINT statement, one more
//    CHECKPOINT of the database file on a connection of our own; when it succeeds,
//    DuckDB holds nothing in its log (it has "deleted" it), so the file is emptied.
//    All of it runs synchronously on DuckDB's one thread: no commit lands in between.
//    It fails while another connection's write transaction is open; then the file is
//    left as it is, and the next CHECKPOINT statement tries again.
// The hook is called by the patched worker (scripts/duckdb_glue.py) after each message.
// See docs/architecture.md, "The WAL DuckDB-WASM never deletes".
const CHECKPOINT_SQL = /^\s*(?:force\s+)?checkpoint\s*;?\s*$/i;
const QUERIES = new Set(["RUN_QUERY", "START_PENDING_QUERY"]);

function privately(bindings, statements) {
  const conn = bindings.connect();
  const id = conn.useUnsafe((_, connId) => connId);
  try {
    for (const sql of statements) bindings.runQuery(id, sql);
  } finally {
    bindings.disconnect(id);
  }
}

function emptyCheckpointedWAL(bindings) {
  const wals = [...(self.DUCKDB_RUNTIME?._files ?? [])].filter(
    ([name, handle]) => name.endsWith(".wal") && typeof handle?.truncate === "function");
  if (wals.length !== 1 || wals[0][1].getSize() === 0) return;
  const [name, handle] = wals[0];
  const path = name.slice(0, -".wal".length).replaceAll("'", "''");
  try {
    privately(bindings, [
      // the database this WAL belongs to is the one open (not a failed open's stand-in)
      "SELECT CASE WHEN (SELECT path FROM duckdb_databases() WHERE database_name = " +
        `current_database()) = '${path}' THEN 1 ELSE error('another database is open') END`,
      "CHECKPOINT"]);
  } catch {
    return; // not checkpointed: DuckDB may still need what the log holds
  }
  handle.truncate(0);
  handle.flush();
}

self.ducksyncAfterMessage = (request) => {
  const bindings = self.ducksyncDispatcher?._bindings;
  if (!bindings) return;
  if (request?.type === "OPEN") {
    try {
      privately(bindings, ["SET debug_skip_checkpoint_on_commit = true"]);
    } catch (err) {
      console.warn("[ducksync] could not turn off checkpoints at commit:", err);
    }
    emptyCheckpointedWAL(bindings);
  } else if (QUERIES.has(request?.type) && CHECKPOINT_SQL.test(String(request.data?.[1] ?? ""))) {
    emptyCheckpointedWAL(bindings);
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
