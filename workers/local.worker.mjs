// Entry of the local worker (a module worker): Pyodide + DuckDB-WASM with the database in OPFS.
// The logic is workers/local_worker.py; DuckDB's JS API is wrapped by ./duck.mjs.
import { bootPyodideWorker, assetURL } from "./boot.mjs";
import { openDuckDB } from "./duck.mjs";

const params = new URL(self.location.href).searchParams;

bootPyodideWorker({
  worker: "local",
  module: "local_worker",
  host: {
    duckdbMode: params.get("duckdb") || "blocking",
    dbPath: params.get("db") || "opfs://ducksync.duckdb",
    openDuckDB: (options) =>
      openDuckDB({ ...options, wasmURL: assetURL("duckdb-wasm", "duckdb-eh.wasm"),
                   workerURL: assetURL("duckdb-wasm", "duckdb-browser-eh.worker.js") }),
  },
});
