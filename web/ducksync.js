// ducksync embedding API (bundled to /dist/ducksync.js). See web/README.md.
//
//   import { connect } from "/dist/ducksync.js";
//   const db = await connect();                  // both workers started in parallel
//   await db.exec("CREATE TABLE t (i INTEGER)");
//   const rows = await db.query("SELECT * FROM t"); // [{i: 1}, ...] plain JSON-friendly objects
//
// Workers speak ducksync.protocol (generated constants, never hard-coded strings);
// query results arrive as Arrow IPC bytes (transferred, zero copy) and are decoded here.
import { tableFromIPC } from "apache-arrow";
import { VERSION, REQUEST, EVENT, STATE, TAB } from "@ducksync/protocol";
import { arrowToRows, columnsOf } from "./rows.js";
import { DEFAULT_DB, RoutedLink, Tabs } from "./tabs.js";
import { attachSync, installSync } from "./sync.js";
import { installBackup } from "./backup.js";
import { installConsole } from "./console_api.js";

export { registerServiceWorker } from "./offline.js";
export { openSession, userDatabase, removeDatabase, SessionError } from "./session.js";

const DIST = new URL("./", import.meta.url);
const REACHABILITY = new Set([STATE.CONNECTED, STATE.OFFLINE]);
const SETTLED = new Set([STATE.READY, STATE.CONNECTED, STATE.OFFLINE]);

/** An Error rebuilt from a worker's typed error: name ("QueryError"), code, hint, message,
 * and the server's request id when a server answered (what its operator looks up). */
export class DucksyncError extends Error {
  constructor({ name, code, message, hint, request_id }) {
    super(message);
    this.name = name || "DucksyncError";
    this.code = code || "internal";
    this.hint = hint ?? null;
    this.requestId = request_id ?? null;
  }
}

class WorkerLink {
  constructor(name, url, onEvent) {
    this.name = name;
    this.nextId = 1;
    this.pending = new Map();
    this.worker = new Worker(url, { type: "module", name: `ducksync-${name}` });
    this.worker.onmessage = ({ data }) => {
      if (data?.kind === "event") return onEvent(name, data); // events before id lookup
      if (data?.kind !== "reply") return;
      const pending = this.pending.get(data.id);
      if (!pending) return;
      this.pending.delete(data.id);
      data.ok ? pending.resolve(data.payload) : pending.reject(new DucksyncError(data.error));
    };
    this.worker.onerror = (ev) => {
      ev.preventDefault?.();
      onEvent(name, { kind: "event", type: EVENT.PHASE,
        payload: { worker: name, phase: STATE.FAILED, reason: `worker script error: ${ev.message || "failed to load"}` } });
    };
  }

  request(type, payload = {}, transfer = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ v: VERSION, kind: "request", id, type, payload }, transfer);
    });
  }

  terminate() {
    this.worker.terminate();
    for (const { reject } of this.pending.values()) reject(new DucksyncError({ message: "client closed" }));
    this.pending.clear();
  }
}

/** The client; create it with {@link connect} (or {@link createClient} to watch it boot). */
export class Client {
  // The remote transport: {transport: "proxy"|"motherduck", token, database, service}. Kept
  // in this private field only (never options, URLs, storage or events); the token goes to
  // this tab's remote worker and nowhere else. See docs/transports.md.
  #transport;
  // connect({getToken}): the app's own auth. Called in the tab that owns the database when
  // its remote worker needs a bearer token; what it returns goes to that worker only.
  #getToken;

