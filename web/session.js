// Sign-in with the server's own users (DUCKSYNC_USERS), for the demo page or any app that
// uses them: who is signed in, which local database is theirs, tokens for the remote worker.
//
//   const session = openSession();              // synchronous: the database to open is known now
//   const db = session.database                 // this user's OPFS file, or null: sign in first
//     ? createClient({ db: session.database, getToken: session.getToken }) : null;
//   await session.signIn(username, password);   // then open that user's database
//   await session.signOut({ clear: true, client });
//
// One local database per user (`opfs://ducksync-u<sha-256 of the name>.duckdb`), so a shared
// browser never shows or pushes one user's rows as another's: the engine's outbox and sync
// state live in that file too. The page remembers only *who* signed in last (localStorage,
// never a token or password), which is what lets it open their data offline. The session
// token travels in the HttpOnly cookie; `getToken` trades the cookie for a token at
// /api/v1/auth/refresh, refusing one for anyone but this database's user. See docs/auth.md.
import { DEFAULT_DB, lockName } from "./tabs.js";

const AUTH = "/api/v1/auth";
const USER_KEY = "ducksync:user"; // {subject, db}: the last signed-in user of this browser
const MODE_KEY = "ducksync:auth"; // "open" | "users": what the server asked for last time
const SIGNED_OUT_KEY = "ducksync:signed-out"; // a sign-out the server did not hear (offline)
const REFRESH_BEFORE_S = 60;
const PROBE_TIMEOUT_MS = 5000;

/** An Error with the server's code and hint ("auth", "remote_unavailable", ...). */
export class SessionError extends Error {
  constructor({ message, code = "auth", hint = null }) {
    super(message);
    this.name = code === "remote_unavailable" ? "RemoteUnavailableError" : "AuthError";
    this.code = code;
    this.hint = hint;
  }
}

/** This user's local database: a stable name no other user can share, that hides the name. */
export async function userDatabase(subject) {
  const bytes = new TextEncoder().encode(`ducksync-user\u0000${subject}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = Array.from(digest.slice(0, 12), (b) => b.toString(16).padStart(2, "0")).join("");
  return `opfs://ducksync-u${hex}.duckdb`;
}

/** Delete a local database (file, WAL, set-aside WALs) once no tab holds it. */
export async function removeDatabase(db) {
  const name = db.slice("opfs://".length);
  if (!db.startsWith("opfs://") || name.includes("/")) throw new TypeError(`not a top-level OPFS database: ${db}`);
  const wait = AbortSignal.timeout(15000); // a tab that never lets go: say so, do not hang
  await navigator.locks.request(lockName(db), { signal: wait }, async () => {
    const root = await navigator.storage.getDirectory();
    // A terminated worker's access handles close shortly after terminate(): retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        for await (const entry of root.keys()) {
          if (entry === name || entry.startsWith(`${name}.`)) await root.removeEntry(entry);
        }
        return;
      } catch (err) {
        if (err?.name !== "NoModificationAllowedError" || attempt >= 50) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }).catch((err) => {
    if (err?.name !== "TimeoutError" && err?.name !== "AbortError") throw err;
    throw new SessionError({ message: "another tab still has this user's data open, so it was not deleted",
                             code: "protocol", hint: "close the app's other tabs, then sign in and out again to delete it" });
  });
}

const remembered = () => {
  try { return JSON.parse(localStorage.getItem(USER_KEY) ?? "null"); } catch { return null; }
};

