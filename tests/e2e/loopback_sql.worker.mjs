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
// - only the owning account writes (https://motherduck.com/docs/concepts/compute/reads-and-writes/):
//   READER_TOKEN logs in as another account reading a share; every statement that would
//   change a non-temp object is refused with DuckDB's message for a read-only attachment
//   (how a share is attached); its temp tables stay writable (they live on the client);
// - the service is a network away: `?latency_ms=N` delays every call that reaches it by
//   N ms, counted as a round trip the way py/ducksync/stores/standin.py counts them: a
//   call (a statement, or a script of several) that names anything but the client's temp
//   tables (those "persist locally, not on the server"); an Arrow upload into a temp
//   table stays on the client. Asked on BroadcastChannel COUNTS ({ask: true}), it
//   answers {calls, roundTrips, recent} so far (a test reads a sync's cost without
//   racing it; `recent`: the last calls, to show in a failure).
// `?call_timeout_ms=N` on the module URL sets that deadline (the tests use a short one).
import { assetURL } from "../../workers/boot.mjs";
import { openDuckDB } from "../../workers/duck.mjs";
import { asyncDuckDBHost, serveSqlService } from "../../workers/sql_service.mjs";

export const LOOPBACK_TOKEN = "loopback-good-token-4e1f";
export const READER_TOKEN = "loopback-reader-token-7a3b";
const PATH = "opfs://ducksync-loopback-service.duckdb";
const HANGS = /never_answers/i;
const PARAMS = new URL(self.location.href).searchParams;
const LATENCY_MS = Number(PARAMS.get("latency_ms")) || 0;
const CREATES_TEMP = /^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TEMP(?:ORARY)?\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"?([A-Za-z_]\w*)/i;
const WRITES = new RegExp(String.raw`^\s*(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|COPY|TRUNCATE|MERGE)\b` +
  String.raw`(?:\s+OR\s+\w+)?(?:\s+INTO|\s+FROM)?(?:\s+(?:TABLE|SCHEMA|VIEW|SEQUENCE|INDEX|MACRO|TYPE))?` +
  String.raw`(?:\s+IF\s+(?:NOT\s+)?EXISTS)?\s+([\w."]+)?`, "i");
// The relations a statement names (to tell a statement over temp tables only).
const RELATION = /\b(?:FROM|JOIN|DESCRIBE|INTO|UPDATE|TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?)\s+((?:"[^"]*"|[A-Za-z_]\w*)(?:\.(?:"[^"]*"|[A-Za-z_]\w*))*)/gi;
export const COUNTS = "ducksync-loopback-counts";
let poisoned = false;

/** Counts the calls that reach the service (and delays them), as standin.py does. */
function roundTrips() {
  const temps = new Set();
  const counts = { calls: 0, roundTrips: 0, recent: [] }; // recent: the last calls, shown
  const isTemp = (name) => temps.has(name.split(".").pop().replaceAll('"', ""));
  const local = (sql) => {
    const named = [...sql.matchAll(RELATION)].map((m) => m[1]);
    return named.length > 0 && named.every(isTemp);
  };
  new BroadcastChannel(COUNTS).onmessage = ({ data, target }) => {
    if (data?.ask) target.postMessage({ ...counts });
  };
  return async (op, args) => {
    counts.calls += 1;
    const sqls = args.sqls ?? [args.sql ?? `ingest ${args.name}`];
    counts.recent = [...counts.recent.slice(-31), `${op}: ${sqls.map((q) => q.slice(0, 60)).join(" ; ")}`];
    if (op === "ingest") { temps.add(args.name); return; } // into a temp table, on the client
    for (const sql of sqls) {
      const temp = CREATES_TEMP.exec(sql);
      if (temp) temps.add(temp[1]);
    }
    if (sqls.every(local)) return;
    counts.roundTrips += 1;
    if (LATENCY_MS) await new Promise((done) => setTimeout(done, LATENCY_MS));
  };
}

/** DuckDB's refusal when ``sql`` writes a non-temp object of a read-only (shared) database. */
function refusal(sql, temps, database) {
  const temp = CREATES_TEMP.exec(sql);
  if (temp) { temps.add(temp[1]); return null; }
  const write = WRITES.exec(sql);
  if (!write || temps.has((write[2] ?? "").replaceAll('"', "").split(".").pop())) return null;
  return new Error(`Invalid Input Error: Cannot execute statement of type "${write[1].toUpperCase()}" ` +
                   `on database "${database}" which is attached in read-only mode!`);
}

/** The AsyncDuckDB with the documented refusals and the hang (a Proxy: its state stays its own). */
function asTheClientDocumentsIt(adb, { reader, database }) {
  const hanging = new Set(); // connection ids whose statement never answers
  const temps = new Set(); // a reader's temp tables (writable: they live on its client)
  const overrides = {
    runQuery: async () => {
      throw new Error("runQuery refused: the synchronous query path can deadlock with the " +
                      "service's extension; use the pending-query path");
    },
    startPendingQuery: async (id, sql, stream) => {
      const refused = reader ? refusal(sql, temps, database) : null;
      if (refused) throw refused;
      if (!HANGS.test(sql)) return adb.startPendingQuery(id, sql, stream);
      hanging.add(id);
      return null;
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

const timeout = Number(PARAMS.get("call_timeout_ms")) || undefined;
serveSqlService(async ({ token, database }) => {
  if (poisoned) throw new Error("connection closed: the shared instance is unusable after an earlier failed login");
  if (token !== LOOPBACK_TOKEN && token !== READER_TOKEN) {
    poisoned = true;
    throw new Error(`Invalid token "${token}": authentication failed (HTTP 401)`);
  }
  const db = await openDuckDB({ mode: "async", path: PATH,
                                wasmURL: assetURL("duckdb-wasm", "duckdb-eh.wasm"),
                                workerURL: assetURL("duckdb-worker") });
  const reader = token === READER_TOKEN;
  return checkpointing(asyncDuckDBHost(asTheClientDocumentsIt(db.adb, { reader, database: database || "my_db" }),
                                       database));
}, { callTimeoutMs: timeout, onCall: roundTrips() });
