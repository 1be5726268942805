// The sync half of the embedding API, installed on Client by web/ducksync.js.
// Everything runs in the local worker (workers/sync_worker.py): this file only sends
// requests and keeps the last sync status that the worker broadcast.
import { REQUEST } from "@ducksync/protocol";

const IDLE = Object.freeze({ phase: "idle", running: false, progress: null, last_sync: null,
                             last_error: null, pending_conflicts: 0 });
const DIRECTIONS = new Set(["push", "pull", "both"]);

/** Called from the Client constructor: keep the sync status, apply connect() options. */
export function attachSync(client, { syncInterval, syncOnWrite, syncDebounce, conflictPolicy } = {}) {
  client.syncState = { ...IDLE };
  client.on("sync", ({ worker, ...state }) => { client.syncState = state; });
  const settings = {};
  if (syncInterval !== undefined) settings.interval_s = syncInterval;
  if (syncOnWrite !== undefined) settings.on_write = syncOnWrite;
  if (syncDebounce !== undefined) settings.debounce_s = syncDebounce;
  if (conflictPolicy !== undefined) settings.policy = conflictPolicy;
  client.ready.then(async () => {
    if (Object.keys(settings).length) await client.configureSync(settings);
    client.syncState = await client.local.request(REQUEST.SYNC_STATUS);
  }).catch(() => {}); // a failed start is reported by `ready` itself
}

const methods = {
  /**
   * Sync now. `tables` (default: every table with a primary key), `direction`
   * "push" | "pull" | "both", `policy` "manual" | "remote-wins" | "local-wins" | "newest:COL".
   * Resolves to {pushed, pulled, conflicts, bytes, ms, converged, outcome, tables: [...]};
   * rejects with a DucksyncError (code "cancelled" after cancelSync()).
   */
  sync({ tables, direction = "both", policy, batchRows } = {}) {
    if (!DIRECTIONS.has(direction)) {
      return Promise.reject(new TypeError(`direction must be "push", "pull" or "both", not ${JSON.stringify(direction)}`));
    }
    return this.local.request(REQUEST.SYNC, { tables: tables ?? null, direction, policy: policy ?? null,
                                              batch_rows: batchRows ?? null });
  },
  /** Cancel the running sync (resolves to true if one was running). */
  async cancelSync() {
    return (await this.local.request(REQUEST.SYNC_CANCEL)).cancelled;
  },
  /** {interval (s, 0 = off), onWrite, debounce (s), policy, batchRows} -> the settings in force. */
  configureSync({ interval, onWrite, debounce, policy, batchRows, ...raw } = {}) {
    return this.local.request(REQUEST.SYNC_CONFIGURE, {
      interval_s: interval ?? raw.interval_s ?? null, on_write: onWrite ?? raw.on_write ?? null,
      debounce_s: debounce ?? raw.debounce_s ?? null, policy: policy ?? raw.policy ?? null,
      batch_rows: batchRows ?? raw.batch_rows ?? null });
  },
  /** Pending manual conflicts: [{table, key, local, remote, local_deleted, remote_deleted, detected_at}]. */
  async conflicts(table) {
    return (await this.local.request(REQUEST.SYNC_CONFLICTS, { table: table ?? null })).conflicts;
  },
  /** Settle one conflict locally ("local" | "remote"); the next sync carries the decision. */
  resolveConflict(table, key, take) {
    return this.local.request(REQUEST.SYNC_RESOLVE, { table, key: String(key), take });
  },
  /** Local tables with row counts and sync state. */
  async syncTables() {
    return (await this.local.request(REQUEST.SYNC_TABLES)).tables;
  },
  /** Recent rows of ducksync.sync_log, newest first (counts as numbers: JSON-friendly). */
  async syncLog(limit = 50) {
    const runs = (await this.local.request(REQUEST.SYNC_LOG, { limit })).runs;
    return runs.map((run) => Object.fromEntries(Object.entries(run).map(
      ([k, v]) => [k, typeof v === "bigint" ? Number(v) : v])));
  },
  /** Re-probe the server now (the remote worker also checks periodically). */
  checkHealth() {
    return this.remoteHealth();
  },
};

/** Add the sync methods to Client and `sync` to status(). */
export function installSync(Client) {
  for (const [name, fn] of Object.entries(methods)) {
    Object.defineProperty(Client.prototype, name, { value: fn, writable: true, configurable: true });
  }
  const status = Client.prototype.status;
  Client.prototype.status = function statusWithSync() {
    return { ...status.call(this), sync: { ...(this.syncState ?? IDLE) } };
  };
}