  constructor({ duckdb = "async", db = DEFAULT_DB, transport = "proxy", token = null,
                database = null, service = null, autoSync = true, getToken = null,
                ...syncOptions } = {}) {
    if (getToken !== null && typeof getToken !== "function") {
      throw new TypeError("getToken must be a function returning a token (or a promise of one)");
    }
    if (syncOptions.tables != null && !Array.isArray(syncOptions.tables)) {
      throw new TypeError(`tables must be an array of table names, not ${JSON.stringify(syncOptions.tables)}`);
    }
    this.#transport = { transport, token, database, service };
    this.#getToken = getToken;
    this.phases = {
      local: { worker: "local", phase: STATE.BOOTING, step: "starting" },
      remote: { worker: "remote", phase: STATE.BOOTING, step: "starting" },
    };
    this.listeners = new Map();
    // In the local worker's URL: read before its first automatic sync could start
    // (autoSync: false; tables: the remote tables this device holds, see web/sync.js).
    this.options = autoSync === false ? { duckdb, db, autosync: "off" } : { duckdb, db };
    if (Array.isArray(syncOptions.tables)) this.options.tables = JSON.stringify(syncOptions.tables.map(String));
    // Requests go to this tab's workers when it owns the database, else to the owner tab
    // (web/tabs.js decides with a Web Lock, and re-routes when ownership moves).
    const makeError = (data) => new DucksyncError(data);
    this.local = new RoutedLink("local", makeError);
    this.remote = new RoutedLink("remote", makeError);
    // Settles once this tab's remote worker took the transport given to the constructor.
    this.transportReady = new Promise((resolve, reject) => { this.#transportSettled = { resolve, reject }; });
    this.transportReady.catch(() => {}); // observed by connect() / the caller
    this.ready = new Promise((resolve, reject) => {
      const check = () => {
        const { local, remote } = this.phases;
        if (local.phase === STATE.FAILED) reject(new DucksyncError({ name: "WorkerFailedError", code: "worker_failed", message: `local worker failed: ${local.reason}` }));
        else if (local.phase === STATE.READY && (SETTLED.has(remote.phase) || remote.phase === STATE.FAILED)) resolve(this);
        else return;
        this.off("phase", check);
      };
      this.on("phase", check);
    });
    addEventListener("online", () => this.#emit("status", this.status()));
    addEventListener("offline", () => this.#emit("status", this.status()));
    this.tabs = new Tabs({
      db, links: { local: this.local, remote: this.remote }, makeError,
      startWorkers: () => this.#startWorkers(),
      phases: () => this.phases,
      onOwnerEvent: (worker, message) => this.#onEvent(worker, message),
      onChange: () => this.#emit("status", this.status()),
    });
    attachSync(this, syncOptions); // sync(), conflicts(), status().sync: web/sync.js
  }

  /** Called by Tabs once this tab owns the database: both workers start now, in parallel. */
  #startWorkers() {
    const params = new URLSearchParams(this.options);
    performance.mark("ducksync:workers-start");
    for (const worker of ["local", "remote"]) this.phases[worker] = { worker, phase: STATE.BOOTING, step: "starting" };
    const onEvent = (w, e) => {
      // This tab's own worker asks this tab's app: never mirrored to other tabs.
      if (w === "remote" && e.type === EVENT.TOKEN_NEEDED) return this.#giveToken(remote, e.payload);
      this.#onEvent(w, e);
      this.tabs?.forward(w, e);
      // Reconnects are what the remote worker's probe sees, not only navigator.onLine
      // (a server can come back while the browser never went offline, or vice versa).
      if (w === "remote" && e.type === EVENT.PHASE && REACHABILITY.has(e.payload.phase)) {
        local.request(REQUEST.SYNC_CONFIGURE, { online: e.payload.phase === STATE.CONNECTED })
          .catch(() => {}); // the local worker may still be booting: it reads navigator.onLine
      }
    };
    const local = new WorkerLink("local", new URL(`local.worker.js?${params}`, DIST), onEvent);
    const remote = new WorkerLink("remote", new URL(`remote.worker.js${this.#getToken ? "?auth=app" : ""}`, DIST), onEvent);
    // The tab's online/offline events make the remote worker probe now. Workers hear these
    // events themselves in some browsers but not in all, nor under an emulated network
    // (DevTools, Playwright): without this, going offline showed only at the next
    // periodic probe, up to half a minute later.
    for (const name of ["online", "offline"]) {
      globalThis.addEventListener?.(name, () => remote.request(REQUEST.REMOTE_HEALTH).catch(() => {}),
        { signal: this.#closed.signal });
    }
    // One MessageChannel between the workers (later: Arrow batches for sync).
    const channel = new MessageChannel();
    local.request(REQUEST.CONNECT_PORT, { peer: "remote" }, [channel.port1]);
    remote.request(REQUEST.CONNECT_PORT, { peer: "local" }, [channel.port2]);
    const chosen = this.#transport;
    const applied = chosen.transport === "proxy"
      ? Promise.resolve({ transport: "proxy", remote: null })
      : remote.request(REQUEST.REMOTE_TRANSPORT, { ...chosen });
    applied.then(this.#transportSettled.resolve, (err) => {
      this.#transport = { transport: "proxy", token: null, database: null, service: null };
      this.#transportSettled.reject(err);
    });
    return { local, remote };
  }

  #transportSettled;
  #closed = new AbortController(); // removes the tab's listeners when the client closes

  /** Ask the app for a token and hand it to the remote worker (or why there is none). */
  async #giveToken(remote, { reason } = {}) {
    let answer;
    try {
      const given = await this.#getToken({ reason });
      const { token, expiresAt } = typeof given === "string" ? { token: given } : (given ?? {});
      if (typeof token !== "string" || !token) throw new Error("getToken() gave no token");
      const expires = expiresAt instanceof Date ? expiresAt.getTime() / 1000 : expiresAt;
      answer = { token, expires_at: Number.isFinite(expires) ? expires : null };
    } catch (err) {
      answer = { error: String(err?.message ?? err), code: err?.code ?? null };
    }
    remote.request(REQUEST.REMOTE_TOKEN, answer).catch(() => {}); // a closed worker: no one waits
  }

  /**
   * Switch how this tab's remote worker reaches the remote: `{transport: "proxy"}` (our
   * server, the default) or `{transport: "motherduck", token, database?}` (MotherDuck
   * directly). Resolves to {transport, remote}; a refused token rejects with an AuthError
   * and the previous transport stays. Only the tab that owns the database can switch.
   */
  async setTransport({ transport = "proxy", token = null, database = null, service = null } = {}) {
    if (this.tabs.status().role !== TAB.OWNER) {
      throw new DucksyncError({ name: "ProtocolError", code: "protocol",
        message: "switch the transport in the tab that owns the database",
        hint: "another tab of this app holds the database; use that tab (or close it)" });
    }
    const chosen = { transport, token, database, service };
    const reply = await this.remote.request(REQUEST.REMOTE_TRANSPORT, chosen);
    this.#transport = chosen;
    return reply;
  }

  #onEvent(worker, message) {
    const { type, payload } = message;
    if (type === EVENT.PHASE) {
      this.phases[worker] = { ...payload, worker };
      performance.mark(`ducksync:${worker}:${payload.phase}${payload.step ? ":" + payload.step : ""}`,
                       { detail: payload });
      this.#emit("phase", this.phases[worker]);
      this.#emit("status", this.status());
    } else {
      this.#emit(type, { worker, ...payload });
    }
  }

  #emit(event, data) {
    for (const fn of [...(this.listeners.get(event) ?? [])]) {
      try { fn(data); } catch (err) { console.error(`ducksync ${event} listener`, err); }
    }
  }

  /** Subscribe to "status" | "phase" | "log" | "progress"; returns an unsubscribe function. */
  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
    return () => this.off(event, fn);
  }

