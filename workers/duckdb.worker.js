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
// URL: duckdb.worker.js?worker=<DuckDB's worker script URL>&wasm=<duckdb-eh.wasm URL>.
// Boot milestones go to self.ducksyncTimeline (absolute ms), like workers/boot.mjs's.
"use strict";
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
