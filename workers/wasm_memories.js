// Every WebAssembly.Memory this worker instantiates, so the worker can report its own WASM
// memory: globalThis.ducksyncWasmBytes() -> total bytes (py/ducksync/bench/probe.py reads
// it through the DevTools protocol). Why not walk the heap for the memories instead
// (Runtime.queryObjects): on Chromium 156 that crashes the page when aimed at a worker.
// A plain script (no import/export): bundled into the Pyodide workers through
// workers/boot.mjs, and prepended to DuckDB's classic worker shim by scripts/build_assets.py.
// Installed before any WASM module loads.
(() => {
  if (globalThis.ducksyncWasmBytes) return;
  const memories = new Set();
  // Memories made in JS (Emscripten's imported memory: Pyodide, DuckDB's pthread build).
  // A plain function with Memory's prototype, so `instanceof WebAssembly.Memory` still
  // holds for every memory, including those a module exports.
  const Memory = WebAssembly.Memory;
  function TrackedMemory(descriptor) {
    const memory = new Memory(descriptor);
    memories.add(memory);
    return memory;
  }
  TrackedMemory.prototype = Memory.prototype;
  WebAssembly.Memory = TrackedMemory;
  // Memories a module makes itself, found in its exports (a plain object). Never the
  // imports: Emscripten passes a Proxy there whose lookups resolve symbols.
  const note = (instance) => {
    try {
      for (const value of Object.values(instance?.exports ?? {})) {
        if (value instanceof Memory) memories.add(value);
      }
    } catch { /* tracking must never break a load */ }
  };
  const { instantiate, instantiateStreaming } = WebAssembly;
  WebAssembly.instantiate = async (source, imports) => {
    const out = await instantiate(source, imports);
    note(out instanceof WebAssembly.Instance ? out : out.instance);
    return out;
  };
  if (instantiateStreaming) {
    WebAssembly.instantiateStreaming = async (source, imports) => {
      const out = await instantiateStreaming(source, imports);
      note(out.instance);
      return out;
    };
  }
  globalThis.ducksyncWasmBytes = () => [...memories].reduce((n, m) => n + m.buffer.byteLength, 0);
})();
