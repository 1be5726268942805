// Every WebAssembly.Memory this worker instantiates, so the worker can report its own WASM
// memory: globalThis.ducksyncWasmBytes() -> total bytes (py/ducksync/bench/probe.py reads
// it through the DevTools protocol). Why not walk the heap for the memories instead
// (Runtime.queryObjects): on Chromium 156 that crashes the page when aimed at a worker.
// A plain script (no import/export): bundled into the Pyodide workers through
// workers/boot.mjs, and prepended to DuckDB's classic worker shim by scripts/build_assets.py.
// Installed before any WASM module loads; it only looks at imports and exports.
(() => {
  if (globalThis.ducksyncWasmBytes) return;
  const memories = new Set();
  const collect = (values) => {
    for (const value of Object.values(values ?? {})) {
      if (value instanceof WebAssembly.Memory) memories.add(value);
    }
  };
  const note = (instance, imports) => {
    collect(instance?.exports);
    for (const namespace of Object.values(imports ?? {})) collect(namespace);
  };
  const { instantiate, instantiateStreaming } = WebAssembly;
  WebAssembly.instantiate = async (source, imports) => {
    const out = await instantiate(source, imports);
    note(out instanceof WebAssembly.Instance ? out : out.instance, imports);
    return out;
  };
  if (instantiateStreaming) {
    WebAssembly.instantiateStreaming = async (source, imports) => {
      const out = await instantiateStreaming(source, imports);
      note(out.instance, imports);
      return out;
    };
  }
  globalThis.ducksyncWasmBytes = () => [...memories].reduce((n, m) => n + m.buffer.byteLength, 0);
})();
