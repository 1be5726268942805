// DuckDB-WASM's own worker (a classic script) behind a shim that compiles DuckDB's 34 MB wasm
// from a plain fetch, first thing, while DuckDB's 770 KB worker script is still loading.
//
// Why: DuckDB's worker streams its wasm through a TransformStream (for progress events),
// which hands V8 a Response without a URL: Chromium then never keeps the compiled code (the
// wasm code cache lives beside the HTTP or Cache Storage entry of a URL), and the compile
// only starts after the worker script has run. Here WebAssembly.compileStreaming(fetch(url))
// gets the code cache, and DuckDB's one instantiateStreaming call instantiates that Module
// (the response DuckDB fetched itself is dropped unread). See docs/startup.md.
//
// URL: duckdb.worker.js?worker=<DuckDB's worker script URL>&wasm=<duckdb-eh.wasm URL>.
"use strict";
(() => {
  const params = new URL(self.location.href).searchParams;
  const compiled = WebAssembly.compileStreaming(fetch(params.get("wasm"), { credentials: "same-origin" }));
  compiled.catch(() => {}); // handled where it is awaited
  const instantiateStreaming = WebAssembly.instantiateStreaming;
  WebAssembly.instantiateStreaming = async (source, imports) => {
    let module;
    try {
      module = await compiled;
    } catch (err) {
      console.warn("[ducksync] DuckDB wasm precompile failed; streaming DuckDB's own fetch:", err);
      return instantiateStreaming(source, imports);
    }
    return { module, instance: await WebAssembly.instantiate(module, imports) };
  };
  importScripts(params.get("worker"));
})();
