"""The browser data path: the 6-column table in the page's OPFS database, pushed to a real server.

Same page, same run: our push (``ducksync.sync``), the seed's approach (baseline,
on a sample), DuckDB-WASM's own Arrow export + ingest (reference, no network,
no Python), incremental syncs with bytes on the wire (the engine's report and the
server's ``/metrics``), and per-worker peak memory during a 1M and a large push.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ducksync.bench import data, seed, startup
from ducksync.bench.native import metrics_bytes
from ducksync.bench.probe import WorkerProbe
from ducksync.bench.repo import ROOT, launch_options, serverutil
from ducksync.bench.results import Results, median, phases
from ducksync.sync_routes import ROUTES, route_path

SUITE = "browser"
Log = Callable[[str], None]

# The seed's approach in the page (BASELINE ONLY): rows out as JS objects 1000 at a time,
# each value formatted as an SQL literal, one INSERT ... VALUES statement per 1000 rows.
SEED_JS = """async ({n, per, create}) => {
  const db = window.ducksync;
  await db.exec("DROP TABLE IF EXISTS bench_seed");
  await db.exec(create);
  const lit = (v) => v === null || v === undefined ? "NULL"
    : typeof v === "boolean" ? (v ? "TRUE" : "FALSE")
    : typeof v === "number" || typeof v === "bigint" ? String(v)
    : `'${String(v).replaceAll("'", "''")}'`;
  const t0 = performance.now();
  for (let lo = 0; lo < n; lo += per) {
    const rows = await db.query(`SELECT * FROM bench WHERE id >= ${lo} AND id < ${lo + per}`);
    await db.exec("INSERT INTO bench_seed VALUES " +
      rows.map((r) => "(" + Object.values(r).map(lit).join(", ") + ")").join(", "));
  }
  const ms = performance.now() - t0;
  const [{c}] = await db.query("SELECT count(*)::INTEGER AS c FROM bench_seed");
  await db.exec("DROP TABLE bench_seed");
  return {ms, rows: c};
}"""

# DuckDB-WASM's own limit (REFERENCE): Arrow IPC out of the OPFS table and into a new one
# with the same primary key (what a pull must maintain too), in the local worker, on a
# connection of its own; no network, no Python. With ``fetch`` (a new device's floor) the
# IPC comes instead from the server's own rows-after route, the whole table as one stream
# over the same HTTP a pull uses, with no engine on either side.
#
# DuckDB-WASM refuses a CHECKPOINT while a statement of another connection is in flight
# ("other write transactions"), and the page runs statements of its own after a write or
# a sync (the count of unsent rows, the tables list it then shows). The page's reaction
# to the bench's writes is waited for first (QUIET_JS); a CHECKPOINT refused for that
# reason all the same is tried again once the other statement had time to end (bounded),
# and that wait is kept out of the timings (``waited_ms``, ``retries``).
REFERENCE_JS = """async ({create, fetch: wire}) => {
  const db = await self.ducksyncDiagnostics.duckdb;
  const c = await db.connect();
  let waited = 0, retries = 0;
  const checkpoint = async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await c.query("CHECKPOINT");
      } catch (e) {
        if (!String(e?.message ?? e).includes("other write transactions") || attempt >= 40) {
          throw e;
        }
        const t = performance.now();
        await new Promise((resolve) => setTimeout(resolve, Math.min(10 * 2 ** attempt, 500)));
        waited += performance.now() - t;
        retries += 1;
      }
    }
  };
  await c.query("DROP TABLE IF EXISTS bench_ref");
  await c.query(create);
  await checkpoint();
  const t0 = performance.now();
  let stream, bytes;
  if (wire) {
    const r = await fetch(wire.url, {method: "POST", body: JSON.stringify(wire.body),
                                     headers: {"content-type": "application/json"}});
    if (!r.ok) throw new Error(`${wire.url}: HTTP ${r.status} ${await r.text()}`);
    stream = new Uint8Array(await r.arrayBuffer());
    bytes = stream.byteLength;
  } else {
    const ipc = await c.query("SELECT * FROM bench");
    bytes = ipc.byteLength;
    // runQuery answers in the Arrow IPC *file* format: its body (after the 8-byte magic,
    // up to the footer) is the stream format, EOS included; a view, no copy.
    const footer = new DataView(ipc.buffer, ipc.byteOffset).getInt32(bytes - 10, true);
    stream = ipc.subarray(8, bytes - 10 - footer);
  }
  const t1 = performance.now();
  await c.insert(stream, {name: "bench_ref", schema: "main", create: false});
  const before = waited;
  await checkpoint();
  const t2 = performance.now();
  const timedWait = waited - before;
  await c.query("DROP TABLE bench_ref");
  await checkpoint();
  return {export_ms: t1 - t0, ingest_ms: t2 - t1 - timedWait, bytes, waited_ms: waited, retries};
}"""

# Resolves once the page's sync service has counted the unsent rows of the last write
# (``unsent`` is null until then) and runs no sync: its reaction to a write is over.
QUIET_JS = """() => new Promise((resolve, reject) => {
  let done = false;
  const quiet = (s) => s && s.unsent !== null && s.unsent !== undefined && !s.running;
  const finish = (s) => { if (!done && quiet(s)) { done = true; off(); resolve(s.unsent); } };
  const off = window.ducksync.on("sync", finish);  // first: no answer can be missed
  window.ducksync.syncStatus().then(finish, reject);
  setTimeout(() => { if (!done) { off(); reject(new Error("the page stayed busy for 120 s")); } },
             120000);
})"""


def _reference(page: Any, wire: dict[str, Any] | None = None) -> dict[str, Any]:
    """The reference, run once the page is quiet (see REFERENCE_JS); ``wire``: the IPC
    fetched from the server (``_wire_floor``) instead of exported here."""
    page.evaluate(QUIET_JS)
    out: dict[str, Any] = _local_worker(page).evaluate(
        REFERENCE_JS, {"create": data.create_sql("bench_ref"), "fetch": wire})
    return out

START_SYNC_JS = """(args) => {
  window.__bench = null;
  const t0 = performance.now();
  window.ducksync.sync(args).then(
    (r) => { window.__bench = {ok: true, ms: performance.now() - t0, report: r}; },
    (e) => { window.__bench = {ok: false, error: `${e.name}: ${e.message}`}; });
}"""


def _local_worker(page: Any) -> Any:
    return next(w for w in page.workers if "local.worker" in w.url)


def _sync(page: Any, probe: WorkerProbe | None, **args: Any) -> dict[str, Any]:
    """Run ``ducksync.sync(args)``; sample worker memory while it runs (when probing)."""
    page.evaluate(START_SYNC_JS, args)
    while True:
        done = page.evaluate("() => window.__bench")
        if done:
            break
        if probe is not None:
            probe.sample()
        page.wait_for_timeout(500)
    if not done["ok"]:
        raise RuntimeError(f"sync {args} failed: {done['error']}")
    if probe is not None:
        probe.sample(wasm=True)
    tables = done["report"].get("tables") or []
    done["engine_bytes"] = sum(t["bytes_sent"] + t["bytes_received"] for t in tables)
    result: dict[str, Any] = done
    return result


def _push(page: Any, probe: WorkerProbe | None, table: str, rows: int, what: str) -> Any:
    """Push ``table`` (``_sync``); raise unless every one of its ``rows`` went."""
    out = _sync(page, probe, tables=[table], direction="push")
    rep = out["report"]
    if rep.get("error") or rep.get("pushed") != rows:
        raise RuntimeError(f"{what} failed: {rep.get('error') or rep.get('pushed')}")
    return out


def _pull(page: Any, tables: list[str], rows: int, what: str) -> Any:
    """Pull ``tables`` (``_sync``); raise unless all their ``rows`` came."""
    out = _sync(page, None, tables=tables, direction="pull")
    rep = out["report"]
    if rep.get("error") or rep.get("pulled") != rows:
        raise RuntimeError(f"{what} failed: {rep.get('error') or rep.get('pulled')}")
    return out


def _phases(report: dict[str, Any]) -> str:
    """The engine's biggest phases in a sync report of one table (``results.phases``)."""
    return phases((report.get("tables") or [{}])[0].get("timings"))


