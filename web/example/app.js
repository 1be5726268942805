// The todo app: a local DuckDB table in the browser, synced with the server when online.
// Everything ducksync does for the app happens in the first few calls: connect(), exec(),
// query(), sync() and the "sync" event. The rest is plain DOM code. See web/README.md.
import { connect, registerServiceWorker } from "../dist/ducksync.js";

const $ = (id) => document.getElementById(id);
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

// --- 1. Open the database ---------------------------------------------------------------
// `db`: this app's own database file in the browser's private storage (OPFS), so other apps
// of this origin (the ducksync page at /) keep theirs. `tables`: the one remote table this
// device holds and syncs, whatever else the server has.
let db;
try {
  db = await connect({
    db: "opfs://ducksync-example-todos.duckdb",
    tables: ["todos"],
    conflictPolicy: "newest:updated_at", // edited on two devices: the later edit wins
    syncInterval: 30, // seconds; it also syncs shortly after each write, and on reconnect
  });
} catch (err) {
  showError(err); // e.g. a browser without OPFS: the error says why
  throw err;
}

// A primary key is what lets ducksync match rows across devices; a UUID made on the device
// needs no server to hand out ids while offline.
await db.exec(`CREATE TABLE IF NOT EXISTS todos (
  id UUID PRIMARY KEY,
  title VARCHAR NOT NULL,
  done BOOLEAN NOT NULL DEFAULT false,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now())`);

// --- 2. Read and write with SQL ---------------------------------------------------------
// The API takes SQL text, so what the user typed is quoted as a SQL string literal.
const sqlString = (text) => `'${String(text).replaceAll("'", "''")}'`;

// Each write is durable in OPFS when exec() resolves; a sync follows by itself.
const todos = {
  list: () => db.query("SELECT id, title, done, updated_at FROM todos ORDER BY done, updated_at DESC"),
  add: (title) => db.exec(`INSERT INTO todos (id, title) VALUES (${sqlString(crypto.randomUUID())}, ${sqlString(title)})`),
  setDone: (id, done) => db.exec(`UPDATE todos SET done = ${done}, updated_at = now() WHERE id = ${sqlString(id)}`),
  rename: (id, title) => db.exec(`UPDATE todos SET title = ${sqlString(title)}, updated_at = now() WHERE id = ${sqlString(id)}`),
  remove: (id) => db.exec(`DELETE FROM todos WHERE id = ${sqlString(id)}`),
};

// --- 3. Show what the sync is doing -----------------------------------------------------
const PHASES = {
  idle: "In sync", pending: "Not synced yet", syncing: "Syncing…", offline: "Offline",
  error: "Sync failed", conflict: "Conflicts to resolve",
};
let wasRunning = false;
db.on("sync", showSync); // every change of the sync status
db.on("status", showOnline); // workers and network
showSync(db.status().sync);
showOnline(db.status());

function showSync(state) {
  $("sync-status").dataset.phase = state.phase;
  $("sync-status").textContent = PHASES[state.phase] ?? state.phase;
  const unsent = state.unsent_tables?.todos ?? state.unsent;
  $("pending").dataset.count = String(unsent ?? "");
  $("pending").textContent = unsent ? `${count(unsent, "change")} not sent yet`
    : state.last_sync ? `last synced ${readable(utc(state.last_sync))}` : "";
  if (wasRunning && !state.running) render(); // a sync ended: rows may have arrived
  wasRunning = Boolean(state.running);
  // A sync of its own accord (at start, after a write, on reconnect) failed: say why here,
  // as "Sync now" does; gone once a sync succeeds.
  if (state.phase === "error" && state.last_error) report(`Sync failed: ${describe(state.last_error)}`, "error");
  else if (state.phase !== "error" && !state.running && $("sync-result").dataset.state === "error") report("", "idle");
}

function showOnline(status) {
  $("online").dataset.online = String(status.online);
  $("online").textContent = status.online ? "online" : "offline: changes are kept here";
}

