// The browser tests' stand-in for the MotherDuck service: a plain DuckDB-WASM instance
// (OPFS, so devices opened one after another in one context share it) behind the same
// SQL service shell and the same AsyncDuckDB adapter as workers/md_service.worker.mjs.
// Built to web/dist/loopback_sql.worker.js; the remote worker loads it only when the page
// asks for it from a loopback origin (ducksync.worker.transport.service_url). Never called
// "MotherDuck": it is a fake at the outermost network boundary, nothing more.
//
// It enforces what the MotherDuck WASM client documents and what users report:
// - it checks the token and, like the real client, POISONS ITSELF after a bad token: this
//   module's state refuses every later login, even a good one. Only a fresh worker (a
//   fresh module realm) works again, which is what the transport must give every attempt;
// - the synchronous query path (`runQuery`, which AsyncDuckDBConnection.query uses) is
//   REFUSED: the client's README warns it "can lead to deadlock when combined with the
//   MotherDuck extension". Only the pending-query path (start/poll/fetch) answers;
// - a statement naming `never_answers` never answers (its poll never settles) until it is
//   cancelled: the stand-in for a hung remote, for the service's per-call deadline.
// `?call_timeout_ms=N` on the module URL sets that deadline (the tests use a short one).
import { assetURL } from "../../workers/boot.mjs";
import { openDuckDB } from "../../workers/duck.mjs";
import { asyncDuckDBHost, serveSqlService } from "../../workers/sql_service.mjs";

export const LOOPBACK_TOKEN = "loopback-good-token-4e1f";
const PATH = "opfs://ducksync-loopback-service.duckdb";
const HANGS = /never_answers/i;
let poisoned = false;

/** The AsyncDuckDB with the documented refusals and the hang (a Proxy: its state stays its own). */
function asTheClientDocumentsIt(adb) {
  const hanging = new Set(); // connection ids whose statement never answers
  const overrides = {
    runQuery: async () => {
      throw new Error("runQuery refused: the synchronous query path can deadlock with the " +
                      "service's extension; use the pending-query path");
    },
    startPendingQuery: (id, sql, stream) => {
      if (!HANGS.test(sql)) return adb.startPendingQuery(id, sql, stream);
      hanging.add(id);
      return Promise.resolve(null);
    },
    pollPendingQuery: (id) => (hanging.has(id) ? new Promise(() => {}) : adb.pollPendingQuery(id)),
    cancelPendingQuery: async (id) => hanging.delete(id) || adb.cancelPendingQuery(id),
  };
  return new Proxy(adb, {
    get: (target, key, receiver) => (Object.hasOwn(overrides, key) ? overrides[key]
                                                                    : Reflect.get(target, key, receiver)),
  });
}

function checkpointing(host) {
  // Each top-level commit is checkpointed so the next device (another worker) finds it.
  return {
    connect: async () => {
      const c = await host.connect();
      let inTransaction = false;
      const query = async (sql) => {
        const out = await c.query(sql);
        const head = sql.trimStart().slice(0, 8).toUpperCase();
        if (head.startsWith("BEGIN")) inTransaction = true;
        else if (head.startsWith("COMMIT") || head.startsWith("ROLLBACK")) inTransaction = false;
        if (!inTransaction && !head.startsWith("SELECT") && !head.startsWith("DESCRIBE")) {
          await c.query("CHECKPOINT");
        }
        return out;
      };
      return { ...c, query };
    },
  };
}

const timeout = Number(new URL(self.location.href).searchParams.get("call_timeout_ms")) || undefined;
serveSqlService(async ({ token, database }) => {
  if (poisoned) throw new Error("connection closed: the shared instance is unusable after an earlier failed login");
  if (token !== LOOPBACK_TOKEN) {
    poisoned = true;
    throw new Error(`Invalid token "${token}": authentication failed (HTTP 401)`);
  }
  const db = await openDuckDB({ mode: "async", path: PATH,
                                wasmURL: assetURL("duckdb-wasm", "duckdb-eh.wasm"),
                                workerURL: assetURL("duckdb-worker") });
  return checkpointing(asyncDuckDBHost(asTheClientDocumentsIt(db.adb), database));
}, { callTimeoutMs: timeout });