async function call(path, { method = "GET", body } = {}) {
  let response;
  try {
    response = await fetch(AUTH + path, {
      method, cache: "no-store", credentials: "same-origin",
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
  } catch (err) {
    throw new SessionError({ code: "remote_unavailable", message: `cannot reach the server (${err.message})`,
                             hint: "check the network and that the server is running; your local data stays usable meanwhile" });
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    throw new SessionError({ message: answer?.error?.message ?? `HTTP ${response.status}`,
                             code: answer?.error?.code ?? "auth", hint: answer?.error?.hint ?? null });
  }
  return answer;
}

/**
 * The browser's sign-in state. `mode`: "open" (the server needs no sign-in), "signed-in",
 * "signed-out" (sign in to go on), "expired" (the last user's data is open; sign in again to
 * sync) or "offline" (the last user's data is open; the server cannot be reached).
 */
export class Session {
  #token = null;
  #timer = null;
  #margin = REFRESH_BEFORE_S;

  constructor() {
    const last = remembered();
    this.user = last?.subject ?? null;
    // Known synchronously, so the workers start at once (the probe confirms or reloads).
    this.database = last?.db ?? (localStorage.getItem(MODE_KEY) === "users" ? null : DEFAULT_DB);
    this.mode = last ? "offline" : this.database ? "open" : "signed-out";
    this.expiresAt = null;
    this.rules = false; // the server enforces sync rules (known once it answered)
    this.listeners = new Set();
    this.getToken = this.getToken.bind(this);
    // Someone signed in or out in another tab: this tab's database may no longer be theirs.
    addEventListener("storage", (event) => {
      if (event.key === USER_KEY && (remembered()?.subject ?? null) !== this.user) this.#emit("elsewhere");
    });
    this.probed = this.#probe();
  }

  /** Subscribe to "change" (any state change) and "elsewhere" (another tab changed the user). */
  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  #emit(what) {
    for (const fn of [...this.listeners]) {
      try { fn(what, this.state()); } catch (err) { console.error("ducksync session listener", err); }
    }
  }

  /** {mode, user, database, expiresAt, signInRequired, rules}: plain data, never a token. */
  state() {
    return { mode: this.mode, user: this.user, database: this.database, expiresAt: this.expiresAt,
             signInRequired: this.mode !== "open", rules: this.rules };
  }

  /** Ask the server who this browser is; "reload" when the database opened is the wrong one. */
  async #probe() {
    let me;
    try {
      me = await call("/me");
    } catch (err) {
      // Unreachable, restarting (503), rate-limited: not an answer about who we are.
      if (err.code !== "auth") return this.#set(this.user ? "offline" : this.mode);
      localStorage.setItem(MODE_KEY, "users");
      return this.#set(this.user ? "expired" : "signed-out", this.database === DEFAULT_DB ? "reload" : null);
    }
    this.rules = Boolean(me.rules);
    if (me.kind === "dev") {
      localStorage.setItem(MODE_KEY, "open");
      localStorage.removeItem(USER_KEY);
      return this.#set("open", this.database === DEFAULT_DB ? null : "reload");
    }
    localStorage.setItem(MODE_KEY, "users");
    if (localStorage.getItem(SIGNED_OUT_KEY)) { // signed out offline: tell the server now
      await call("/logout", { method: "POST" }).catch(() => {});
      localStorage.removeItem(SIGNED_OUT_KEY);
      return this.#set(this.user ? "expired" : "signed-out", this.database === DEFAULT_DB ? "reload" : null);
    }
    if (me.subject !== this.user) { // a valid session for someone else: open their database
      localStorage.setItem(USER_KEY, JSON.stringify({ subject: me.subject, db: await userDatabase(me.subject) }));
      return this.#set("signed-in", "reload");
    }
    this.#schedule(me.expires_at ?? null); // kept alive even if nothing syncs for a while
    return this.#set("signed-in");
  }

  #set(mode, action = null) {
    this.mode = mode;
    this.#emit("change");
    return action;
  }

  /** Sign in; resolves to {user, database, sameUser} (sameUser: the open database is theirs). */
  async signIn(username, password) {
    if (!username || !password) throw new SessionError({ message: "enter a username and a password" });
    const answer = await call("/login", { method: "POST", body: { username, password } });
    const database = await userDatabase(answer.subject);
    localStorage.setItem(USER_KEY, JSON.stringify({ subject: answer.subject, db: database }));
    localStorage.setItem(MODE_KEY, "users");
    localStorage.removeItem(SIGNED_OUT_KEY);
    const sameUser = answer.subject === this.user && database === this.database;
    if (sameUser) this.#accept(answer);
    this.#set("signed-in");
    return { user: answer.subject, database, sameUser };
  }

  /**
   * Sign out: stop `client` (its syncs end with it), forget this user here, and with
   * `clear` delete their local database too. Works offline (the server hears of it later).
   */
  async signOut({ clear = false, client = null } = {}) {
    const database = this.database;
    localStorage.setItem(SIGNED_OUT_KEY, "1");
    localStorage.removeItem(USER_KEY);
    clearTimeout(this.#timer);
    this.#token = null;
    client?.close();
    try {
      await call("/logout", { method: "POST" });
      localStorage.removeItem(SIGNED_OUT_KEY);
    } catch { /* offline: the next probe logs out */ }
    if (clear && database && database !== DEFAULT_DB) await removeDatabase(database);
    this.user = null;
    this.database = null;
    this.expiresAt = null;
    this.#set("signed-out");
  }

  /**
   * `connect({getToken})` for this user: a session token with a minute or more left,
   * refreshed through the cookie. Refuses a session of anyone else (signed in elsewhere).
   */
  async getToken() {
    if (this.#token && this.expiresAt - Date.now() / 1000 > this.#margin) {
      return { token: this.#token, expiresAt: this.expiresAt };
    }
    if (!this.user) throw new SessionError({ message: "nobody is signed in", hint: "sign in to sync" });
    let answer;
    try {
      answer = await call("/refresh", { method: "POST" });
    } catch (err) {
      if (err.code === "auth") {
        this.#token = null;
        this.#set("expired");
        throw new SessionError({ message: `the session of ${this.user} ended`, hint: "sign in again to sync" });
      }
      throw err;
    }
    if (answer.subject !== this.user) {
      throw new SessionError({ message: `this browser is now signed in as ${answer.subject}, not ${this.user}`,
                               hint: "reload the page to open that user's data" });
    }
    this.#accept(answer);
    if (this.mode !== "signed-in") this.#set("signed-in");
    return { token: this.#token, expiresAt: this.expiresAt };
  }

  /**
   * Keep the token, and refresh the session (the cookie too) a minute before it expires, or
   * after two thirds of its life when that is shorter (DUCKSYNC_SESSION_TTL under 3 minutes).
   */
  #accept({ token, expires_at: expiresAt }) {
    this.#token = token;
    this.#schedule(expiresAt);
  }

  #schedule(expiresAt) {
    this.expiresAt = expiresAt;
    clearTimeout(this.#timer);
    if (!expiresAt) return;
    this.#margin = Math.min(REFRESH_BEFORE_S, (expiresAt - Date.now() / 1000) / 3);
    const inMs = (expiresAt - this.#margin) * 1000 - Date.now();
    this.#timer = setTimeout(() => { this.#token = null; this.getToken().catch(() => {}); }, Math.max(inMs, 1000));
  }
}

/** The browser's session (synchronous; `session.probed` resolves to "reload" or null). */
export function openSession() {
  return new Session();
}
