// Multi-tab ownership. OPFS allows one access handle per file, so exactly one tab per origin
// (per database) may run the workers: the holder of the Web Lock "ducksync:owner".
// The other tabs are followers: their requests go to the owner over a BroadcastChannel (same
// envelope as to a worker, plus worker/from/to), replies come back by id (Arrow IPC bytes are
// copied by structured clone), and the owner mirrors its workers' events so a follower's
// status() shows the same phases. When the owner closes, the lock passes to a waiting tab,
// which boots its own workers; requests that were with the old owner fail with a retryable
// OwnerGoneError, requests not yet sent wait for the next owner.
// Message names come from ducksync.protocol (TAB.*). See docs/offline-and-tabs.md.
import { VERSION, TAB, EVENT } from "@ducksync/protocol";

export const DEFAULT_DB = "opfs://ducksync-local.duckdb"; // not "ducksync": that catalog name would clash with the engine's schema ducksync

export const lockName = (db) => (db === DEFAULT_DB ? "ducksync:owner" : `ducksync:owner:${db}`);

const wireError = (err) => ({ name: err?.name ?? "Error", code: err?.code ?? "internal",
                              message: String(err?.message ?? err), hint: err?.hint ?? null });

/** A worker link whose target (a worker, or the owner tab) is chosen later and may change. */
export class RoutedLink {
  constructor(name, makeError) {
    this.name = name;
    this.target = null;
    this.queue = [];
    this.makeError = makeError;
  }

  request(type, payload = {}, transfer = []) {
    if (this.target) return this.target.request(type, payload, transfer);
    return new Promise((resolve, reject) => this.queue.push({ args: [type, payload, transfer], resolve, reject }));
  }

  /** Route to `target` from now on; requests queued meanwhile go to it in order. */
  bind(target) {
    this.target = target;
    for (const { args, resolve, reject } of this.queue.splice(0)) target.request(...args).then(resolve, reject);
  }

  /** Stop routing (the owner went away); new requests wait for the next bind. */
  unbind(reason) {
    this.target?.abandon?.(reason);
    this.target = null;
  }

  terminate() {
    this.target?.terminate();
    for (const { reject } of this.queue.splice(0)) reject(this.makeError({ message: "client closed" }));
  }
}

/** A follower's link to one worker ("local" | "remote") of the owner tab. */
class OwnerLink {
  constructor(tabs, worker, owner) {
    Object.assign(this, { tabs, worker, owner });
    this.pending = new Map();
  }

  request(type, payload = {}) {
    const id = this.tabs.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.tabs.post({ kind: "request", id, type, payload, worker: this.worker, from: this.tabs.id, to: this.owner });
      } catch (err) { // e.g. a MessagePort in the payload: it cannot cross tabs
        this.pending.delete(id);
        reject(this.tabs.makeError({ name: "ProtocolError", code: "protocol",
          message: `cannot send ${type} to the owner tab: ${err.message}`,
          hint: "this request needs the tab that owns the database" }));
      }
    });
  }

  settle(data) {
    const pending = this.pending.get(data.id);
    if (!pending) return;
    this.pending.delete(data.id);
    data.ok ? pending.resolve(data.payload) : pending.reject(this.tabs.makeError(data.error));
  }

  abandon(reason) {
    for (const { reject } of this.pending.values()) {
      reject(this.tabs.makeError({ name: "OwnerGoneError", code: "owner_gone",
        message: `the tab that owned the database closed (${reason}) before answering`,
        hint: "retry: another tab (maybe this one) takes over in a few seconds" }));
    }
    this.pending.clear();
  }

  terminate() { this.abandon("client closed"); }
}

/**
 * Decides this tab's role and carries requests between tabs.
 * @param {object} o
 * @param {string} o.db                     database path (one owner per database)
 * @param {{local: RoutedLink, remote: RoutedLink}} o.links  the client's links
 * @param {() => {local, remote}} o.startWorkers  boots this tab's workers (on becoming owner)
 * @param {() => object} o.phases           the owner's current worker phases (for followers)
 * @param {(worker, message) => void} o.onOwnerEvent  a worker event mirrored from the owner
 * @param {() => void} o.onChange           role or owner changed
 * @param {(data) => Error} o.makeError     rebuilds a typed error (DucksyncError)
 */