def _restart_same_port(server: Any, change: Callable[[], None]) -> Any:
    """Stop the server, run ``change`` on its remote file, start it again on the same URL."""
    su = serverutil()
    server.stop()
    change()
    port = server.url.rsplit(":", 1)[1]
    with server.log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "ducksync", "serve", "--port", port,
             "--remote", str(server.remote)], cwd=ROOT, stdout=log_file,
            stderr=subprocess.STDOUT)
    su.wait_until_healthy(server.url, process, server.log_path)
    return su.RunningServer(url=server.url, remote=server.remote, log_path=server.log_path,
                            process=process)


def _wait_online(page: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if page.evaluate("async () => (await window.ducksync.remoteHealth()).status") \
                == "connected":
            return
        page.wait_for_timeout(250)
    raise RuntimeError("the remote worker did not reconnect to the restarted server")


def _fill(page: Any, table: str, rows: int) -> float:
    t0 = time.perf_counter()
    page.evaluate("async (sqls) => { for (const s of sqls) await window.ducksync.exec(s); }",
                  [f"DROP TABLE IF EXISTS {table}", data.create_sql(table),
                   data.fill_sql(rows, table)])
    return (time.perf_counter() - t0) * 1000


def _bytes(res: Results, name: str, server_bytes: float, out: dict[str, Any]) -> None:
    """Bytes on the wire, as the server counted them (Arrow in + out, decoded): the
    browser engine's report leaves out what the port store sends (noted for comparison)."""
    res.add(SUITE, name, server_bytes, "B",
            f"server /metrics ducksync_sync_bytes delta; the engine's report says "
            f"{out['engine_bytes']:,} (sent bytes not counted by the port store)")


def _record_memory(res: Results, probe: WorkerProbe, label: str, rows: int) -> None:
    """``label``: "table push" (the --rows push), "memory baseline" / "memory run" (the
    --rows / --memory-rows pushes under :data:`MEMORY_LIMIT`). A figure the probe could
    not take is recorded as missing, with the probe's reason."""
    workers = sorted(set(probe.peak) | {w.split("/")[0] for w in probe.failures})
    for worker in workers:
        name = f"peak memory {worker} worker, {label} MB"
        peak = probe.peak.get(worker)
        why = probe.failures.get(f"{worker}/wasm memory MB") or probe.failures.get(worker)
        if peak is None or "wasm memory MB" not in peak:
            res.add(SUITE, name, None, "MB", f"not measured: {why or 'no sample'}")
            continue
        res.add(SUITE, name, peak["js heap MB"] + peak["wasm memory MB"], "MB",
                f"{rows:,}-row push: JS heap {peak['js heap MB']:.0f} + WASM "
                f"{peak['wasm memory MB']:.0f} MB (array buffers "
                f"{peak['array buffers MB']:.0f} MB); CDP Runtime.getHeapUsage every "
                "~0.5 s, WASM memories as each worker reports them, after the push")


def _open(browser: Any, server: Any) -> Any:
    """A page in a fresh profile (empty HTTP cache, code cache and OPFS), ready."""
    page = browser.new_context().new_page()
    # No sync at start (under load it could still run when the table is filled, and push
    # it during the reference's CHECKPOINT), and holding only the bench table: a sync on
    # reconnect (the server restarts) never pulls the new-device tables (_new_device).
    page.goto(server.url + f"/?sync=manual&tables={data.TABLE}")
    page.wait_for_function(startup.READY, timeout=180_000)
    # Only the syncs we start: no interval or after-write syncs racing the timed ones.
    page.evaluate("() => window.ducksync.configureSync({interval: 0, onWrite: false})")
    return page


def _first_push(browser: Any, server: Any, table: str, rows: int, log: Log) -> float:
    """An extra sample of the timed push: fill ``table`` in a fresh profile, reload, push
    it (into a new remote table), close the profile. Returns the push's ms."""
    page = _open(browser, server)
    try:
        _fill(page, table, rows)
        _fresh_workers(browser, page)
        out = _push(page, None, table, rows, f"push of {table}")
        log(f"browser push, fresh profile: {out['ms']:,.0f} ms")
        return float(out["ms"])
    finally:
        page.context.close()


# The other tables a new device pulls with ``bench`` (1M rows: 1.3M rows in 4 tables).
NEW_DEVICE_TABLES = {"bench_b": 150_000, "bench_c": 100_000, "bench_d": 50_000}

# Every progress event of the page, with its time: per-table rows, bytes and time left.
PROGRESS_JS = """() => {
  window.__progress = [];
  window.ducksync.on("progress", (p) => window.__progress.push({...p, at: performance.now()}));
}"""


def _open_manual(browser: Any, server: Any) -> Any:
    """A fresh profile (a new device) whose page syncs only when asked (``?sync=manual``:
    no sync at start racing the timed one)."""
    page = browser.new_context().new_page()
    page.goto(server.url + "/?sync=manual")
    page.wait_for_function(startup.READY, timeout=180_000)
    return page


def _first_pull(browser: Any, server: Any, res: Results, rows: int, runs: int,
                log: Log, held: Sequence[str] = ()) -> None:
    """The initial pull of the pushed table by a new device (a fresh profile each run):
    the bootstrap path, timed like the push (compare ``push ms``).

    Started once the first visit is over (the service worker installed and in control),
    as the push is (it runs after a fill and a reload): started at ``ready``, the pull
    shared the 2 cores with the first visit's precache (the app copied into Cache
    Storage) and measured that too (docs/benchmarks.md, session 12, page). A new
    device's pull at ``ready``, start-up included, is ``new device 4 tables ms``.

    Then, in the same page, the other bootstrap a device meets: a table it never held
    (one of ``held``, remote tables of the same rows) pulled by a device already in use,
    its DuckDB-WASM code warm as the reference's is. Each pull is judged against the
    floor taken in its own state (docs/benchmarks.md, "Which floor a pull is judged
    against"): a new device's pull against a new device's wire floor, this one against
    the reference.
    """
    took: list[float] = []
    floors: list[float] = []
    later: list[float] = []
    for run in range(runs):
        floors.append(_wire_floor(browser, server, rows, log))
        page = _open_manual(browser, server)
        try:
            startup.wait_offline_ready(page)
            before = metrics_bytes(server.url)
            out = _pull(page, [data.TABLE], rows, "initial pull")
            rep = out["report"]
            took.append(float(out["ms"]))
            wire = metrics_bytes(server.url) - before
            log(f"browser initial pull: {out['ms']:,.0f} ms")
            if held:
                later.append(_pull_held(page, held[run % len(held)], rows, log))
        finally:
            page.context.close()
    ms, how = median(took, "ms")
    res.add(SUITE, "pull ms", ms, "ms", "; ".join(x for x in (
        "ducksync.sync pull of the pushed table, the first sync of a fresh profile (a new "
        "device: bootstrap pages, no keys sent), once its first visit's service worker "
        "is installed (as for the push)", how,
        f"last run: engine {rep['ms']:,.0f} ms, " + _phases(rep)) if x), samples=took)
    res.add(SUITE, "pull rows/s", rows / ms * 1000, "rows/s")
    _bytes(res, "pull bytes", wire, out)
    floor, how = median(floors, "ms")
    res.add(SUITE, "new-device wire floor ms", floor, "ms", "; ".join(x for x in (
        "the pulled table as one Arrow IPC stream from the server's rows-after route, "
        "fetched by the local worker of a fresh profile (as for the pull: once its first "
        "visit is over) + insertArrowFromIPCStream into a new OPFS table with the same "
        "primary key + CHECKPOINT: the pull's bytes on its wire into a new device, no "
        f"engine; pull / this = {ms / floor:.2f}x (the reference below runs in a page "
        "that is already warm)", how) if x), samples=floors)
    if not later:
        res.notes.append("browser held-table pull not measured: it pulls a table pushed by "
                         "an extra run (--runs 2 or more)")
        return
    ms, how = median(later, "ms")
    res.add(SUITE, "held-table pull ms", ms, "ms", "; ".join(x for x in (
        "ducksync.sync pull of a remote table the device never held (the same rows, pushed "
        "by another profile), by the page that has just pulled the first: a newly held "
        "table on a device in use, its code warm as the reference's", how) if x),
        samples=later)


def _pull_held(page: Any, table: str, rows: int, log: Log) -> float:
    """``table``'s initial pull in ``page`` (a device that holds another table already)."""
    out = _pull(page, [table], rows, f"pull of {table}")
    log(f"browser initial pull of a newly held table: {out['ms']:,.0f} ms")
    return float(out["ms"])


def _wire_floor(browser: Any, server: Any, rows: int, log: Log) -> float:
    """The reference on a new device (a fresh profile, its first visit over, as the pull
    runs): the table fetched from the server in one stream instead of exported here, so
    DuckDB-WASM's code is as cold as a new device's pull finds it. Returns fetch + ingest ms."""
    page = _open_manual(browser, server)
    try:
        startup.wait_offline_ready(page)
        route = ROUTES["fetch_rows_after"]
        out = _reference(page, {
            "url": server.url + route_path(route, table=data.TABLE),
            "body": {"column": "id", "batch_rows": min(rows, 1_000_000), "hashes": False}})
    finally:
        page.context.close()
    ms = float(out["export_ms"] + out["ingest_ms"])
    log(f"browser new-device wire floor: {ms:,.0f} ms (fetch {out['export_ms']:,.0f} + "
        f"ingest {out['ingest_ms']:,.0f} ms, {out['bytes']:,} B)")
    return ms


def _new_device(browser: Any, server: Any, res: Results, rows: int, log: Log) -> None:
    """A new device pulls 4 tables (``bench`` + :data:`NEW_DEVICE_TABLES`) in one sync,
    with the progress the page shows per table (rows, bytes, time left)."""
    tables = [data.TABLE, *NEW_DEVICE_TABLES]
    total = rows + sum(NEW_DEVICE_TABLES.values())
    page = _open_manual(browser, server)
    try:
        page.evaluate(PROGRESS_JS)
        out = _pull(page, tables, total, "new device")
        rep = out["report"]
        res.add(SUITE, "new device 4 tables ms", out["ms"], "ms",
                f"a fresh profile pulls {total:,} rows in 4 tables in one sync "
                f"({', '.join(tables)})")
        events = page.evaluate("() => window.__progress")
        for t in rep["tables"]:
            mine = [e for e in events if e.get("table") == t["table"]]
            last = mine[-1] if mine else {}
            res.add(SUITE, f"new device: {t['table']} ms", t["ms"], "ms",
                    f"{t['pulled']:,} rows; {len(mine)} progress events, the last "
                    f"{last.get('rows_done', 0):,} of {last.get('rows_total', 0):,} rows, "
                    f"{last.get('bytes_done', 0):,} B; first time-left estimate "
                    f"{next((e['eta_s'] for e in mine if e.get('eta_s')), None)} s")
        log(f"browser new device, 4 tables: {out['ms']:,.0f} ms")
    finally:
        page.context.close()


def run(pw: Any, tmp: Path, server: Any, res: Results, *, opts: Any, log: Log) -> None:
    """``opts.runs``: fresh profiles whose first push is timed, seed samples, no-op syncs
    (medians; the other steps run once, in the last profile)."""
    rows = opts.rows
    browser = pw.chromium.launch(**launch_options())
    try:
        pushed = [f"bench_run{i}" for i in range(opts.runs - 1)]
        firsts = [_first_push(browser, server, table, rows, log) for table in pushed]
        page = _open(browser, server)
        fill_ms = _fill(page, data.TABLE, rows)
        log(f"browser: {rows:,} rows in OPFS in {fill_ms:,.0f} ms")
        ref = _reference(page)
        res.add(SUITE, "table bytes", ref["bytes"], "B", "the table as DuckDB-WASM Arrow IPC")
        refs = [ref["export_ms"] + ref["ingest_ms"]]
        log(f"browser reference: {refs[0]:,.0f} ms")
        probe = _fresh_workers(browser, page)
        before = metrics_bytes(server.url)
        push = _sync(page, probe, tables=[data.TABLE], direction="push")
        rep = push["report"]
        log(f"browser push: {push['ms']:,.0f} ms")
        firsts.append(float(push["ms"]))
        push_ms, how = median(firsts, "ms")
        res.add(SUITE, "push ms", push_ms, "ms",
                "ducksync.sync push: OPFS → local worker → remote worker → server, the first "
                "push of a fresh browser profile (after a reload); " + (f"{how}; " if how else "")
                + f"last run: pushed {rep['pushed']:,}, engine {rep['ms']:,.0f} ms, "
                + _phases(rep), samples=firsts)
        res.add(SUITE, "push rows/s", rows / push_ms * 1000, "rows/s")
        _bytes(res, "push bytes", metrics_bytes(server.url) - before, push)
        _record_memory(res, probe, "table push", rows)
        _first_pull(browser, server, res, rows, opts.runs, log, held=pushed)
        # the yardstick again, after the pulls: the load moves, so the median of both
        again = _reference(page)
        refs.append(again["export_ms"] + again["ingest_ms"])
        log(f"browser reference, after the pulls: {refs[1]:,.0f} ms "
            f"(CHECKPOINT retries: {ref['retries']}, then {again['retries']})")
        ref_ms, how = median(refs, "ms")
        cold = res.get(f"{SUITE}/pull ms")
        res.add(SUITE, "reference arrow round trip ms", ref_ms, "ms", "; ".join(x for x in (
                f"DuckDB-WASM Arrow export {ref['export_ms']:,.0f} ms + insertArrowFromIPCStream "
                f"into a new OPFS table with the same primary key + CHECKPOINT "
                f"{ref['ingest_ms']:,.0f} ms (first sample); local worker, no network; {how}, "
                "before the push and after the pulls",
                cold and f"a new device's pull / this = {cold / ref_ms:.2f}x (cold code against "
                "warm: not a target, see the new-device wire floor)") if x), samples=refs)
        for label, direction, prepare, repeat in (
                ("no-op sync", "both", None, opts.runs),
                ("1k change", "both", data.change_sql(rows), 1)):
            if prepare:
                page.evaluate("(s) => window.ducksync.exec(s)", prepare)
            took = []
            for _ in range(repeat):
                before = metrics_bytes(server.url)
                out = _sync(page, None, tables=[data.TABLE], direction=direction)
                took.append(float(out["ms"]))
            ms, how = median(took, "ms")
            res.add(SUITE, f"{label} ms", ms, "ms", "; ".join(x for x in (
                f"ducksync.sync direction={direction}", how,
                _phases(out["report"])) if x),
                samples=took if repeat > 1 else ())
            _bytes(res, f"{label} bytes", metrics_bytes(server.url) - before, out)
            log(f"browser {label}: {ms:,.0f} ms")

        def remote_change() -> None:
            import duckdb

            with duckdb.connect(str(server.remote)) as con:
                con.execute(data.change_sql(rows, salt=2))
                for table, n in NEW_DEVICE_TABLES.items():  # for _new_device below
                    con.execute(f"DROP TABLE IF EXISTS {table}")
                    con.execute(data.create_sql(table))
                    con.execute(f"INSERT INTO {table} {data.select_sql(n, start=rows)}")

        server = _restart_same_port(server, remote_change)
        _wait_online(page)
        before = metrics_bytes(server.url)
        out = _sync(page, None, tables=[data.TABLE], direction="pull")
        res.add(SUITE, "1k pull ms", out["ms"], "ms", "1k rows changed on the remote, then pull; "
                + _phases(out["report"]))
        _bytes(res, "1k pull bytes", metrics_bytes(server.url) - before, out)
        log(f"browser 1k pull: {out['ms']:,.0f} ms")
        _new_device(browser, server, res, rows, log)
        seed_rate = _seed(page, res, rows, opts.seed_rows, opts.runs, log)
        _later_visit(browser, page, res, rows, seed_rate, log)
        if opts.memory_rows:
            try:
                for label, table, n in (("memory baseline", "bench_mem", rows),
                                        ("memory run", "bench_big", opts.memory_rows)):
                    _memory(browser, page, res, label, table, n, log)
            except Exception as exc:  # e.g. the tab runs out of WASM memory: say so, keep the rest
                res.notes.append(f"memory run with {opts.memory_rows:,} rows failed: {exc}"[:500])
                log(f"browser memory run failed: {exc}")
    finally:
        browser.close()
        server.stop()


def _seed(page: Any, res: Results, rows: int, seed_rows: int, runs: int, log: Log) -> float:
    sample = min(rows, seed_rows)
    outs = [page.evaluate(SEED_JS, {"n": sample, "per": seed.ROWS_PER_STATEMENT,
                                    "create": data.create_sql("bench_seed")})
            for _ in range(runs)]
    rates = [o["rows"] / o["ms"] * 1000 for o in outs]
    rate, how = median(rates, "rows/s")
    res.add(SUITE, "seed rows/s", rate, "rows/s",
            f"BASELINE: seed's INSERT ... VALUES, {seed.ROWS_PER_STATEMENT} rows/statement, "
            f"string-built in the page, run by DuckDB-WASM into OPFS (no network: flatters the "
            f"seed); timed on {outs[0]['rows']:,} rows, "
            + (how or f"{outs[0]['ms'] / 1000:.1f} s"), samples=rates)
    res.add(SUITE, "seed extrapolated ms", rows / rate * 1000, "ms",
            f"extrapolated to {rows:,} rows at the measured rate (not run in full)")
    log(f"browser seed: {rate:,.0f} rows/s")
    return float(rate)


def _later_visit(browser: Any, page: Any, res: Results, rows: int, seed_rate: float,
                 log: Log) -> None:
    """The same initial push of another ``rows``-row table, after a reload.

    The timed push above is the first one a fresh browser profile makes: V8 then
    recompiles DuckDB's hot functions with its optimising tier *during* the push (≈ 2 s
    of CPU on this machine's 2 cores, traced). Chromium keeps that code in its code
    cache, so a user's later visits push with it. Reported beside the first push, not
    instead of it.
    """
    fill_ms = _fill(page, "bench_visit", rows)
    log(f"browser later visit: {rows:,} rows in OPFS in {fill_ms:,.0f} ms")
    _fresh_workers(browser, page)
    out = _push(page, None, "bench_visit", rows, "later-visit push")
    rep = out["report"]
    ratio = rows / out["ms"] * 1000 / seed_rate if seed_rate else 0.0
    res.add(SUITE, "push ms, later visit", out["ms"], "ms",
            f"the same push of another {rows:,}-row table after a reload (DuckDB's optimised "
            f"code from Chromium's code cache): {ratio:.1f}x the seed; engine "
            f"{rep['ms']:,.0f} ms; " + _phases(rep))
    page.evaluate("(s) => window.ducksync.exec(s)", "DROP TABLE bench_visit")
    log(f"browser push, later visit: {out['ms']:,.0f} ms")


def _fresh_workers(browser: Any, page: Any) -> WorkerProbe:
    """Reload the page (the table stays in OPFS) and attach a probe to the new workers.

    A WASM memory never shrinks, so without this the push's "peak" would be the
    high-water mark of the one ``INSERT … FROM range(n)`` that filled the table (all
    n rows in one transaction), not of the push: the push starts, as a user's would,
    from a database already on disk.
    """
    page.reload()
    page.wait_for_function(startup.READY, timeout=180_000)
    page.evaluate("() => window.ducksync.configureSync({interval: 0, onWrite: false})")
    return WorkerProbe(browser, page)


# Both memory pushes run under this DuckDB memory_limit. DuckDB-WASM's default (3.1 GiB)
# lets its buffer manager keep every table block it has read, so the WASM memory after a
# push grows with the table even when the push itself holds two batches; under a small
# limit the cache is evicted (blocks are re-read from OPFS), and a push that needed
# memory in proportion to the table fails with "Out of Memory" instead of passing (the
# engine's earlier one-transaction bulk push did, at 5M rows).
MEMORY_LIMIT = "128MB"


def _memory(browser: Any, page: Any, res: Results, label: str, table: str, rows: int,
            log: Log) -> None:
    fill_ms = _fill(page, table, rows)
    log(f"browser {label}: {rows:,} rows in OPFS in {fill_ms:,.0f} ms")
    probe = _fresh_workers(browser, page)
    page.evaluate("(s) => window.ducksync.exec(s)", f"SET memory_limit = '{MEMORY_LIMIT}'")
    out = _push(page, probe, table, rows, f"{label} push under memory_limit {MEMORY_LIMIT}")
    cached = page.evaluate("(s) => window.ducksync.query(s)",
                           "SELECT tag, memory_usage_bytes / 1e6 AS mb FROM duckdb_memory() "
                           "WHERE memory_usage_bytes > 0 ORDER BY mb DESC")
    held = ", ".join(f"{r['tag']} {r['mb']:.0f} MB" for r in cached) or "nothing"
    res.add(SUITE, f"{label} push ms", out["ms"], "ms",
            f"{rows:,}-row push under DuckDB memory_limit {MEMORY_LIMIT}; after it, "
            f"duckdb_memory() holds {held} (its block cache, evictable)")
    _record_memory(res, probe, label, rows)
    log(f"browser {label} {rows:,}-row push: {out['ms']:,.0f} ms")
