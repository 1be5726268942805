// Entry of the remote worker (a module worker): Pyodide reaching the remote through our
// server (`proxy` transport) or a SQL service worker (`motherduck`, loaded only on demand).
// The logic is workers/remote_worker.py.
import { bootPyodideWorker } from "./boot.mjs";
import { openFeed, syncFetch } from "./sync_fetch.mjs";
import { openSqlService } from "./sql_service_client.mjs";

const DIST = new URL("./", import.meta.url);
const sqlService = {
  open: openSqlService,
  defaultURL: new URL("md_service.worker.js", DIST).href,
  origin: self.location.origin,
  hostname: self.location.hostname,
};

// `sync: null`: workers/sync_worker.py (whose WasmLocalStore the motherduck connector reuses)
// reads ducksync_host.sync at import; only the local worker has that module.
bootPyodideWorker({ worker: "remote", module: "remote_worker", host: { syncFetch, openFeed, sqlService, sync: null } });
