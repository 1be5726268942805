// The sync half of the embedding API, installed on Client by web/ducksync.js.
// Everything runs in the local worker (workers/sync_worker.py): this file only sends
// requests and keeps the last sync status that the worker broadcast.
import { REQUEST } from "@ducksync/protocol";

// Until the worker (or, in a follower tab, the owner's worker) answers: nothing is proved.
const UNKNOWN = Object.freeze({ phase: "pending", running: false, progress: null, last_sync: null,
                                last_error: null, last_outcome: null, in_sync: false,
                                unsent: null, unsent_tables: {}, keyless_tables: [],
                                not_held_changed: [],
                                pending_conflicts: 0 });
const DIRECTIONS = new Set(["push", "pull", "both"]);

/** Called from the Client constructor: keep the sync status, apply connect() options. */
export function attachSync(client, { syncInterval, syncOnWrite, syncDebounce, conflictPolicy, tables } = {}) {
  client.syncState = { ...UNKNOWN };
  client.on("sync", ({ worker, ...state }) => { client.syncState = state; });
  const settings = {};
  if (syncInterval !== undefined) settings.interval_s = syncInterval;
  if (syncOnWrite !== undefined) settings.on_write = syncOnWrite;
  if (syncDebounce !== undefined) settings.debounce_s = syncDebounce;
  if (conflictPolicy !== undefined) settings.policy = conflictPolicy;
  client.ready.then(async () => {
    if (Object.keys(settings).length) await client.configureSync(settings);
    // The owner tab's worker took them from its URL already (before its first sync);
    // said again for a follower tab, whose requests go to the owner (a no-op if equal).
    if (tables) await client.holdOnly(tables);
    await client.syncStatus();
  }).catch(() => {}); // a failed start is reported by `ready` itself
}

const methods = {
  /**
   * Sync now. `tables` (default: every table with a primary key), `direction`
   * "push" | "pull" | "both", `policy` "manual" | "remote-wins" | "local-wins" | "newest:COL",
   * `allowMassDelete`: let this run delete more than half of a table (>= 1000 rows) on the
   * other side (else that table stops: its report has `mass_delete: {side, rows, of}`).
   * Resolves to {pushed, pulled, conflicts, bytes, ms, converged, outcome, tables: [...]};
   * a table dropped on one side since the last sync reports `dropped_on: "local"|"remote"`
   * (see redownload / reupload / dropEverywhere). Rejects with a DucksyncError (code
   * "cancelled" after cancelSync()).
   */
  sync({ tables, direction = "both", policy, batchRows, allowMassDelete = false } = {}) {
    if (!DIRECTIONS.has(direction)) {
      return Promise.reject(new TypeError(`direction must be "push", "pull" or "both", not ${JSON.stringify(direction)}`));
    }
    return this.local.request(REQUEST.SYNC, { tables: tables ?? null, direction, policy: policy ?? null,
                                              batch_rows: batchRows ?? null,
                                              allow_mass_delete: Boolean(allowMassDelete) });
  },
  /** A table dropped here since the last sync: download it again from the remote. */
  redownload(table) {
    return this.sync({ tables: [table], direction: "pull" });
  },
  /** A table dropped on the remote since the last sync: upload this copy again. */
  reupload(table) {
    return this.sync({ tables: [table], direction: "push" });
  },
  /** A table a mass-delete guard stopped: sync it, letting it delete (the user said yes). */
  confirmMassDelete(table) {
    return this.sync({ tables: [table], allowMassDelete: true });
  },
  /** Drop `table` here and on the remote (a sync never does): {table, local, remote}. */
  dropEverywhere(table) {
    return this.local.request(REQUEST.SYNC_DROP, { table: String(table) });
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
  /**
   * Rows the server's sync rules refused (not yours, or a read-only table), kept here and
   * not sent again while unchanged: [{table, key, reason, why, deleted, local, rejected_at}].
   */
  async rejections(table) {
    return (await this.local.request(REQUEST.SYNC_REJECTIONS, { table: table ?? null }))
      .rejections;
  },
  /** Give a refused change up: the next sync brings back the server's row, if yours. */
  discardRejection(table, key) {
    return this.local.request(REQUEST.SYNC_REJECTION, { table, key: String(key),
                                                        action: "discard" });
  },
  /** Send a refused row again, unchanged, at the next sync (after the rules changed). */
  retryRejection(table, key) {
    return this.local.request(REQUEST.SYNC_REJECTION, { table, key: String(key),
                                                        action: "retry" });
  },
  /**
   * Which remote tables this device holds: {all, held: [...], not_held: [...]}. `all`:
   * tables not listed are held too (the default: every table the server offers).
   */
  subscriptions() {
    return this.local.request(REQUEST.SYNC_SUBSCRIBE, {});
  },
  /** Hold exactly `tables` from now on (null: every table); the same as connect({tables}). */
  holdOnly(tables) {
    return this.local.request(REQUEST.SYNC_SUBSCRIBE, { only: true, tables: tables === null ? null : [...tables].map(String) });
  },
  /** Hold `table` (pulled by the next sync; a table new here arrives by bootstrap). */
  subscribe(table) {
    return this.local.request(REQUEST.SYNC_SUBSCRIBE, { table: String(table), held: true, keep_local: true });
  },
  /**
   * Stop holding `table`. `keepLocal` (default true) keeps the local copy (no longer
   * synced); false drops it and its sync state here. The remote's rows are never touched.
   */
  unsubscribe(table, { keepLocal = true } = {}) {
    return this.local.request(REQUEST.SYNC_SUBSCRIBE, { table: String(table), held: false,
                                                        keep_local: Boolean(keepLocal) });
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
  /**
   * The sync status, asked of the worker now (of the owner tab's, in a follower): what
   * `status().sync` holds from then on, until the next `sync` event.
   * {phase, in_sync, unsent, unsent_tables, last_sync, last_outcome, last_error, ...}
   */
  async syncStatus() {
    this.syncState = await this.local.request(REQUEST.SYNC_STATUS);
    return { ...this.syncState };
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
    return { ...status.call(this), sync: { ...(this.syncState ?? UNKNOWN) } };
  };
}
