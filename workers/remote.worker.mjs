// Entry of the remote worker (a module worker): Pyodide talking to our server's remote API.
// The logic is workers/remote_worker.py.
import { bootPyodideWorker } from "./boot.mjs";
import { syncFetch } from "./sync_fetch.mjs";

bootPyodideWorker({ worker: "remote", module: "remote_worker", host: { syncFetch } });
