// The browser tests' stand-in for the MotherDuck service: a plain DuckDB-WASM instance
// (OPFS, so devices opened one after another in one context share it) behind the same
// SQL service shell as workers/md_service.worker.mjs. Built to web/dist/loopback_sql.worker.js;
// the remote worker loads it only when the page asks for it from a loopback origin
// (ducksync.worker.transport.service_url). Never called "MotherDuck": it is a fake at the
// outermost network boundary, nothing more.
//
// Like the real client it checks the token, and like the real client (as users report)
// it POISONS ITSELF after a bad token: this module's state refuses every later login,
// even a good one. Only a fresh worker (a fresh module realm) works again, which is what
// the transport must give every attempt.
import { assetURL } from "../../workers/boot.mjs";
import { openDuckDB } from "../../workers/duck.mjs";
import { asyncDuckDBHost, serveSqlService } from "../../workers/sql_service.mjs";

export const LOOPBACK_TOKEN = "loopback-good-token-4e1f";
const PATH = "opfs://ducksync-loopback-service.duckdb";
let poisoned = false;

function checkpointing(db) {
  // Each top-level commit is checkpointed so the next device (another worker) finds it.
  return {
    connect: async () => {
      const c = await db.connect();
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
      return { query, insert: c.insert };
    },
  };
}

serveSqlService(async ({ token }) => {
  if (poisoned) throw new Error("connection closed: the shared instance is unusable after an earlier failed login");
  if (token !== LOOPBACK_TOKEN) {
    poisoned = true;
    throw new Error(`Invalid token "${token}": authentication failed (HTTP 401)`);
  }
  const db = await openDuckDB({ mode: "async", path: PATH,
                                wasmURL: assetURL("duckdb-wasm", "duckdb-eh.wasm"),
                                workerURL: assetURL("duckdb-worker") });
  return checkpointing(db);
});
export { asyncDuckDBHost }; // the same adapter the real service uses (kept in the bundle)
