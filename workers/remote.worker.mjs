// Entry of the remote worker (a module worker): Pyodide talking to our server's remote API.
// The logic is workers/remote_worker.py.
import { bootPyodideWorker } from "./boot.mjs";

bootPyodideWorker({ worker: "remote", module: "remote_worker" });