export class Tabs {
  constructor({ db = DEFAULT_DB, links, startWorkers, phases, onOwnerEvent, onChange, makeError }) {
    Object.assign(this, { db, links, startWorkers, phases, onOwnerEvent, onChange, makeError });
    this.id = crypto.randomUUID().slice(0, 8);
    this.role = TAB.PENDING;
    this.owner = null; // {tab, since}
    this.nextId = 1;
    this.followerLinks = null;
    this.release = null;
    this.channel = new BroadcastChannel(`ducksync:tabs:${db}`);
    this.channel.onmessage = ({ data }) => this.#receive(data);
    addEventListener("pagehide", () => this.role === TAB.OWNER && this.post({ kind: "event", type: TAB.TAB_GONE, payload: { tab: this.id } }));
    if (!navigator.locks) { // no Web Locks (insecure context): behave as the only tab
      console.warn("ducksync: navigator.locks unavailable; this tab assumes it is the only one");
      this.#becomeOwner();
      return;
    }
    const name = lockName(db);
    navigator.locks.request(name, { ifAvailable: true }, (lock) => {
      if (lock) return this.#holdLock();
      this.#becomeFollower();
      navigator.locks.request(name, () => this.#holdLock()); // waits until the owner closes
      return null;
    });
  }

  status() {
    return { role: this.role, id: this.id, owner: this.owner?.tab ?? null, since: this.owner?.since ?? null };
  }

  post(message) {
    this.channel.postMessage({ v: VERSION, ...message });
  }

  /** Owner only: mirror one of this tab's worker events to the followers. */
  forward(worker, message) {
    if (this.role === TAB.OWNER) this.post({ kind: "event", type: TAB.TAB_EVENT, payload: { tab: this.id, worker, message } });
  }

  close() {
    this.release?.();
    this.channel.close();
  }

  #holdLock() {
    this.#becomeOwner();
    return new Promise((resolve) => { this.release = resolve; }); // held until close() or unload
  }

  #becomeOwner() {
    for (const link of Object.values(this.links)) link.unbind("this tab takes over");
    this.followerLinks = null;
    this.role = TAB.OWNER;
    this.owner = { tab: this.id, since: Date.now() };
    const workers = this.startWorkers();
    for (const [name, link] of Object.entries(this.links)) link.bind(workers[name]);
    this.#announce();
    this.onChange();
  }

  #becomeFollower() {
    this.role = TAB.FOLLOWER;
    this.post({ kind: "event", type: TAB.TAB_HELLO, payload: { tab: this.id } });
    this.onChange();
  }

  #announce() {
    this.post({ kind: "event", type: TAB.TAB_OWNER, payload: { ...this.owner, phases: this.phases() } });
  }

  #followOwner({ tab, since, phases }) {
    if (this.owner?.tab !== tab) {
      for (const link of Object.values(this.links)) link.unbind(`owner is now tab ${tab}`);
      this.owner = { tab, since };
      this.followerLinks = {};
      for (const [name, link] of Object.entries(this.links)) {
        this.followerLinks[name] = new OwnerLink(this, name, tab);
        link.bind(this.followerLinks[name]);
      }
    }
    for (const [worker, phase] of Object.entries(phases ?? {})) {
      this.onOwnerEvent(worker, { kind: "event", type: EVENT.PHASE, payload: phase });
    }
    this.onChange();
  }

  #ownerGone(tab) {
    if (this.owner?.tab !== tab) return;
    for (const link of Object.values(this.links)) link.unbind(`tab ${tab} closed`);
    this.owner = null;
    this.followerLinks = null;
    this.onChange();
  }

  async #serve({ id, type, payload, worker, from }) {
    let reply;
    try {
      const link = this.links[worker];
      if (!link) throw this.makeError({ name: "ProtocolError", code: "protocol", message: `no worker named ${worker}` });
      reply = { ok: true, payload: await link.request(type, payload) };
    } catch (err) {
      reply = { ok: false, error: wireError(err) };
    }
    this.post({ kind: "reply", id, worker, to: from, ...reply });
  }

  #receive(data) {
    if (data?.v !== VERSION) return; // another version of the app: not ours to answer
    if (this.role === TAB.OWNER) {
      if (data.kind === "request" && data.to === this.id) this.#serve(data);
      else if (data.type === TAB.TAB_HELLO) this.#announce();
      return;
    }
    if (data.kind === "reply" && data.to === this.id) this.followerLinks?.[data.worker]?.settle(data);
    else if (data.type === TAB.TAB_OWNER) this.#followOwner(data.payload);
    else if (data.type === TAB.TAB_GONE) this.#ownerGone(data.payload.tab);
    else if (data.type === TAB.TAB_EVENT && data.payload.tab === this.owner?.tab) {
      this.onOwnerEvent(data.payload.worker, data.payload.message);
    }
  }
}