  off(event, fn) {
    this.listeners.get(event)?.delete(fn);
  }

  /** {local: {phase, step, reason, ...}, remote: {...}, online, ready, tab: {role, id, owner}}. */
  status() {
    const remote = this.phases.remote.phase;
    return { local: { ...this.phases.local }, remote: { ...this.phases.remote },
             online: navigator.onLine && remote === STATE.CONNECTED,
             ready: this.phases.local.phase === STATE.READY,
             tab: this.tabs?.status() ?? { role: "pending" } };
  }

  /** Run SQL on the local database; resolves to {columns: [{name, type}], rows: [[...]], table}. */
  async queryTable(sql) {
    const { ipc, types } = await this.local.request(REQUEST.QUERY, { sql });
    const table = tableFromIPC(ipc);
    return { columns: columnsOf(table, types), rows: arrowToRows(table, "arrays", types), table };
  }

  /** Run SQL; resolves to an array of plain row objects (see web/README.md for value types). */
  async query(sql) {
    const { ipc, types } = await this.local.request(REQUEST.QUERY, { sql });
    return arrowToRows(tableFromIPC(ipc), "objects", types);
  }

  /** Run a statement for its effect (made durable in OPFS before this resolves). */
  async exec(sql) {
    await this.local.request(REQUEST.EXEC, { sql });
  }

  /** Ping a worker ("local" | "remote"), or "peer": local pings remote over their channel. */
  ping(target = "local") {
    if (target === "peer") return this.local.request(REQUEST.PEER_PING);
    return this[target].request(REQUEST.PING);
  }

  /** Re-probe the remote: {status: "connected"|"offline"|"failed", reason, remote}. */
  remoteHealth() {
    return this.remote.request(REQUEST.REMOTE_HEALTH);
  }

  /** The remote's tables, read through our server: {remote, tables: [{schema, name, rows}]}. */
  remoteTables() {
    return this.remote.request(REQUEST.REMOTE_TABLES);
  }

  close() {
    this.#closed.abort();
    this.local.terminate();
    this.remote.terminate();
    this.tabs.close();
  }
}

installSync(Client);
installBackup(Client); // export(), import(): web/backup.js
installConsole(Client); // consoleRun(), consolePage(), ...: web/console_api.js

/** Start both workers now and return the client (not yet ready: await `client.ready`). */
export function createClient(options = {}) {
  return new Client(options);
}

/** Start both workers; resolves once the local worker is ready and the remote one settled. */
export async function connect(options = {}) {
  const client = await createClient(options).ready;
  if ((options.transport ?? "proxy") !== "proxy" && client.status().tab.role === TAB.OWNER) {
    try {
      await client.transportReady;
    } catch (err) {
      client.close(); // the caller asked for these credentials: no half-connected client
      throw err;
    }
  }
  return client;
}