// "Sync now": the report goes in the page, in words.
$("sync-now").addEventListener("click", async () => {
  $("sync-now").disabled = true;
  report("Syncing…", "running");
  try {
    const r = await db.sync(); // the tables given to connect()
    if (r.outcome === "error") report(`Sync failed: ${describe(r.error)}`, "error");
    else if (!r.pushed && !r.pulled) report(`In sync (checked in ${Math.round(r.ms)} ms): nothing to send or receive.`, "ok");
    else report(`Synced in ${Math.round(r.ms)} ms: ${count(r.pushed, "change")} sent, ${count(r.pulled, "change")} received.`, "ok");
  } catch (err) {
    report(`Sync failed: ${describe(err)}`, "error");
  } finally {
    $("sync-now").disabled = false;
    render();
  }
});

// --- 4. The list ------------------------------------------------------------------------
let editing = null; // the id whose title is being edited: a re-render waits for it
let renders = 0;

async function render() {
  if (editing) return;
  const mine = ++renders;
  const rows = await todos.list();
  if (mine !== renders || editing) return; // a newer render is on its way
  $("todos").replaceChildren(...rows.map(row));
  $("empty").hidden = rows.length > 0;
}

function row(todo) {
  const li = $("todo-row").content.firstElementChild.cloneNode(true);
  li.dataset.id = todo.id;
  li.dataset.done = String(todo.done);
  const done = li.querySelector(".todo-done");
  done.checked = todo.done;
  done.setAttribute("aria-label", `Done: ${todo.title}`);
  done.addEventListener("change", () => act(todos.setDone(todo.id, done.checked)));
  li.querySelector(".todo-title").textContent = todo.title;
  const when = li.querySelector(".todo-when");
  when.dateTime = todo.updated_at; // ISO 8601 in UTC, as the API returns TIMESTAMPTZ
  when.textContent = readable(new Date(todo.updated_at));
  when.title = todo.updated_at;
  li.querySelector(".todo-edit").addEventListener("click", () => startEdit(li, todo));
  li.querySelector(".todo-edit").setAttribute("aria-label", `Edit: ${todo.title}`);
  li.querySelector(".todo-delete").addEventListener("click", () => act(todos.remove(todo.id)));
  li.querySelector(".todo-delete").setAttribute("aria-label", `Delete: ${todo.title}`);
  return li;
}

function startEdit(li, todo) {
  editing = todo.id;
  const input = li.querySelector(".todo-input");
  const save = li.querySelector(".todo-save");
  input.value = todo.title;
  for (const [node, hidden] of [[input, false], [save, false], [li.querySelector(".todo-title"), true],
                                [li.querySelector(".todo-edit"), true]]) node.hidden = hidden;
  input.focus();
  const finish = (title) => {
    editing = null;
    act(title && title !== todo.title ? todos.rename(todo.id, title) : Promise.resolve());
  };
  save.addEventListener("click", () => finish(input.value.trim()));
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") finish(input.value.trim());
    if (event.key === "Escape") finish(null);
  });
}

$("add").addEventListener("submit", (event) => {
  event.preventDefault();
  const title = $("new-title").value.trim();
  if (!title) return;
  $("new-title").value = "";
  act(todos.add(title));
});

/** Run a write, then redraw; a failure is shown, never swallowed. */
async function act(write) {
  $("error").hidden = true;
  try {
    await write;
  } catch (err) {
    showError(err);
  }
  await render();
}

// --- small helpers ----------------------------------------------------------------------
function readable(date) {
  return dateFormat.format(date); // the user's own time zone and language
}
function utc(stamp) { // the sync status' stamps: "YYYY-MM-DD HH:MM:SS" in UTC
  return new Date(`${stamp.replace(" ", "T").slice(0, 19)}Z`);
}
function count(n, word) {
  return `${n} ${n === 1 ? word : `${word}s`}`;
}
function sentence(text) {
  const s = String(text ?? "").trim();
  return !s || /[.!?…]$/.test(s) ? s : `${s}.`;
}
function describe(err) { // a DucksyncError (or its wire form): message, then what to do
  return sentence(err.message) + (err.hint ? ` What to do: ${sentence(err.hint)}` : "");
}
function report(text, state) {
  $("sync-result").textContent = text;
  $("sync-result").dataset.state = state;
}
function showError(err) {
  $("error").textContent = describe(err);
  $("error").hidden = false;
}

// --- 5. Ready ---------------------------------------------------------------------------
await render();
for (const id of ["new-title", "add-button", "sync-now"]) $(id).disabled = false;
window.ducksync = db; // for the devtools console (and the tests)
document.body.dataset.ready = "true";
// Offline after one visit: the service worker keeps the app's files (and this page).
registerServiceWorker();
