// Entry of the local worker (a module worker): Pyodide + DuckDB-WASM with the database in OPFS.
// The logic is workers/local_worker.py; DuckDB's JS API is wrapped by ./duck.mjs.
// DuckDB starts *now*, while Pyodide loads (its nested worker compiles the wasm while its
// script loads, see duckdb.worker.js); Python picks up the pending database when it is up
// (docs/startup.md).
import { bootPyodideWorker, assetURL, mark } from "./boot.mjs";
import { openDuckDB } from "./duck.mjs";
import * as sync from "./sync_host.mjs";
import * as console_ from "./console_host.mjs";

const params = new URL(self.location.href).searchParams;
const t0 = performance.now();
const duckdbSteps = {}; // step -> ms, reported in the worker's PHASE events
let current = null;
const onStep = (step) => {
  mark(`duckdb:${step ?? "ready"}`);
  const now = performance.now();
  if (current) duckdbSteps[current.step] = now - current.at;
  current = { step, at: now };
};
const dbPath = params.get("db") || "opfs://ducksync-local.duckdb"; // catalog "ducksync" would clash with schema ducksync
const duckdb = openDuckDB({
  mode: params.get("duckdb") || "async",
  path: dbPath,
  wasmURL: assetURL("duckdb-wasm", "duckdb-eh.wasm"),
  workerURL: assetURL("duckdb-worker"), // DuckDB's worker glue, patched (scripts/duckdb_glue.py)
  shimURL: new URL("./duckdb.worker.js", import.meta.url).href,
  onStep,
}).then((db) => {
  onStep(null);
  duckdbSteps["duckdb-ready-at"] = performance.now() - t0;
  return db;
});
duckdb.catch(() => {}); // reported by Python when it awaits the promise
// Diagnostics only (devtools; `ducksync bench` times DuckDB-WASM's own Arrow export + ingest
// through it as the reference limit of a push). Nothing in the app reads it.
self.ducksyncDiagnostics = { duckdb };

bootPyodideWorker({ worker: "local", module: "local_worker", host: { dbPath, duckdb, duckdbSteps, sync, console: console_ } });
