// Boots a raw Pyodide module worker: loads Pyodide and our Python package from our own
// server, then hands every message to the Python module named by `module`.
// Until Python is up, this file answers `ping` itself and queues other requests, so a
// worker answers ping in every phase. Only JS glue lives here; logic is in Python.
/* global DUCKSYNC_ASSETS */
import { VERSION, REQUEST, EVENT, STATE } from "@ducksync/protocol";
import "./wasm_memories.js"; // first: it sees every WASM module this worker instantiates

const ASSETS = DUCKSYNC_ASSETS; // injected by scripts/build_assets.py (versioned vendor paths)
const DIST = new URL("./", import.meta.url); // bundles live in web/dist/

export const assetURL = (key, file = "") => new URL(ASSETS[key] + file, DIST).href;

// Diagnostics: when each boot milestone happened, as absolute times (performance.timeOrigin
// + now, so the page's and every worker's clocks line up). Nothing in the app reads it;
// scripts/measure_startup.py --timeline reads it through Playwright's worker handles.
export const timeline = (self.ducksyncTimeline ??= {});
export const mark = (name) => { timeline[name] ??= performance.timeOrigin + performance.now(); };
mark("entry");

// Start-up order: both workers start at once, but only the local one gates the first query.
// On 2 cores the remote worker's interpreter start competes with the local worker's
// Pyodide and DuckDB, so the remote worker fetches its files at once and waits with the
// CPU-heavy part until the local worker settles (told over this channel) or REMOTE_WAIT_MS.
const BOOT_CHANNEL = "ducksync-boot";
const REMOTE_WAIT_MS = 5000;
let bootChannel = null;

function post(message, transfer = []) {
  self.postMessage(message, transfer);
  const p = message?.type === EVENT.PHASE ? message.payload : null;
  if (p?.worker === "local" && (p.phase === STATE.READY || p.phase === STATE.FAILED)) {
    bootChannel ??= new BroadcastChannel(BOOT_CHANNEL);
    bootChannel.postMessage({ settled: "local" });
  }
}

function localSettled(timeoutMs) {
  return new Promise((resolve) => {
    const channel = new BroadcastChannel(BOOT_CHANNEL);
    const done = (why) => { clearTimeout(timer); channel.close(); resolve(why); };
    const timer = setTimeout(() => done("timeout"), timeoutMs);
    channel.onmessage = () => done("local-settled");
  });
}

function phaseEvent(worker, t0, step, extra = {}) {
  return { v: VERSION, kind: "event", type: EVENT.PHASE,
           payload: { worker, phase: STATE.BOOTING, step, elapsed_ms: performance.now() - t0,
                      ...extra } };
}

// Restore the memory snapshot made at build time (scripts/pyodide_snapshot.mjs) instead of
// booting the interpreter: the top start-up cost (docs/benchmarks.md). Fetched in parallel
// with pyodide.mjs; if it is missing or fails to restore, boot the ordinary way.
async function loadPyodideFast(gate = null) {
  const snapshot = ASSETS["pyodide-snapshot"]
    ? fetch(new URL(ASSETS["pyodide-snapshot"], DIST)).then((r) => {
      if (!r.ok) throw new Error(`GET ${r.url}: HTTP ${r.status}`);
      return r.arrayBuffer();
    }).then((buffer) => { mark("snapshot:fetched"); return buffer; })
    : null;
  snapshot?.catch(() => {}); // handled below
  if (gate) {
    fetch(assetURL("pyodide", "pyodide.asm.wasm")).then((r) => r.arrayBuffer()).catch(() => {}); // warms the HTTP cache
    await gate;
  }
  mark("pyodide:start");
  const { loadPyodide } = await import(assetURL("pyodide", "pyodide.mjs"));
  mark("pyodide:mjs");
  const options = { indexURL: assetURL("pyodide"), packages: [] };
  if (!snapshot) return loadPyodide(options);
  try {
    return await loadPyodide({ ...options, _loadSnapshot: snapshot });
  } catch (err) {
    console.warn("[ducksync] Pyodide snapshot not restored, booting without it:", err);
    return loadPyodide(options);
  }
}

/**
 * @param {object} o
 * @param {string} o.worker    "local" | "remote"
 * @param {string} o.module    Python module in workers/ with `start(host) -> handler`
 * @param {object} [o.host]    extra JS objects exposed to Python as `ducksync_host`
 */
export async function bootPyodideWorker({ worker, module, host = {} }) {
  const t0 = performance.now();
  let step = "pyodide";
  let handler = null;
  let failed = null;
  const queue = [];

  self.addEventListener("message", (ev) => {
    if (handler) return handler(ev.data, ev.ports);
    const data = ev.data;
    if (data?.kind === "request" && data.type === REQUEST.PING) {
      post({ v: VERSION, kind: "reply", id: data.id, ok: true,
             payload: { worker, phase: failed ? STATE.FAILED : STATE.BOOTING, step,
                        reason: failed, elapsed_ms: performance.now() - t0 } });
    } else if (failed && data?.kind === "request") {
      post({ v: VERSION, kind: "reply", id: data.id, ok: false,
             error: { code: "worker_failed", name: "WorkerFailedError",
                      message: `the ${worker} worker failed to start: ${failed}`, hint: null } });
    } else {
      queue.push(ev);
    }
  });

  try {
    post(phaseEvent(worker, t0, step));
    const gate = worker === "remote" ? localSettled(REMOTE_WAIT_MS) : null;
    const pyodideReady = loadPyodideFast(gate);
    const archive = fetch(assetURL("python")).then((r) => {
      if (!r.ok) throw new Error(`GET ${r.url}: HTTP ${r.status}`);
      return r.arrayBuffer();
    });
    const pyodide = await pyodideReady;
    mark("pyodide:ready");
    // Diagnostics only (devtools; tests/safety arms ducksync.faults through it); the app never reads it.
    (self.ducksyncDiagnostics ??= {}).pyodide = pyodide;
    const pyodideMs = performance.now() - t0;
    step = "package";
    post(phaseEvent(worker, t0, step, { steps: { pyodide: pyodideMs } }));
    const started = performance.now();
    const zip = await archive;
    mark("package:fetched");
    // Imported from the zip itself (zipimport; it holds Pyodide-compiled bytecode beside
    // the sources, see scripts/pyodide_pyc.mjs): nothing to unpack or compile here.
    const mount = ASSETS["python-mount"];
    pyodide.FS.writeFile(mount, new Uint8Array(zip));
    pyodide.runPython(`import sys; sys.path.insert(0, ${JSON.stringify(mount)})`);
    pyodide.registerJsModule("ducksync_host", {
      worker, post, mark, startedAt: t0,
      bootSteps: { pyodide: pyodideMs, package: performance.now() - started },
      ...host,
    });
    mark("package:unpacked");
    const logic = pyodide.pyimport(module);
    mark("python:imported");
    handler = logic.start();
    mark("python:started");
    for (const ev of queue.splice(0)) handler(ev.data, ev.ports);
  } catch (err) {
    failed = `${step}: ${err?.message ?? err}`;
    console.error(`[ducksync ${worker} worker]`, err);
    post({ v: VERSION, kind: "event", type: EVENT.PHASE,
           payload: { worker, phase: STATE.FAILED, step, reason: failed,
                      elapsed_ms: performance.now() - t0 } });
    for (const ev of queue.splice(0)) self.dispatchEvent(new MessageEvent("message", { data: ev.data }));
  }
}
