"""Probe: what a bootstrap's page commits and its key cost in the page's DuckDB-WASM.

Replays the bulk bootstrap's local statements (engine/bootstrap.py: per page, in one
transaction, the base insert with the local row hash, the keyless table insert through
the page's CAST select, the cursor update; then ``ALTER TABLE ADD PRIMARY KEY`` and a
``CHECKPOINT``) on the same 1M bench rows, in the real page's OPFS database (the local
worker's DuckDB-WASM, reached like the bench's REFERENCE_JS), under variants: page
sizes (commits), DuckDB settings, keyed vs keyless. Each statement is timed; the
database's blocks and WAL size are read after each commit. Not a test, not the bench:
a measuring tool for docs/benchmarks.md (session 12).

    PYTHONPATH=$PWD/py flock /work/bench.lock .venv/bin/python scripts/probe_page_commits.py \
        [--rows 1000000] [--variants base,ckpt1g,...] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from ducksync.bench import data, startup
from ducksync.bench.repo import launch_options, serverutil
from ducksync.engine import sqlbuild as sb

ROW_GROUP = 122_880
TYPES = dict(data.COLUMNS)
COLS = [c for c, _ in data.COLUMNS]

# The page's own pages today: 122,880, then doubling, capped near 22 MB of Arrow.
TODAY = [ROW_GROUP, 2 * ROW_GROUP, 3 * ROW_GROUP]

PROBE_JS = """async (plan) => {
  const db = await self.ducksyncDiagnostics.duckdb;
  const c = await db.connect();
  const td = new TextDecoder();
  const q = (sql) => c.query(sql);
  const grab = async (sql) => {  // one VARCHAR between @@ markers, read from the IPC bytes
    const bytes = await q(sql);
    const s = td.decode(bytes);
    const all = [...s.matchAll(/@@([0-9][^@']*)@@/g)];  // the value, not the column's name
    return all.length ? all[all.length - 1][1] : null;
  };
  const size = () => grab("SELECT '@@' || total_blocks || '|' || wal_size || '@@' FROM " +
                          "pragma_database_size() WHERE database_name = current_database()");
  const timed = async (out, name, sql) => {
    const t = performance.now();
    await q(sql);
    const ms = performance.now() - t;
    out[name] = (out[name] || 0) + ms;
    return ms;
  };
  const results = [];
  for (const v of plan.variants) {
    for (const s of v.settings) await q(s);
    await q("DROP TABLE IF EXISTS probe_t");
    await q("DROP TABLE IF EXISTS probe_base");
    await q("DROP TABLE IF EXISTS probe_cursor");
    await q(v.keyed ? plan.create_keyed : plan.create_keyless);
    await q(plan.create_base);
    await q("CREATE TABLE probe_cursor (name VARCHAR, cur VARCHAR)");
    await q("INSERT INTO probe_cursor VALUES ('t', NULL)");
    await q("CHECKPOINT");
    // the pages, as temp tables (the bootstrap's ingested pages live in temp too)
    let lo = 0, i = 0;
    const pages = [];
    for (const n of v.pages) {
      await q(`CREATE OR REPLACE TEMP TABLE probe_page${i} AS SELECT * FROM probe_src ` +
              `WHERE id >= ${lo} AND id < ${lo + n}`);
      pages.push({name: `probe_page${i}`, lo, n});
      lo += n; i += 1;
    }
    // ingest variants: the pages as Arrow IPC streams, as a bootstrap's pages arrive
    if (v.ingest) {
      for (const p of pages) {
        const ipc = await q(`SELECT * FROM ${p.name}`);
        const bytes = ipc.byteLength;
        const footer = new DataView(ipc.buffer, ipc.byteOffset).getInt32(bytes - 10, true);
        p.stream = ipc.slice(8, bytes - 10 - footer);
      }
      await q("CREATE OR REPLACE TEMP TABLE probe_tpl AS SELECT * FROM probe_page0 LIMIT 0");
    }
    const out = {name: v.name, totals: {}, per_page: [], sizes: []};
    out.sizes.push(["start", await size()]);
    const t0 = performance.now();
    for (const p of pages) {
      const pp = {};
      const ingest = async (name, schema) => {
        const t = performance.now();
        await c.insert(p.stream, {name, schema, create: false});
        pp.ingest = performance.now() - t;
      };
      if (v.ingest === "temp") {
        await timed(pp, "ingest_reset",
                    `CREATE OR REPLACE TEMP TABLE ${p.name} AS SELECT * FROM probe_tpl`);
        await ingest(p.name, "temp");
      }
      const src = plan.cast.replace("{page}", p.name);
      if (v.txn_per_page) await timed(pp, "begin", "BEGIN TRANSACTION");
      if (v.ingest === "direct") {
        await ingest("probe_t", "main");
        await timed(pp, "base", plan.base_insert.replaceAll(
          "{src}", `(SELECT * FROM probe_t WHERE id >= ${p.lo} AND id < ${p.lo + p.n}) p`));
      } else {
        await timed(pp, "base", plan.base_insert.replaceAll("{src}", `(${src}) p`));
        await timed(pp, "table", plan.table_insert.replaceAll("{src}", `(${src}) p`));
      }
      await timed(pp, "cursor", `UPDATE probe_cursor SET cur = '${p.lo + p.n}' WHERE name = 't'`);
      if (v.txn_per_page) {
        pp.size_before_commit = await size();
        await timed(pp, "commit", "COMMIT");
      }
      pp.size_after = await size();
      if (v.checkpoint_per_page) await timed(pp, "checkpoint", "CHECKPOINT");
      out.per_page.push(pp);
      for (const [k, ms] of Object.entries(pp)) {
        if (typeof ms === "number") out.totals[k] = (out.totals[k] || 0) + ms;
      }
    }
    const t1 = performance.now();
    if (!v.keyed) {
      const kk = {};
      await timed(kk, "begin", "BEGIN TRANSACTION");
      await timed(kk, "alter", "ALTER TABLE probe_t ADD PRIMARY KEY (id)");
      await timed(kk, "cursor", "UPDATE probe_cursor SET cur = NULL WHERE name = 't'");
      kk.size_before_commit = await size();
      await timed(kk, "commit", "COMMIT");
      kk.size_after = await size();
      out.key = kk;
    }
    const t2 = performance.now();
    out.checkpoint_ms = await (async () => { const t = performance.now(); await q("CHECKPOINT");
                                            return performance.now() - t; })();
    out.sizes.push(["end", await size()]);
    out.pages_ms = t1 - t0;
    out.key_ms = t2 - t1;
    out.total_ms = performance.now() - t0;
    results.push(out);
    for (const p of pages) await q(`DROP TABLE ${p.name}`);
    await q("DROP TABLE probe_t");
    await q("DROP TABLE probe_base");
    await q("DROP TABLE probe_cursor");
    await q("CHECKPOINT");
    for (const s of plan.reset) await q(s);
  }
  return results;
}"""


def _cpu_by_process(skip: int = -1) -> dict[str, float]:
    """CPU ms (user + system) of this process's descendants but ``skip``, by kind: the
    server (``python``), Chromium's renderer (the page and its workers), its network
    service (``utility``), ``gpu`` and ``browser``. CPU time is moved less than wall
    time by the other helpers' load on this shared machine."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out: dict[str, float] = {}
    todo = list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        if pid == skip:
            continue
        todo.extend(children.get(pid, []))
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        kind = next((a.split(b"=", 1)[1].decode() for a in cmd if a.startswith(b"--type=")),
                    "python" if b"python" in cmd[0] else "browser")
        out[kind] = out.get(kind, 0.0) + (int(f[11]) + int(f[12])) * 1000 / os.sysconf(
            "SC_CLK_TCK")
    return out


def _cpu_ms(skip: int) -> float:
    """All of :func:`_cpu_by_process`."""
    return sum(_cpu_by_process(skip).values())


def _pages(rows: int, sizes: list[int]) -> list[int]:
    """``sizes`` then the last one repeated, the rest in a last page."""
    out: list[int] = []
    left, i = rows, 0
    while left > 0:
        n = min(left, sizes[min(i, len(sizes) - 1)])
        out.append(n)
        left -= n
        i += 1
    return out


def variants(rows: int) -> dict[str, dict[str, Any]]:
    base: dict[str, Any] = {"settings": [], "keyed": False, "txn_per_page": True, "ingest": None,
                            "checkpoint_per_page": False, "pages": _pages(rows, TODAY)}
    big = ["SET checkpoint_threshold = '1GB'"]

    def v(**kw: Any) -> dict[str, Any]:
        return {**base, **kw}

    return {
        "today": v(),
        "ckpt1g": v(settings=big),
        "ckpt1g_ckpt_each": v(settings=big, checkpoint_per_page=True),
        "pages_1": v(pages=_pages(rows, [rows])),
        "pages_2": v(pages=_pages(rows, [4 * ROW_GROUP])),
        "pages_8": v(pages=_pages(rows, [ROW_GROUP])),
        "pages_2_ckpt1g": v(pages=_pages(rows, [4 * ROW_GROUP]), settings=big),
        "pages_8_ckpt1g": v(pages=_pages(rows, [ROW_GROUP]), settings=big),
        "keyed": v(keyed=True),
        "keyed_ckpt1g": v(keyed=True, settings=big),
        "no_order": v(settings=["SET preserve_insertion_order = false"]),
        "ckpt0": v(settings=["SET checkpoint_threshold = '0b'"]),
        "uncompressed": v(settings=["SET force_compression = 'uncompressed'"]),
        "ingest_temp": v(ingest="temp"),
        "ingest_direct": v(ingest="direct"),
        "ingest_temp_2": v(ingest="temp", pages=_pages(rows, [4 * ROW_GROUP])),
        "ingest_direct_2": v(ingest="direct", pages=_pages(rows, [4 * ROW_GROUP])),
    }


def plan(rows: int, names: list[str]) -> dict[str, Any]:
    all_v = variants(rows)
    casts = ", ".join(f"CAST(p.{sb.quote_ident(c)} AS {TYPES[c]}) AS {sb.quote_ident(c)}"
                      for c in COLS)
    lh = sb.row_hash_sql(TYPES, "p")
    return {
        "variants": [{"name": n, **all_v[n]} for n in names],
        "create_keyless": data.create_sql("probe_t").replace(", PRIMARY KEY (id)", ""),
        "create_keyed": data.create_sql("probe_t"),
        "create_base": "CREATE TABLE probe_base (id BIGINT, __lh UBIGINT, __rh UBIGINT, "
                       "__rk UBIGINT)",
        "cast": f"SELECT {casts} FROM {{page}} p",
        "base_insert": (f"INSERT INTO probe_base SELECT id, __ds_lh, __ds_lh, __ds_rk FROM ("
                        f"SELECT p.id, {lh} AS __ds_lh, {sb.key_hash_sql(['id'], 'p')} AS "
                        "__ds_rk FROM {src})"),
        "table_insert": (f"INSERT INTO probe_t ({sb.cols_sql(COLS)}) SELECT "
                         f"{sb.cols_sql(COLS, 'p')} FROM {{src}}"),
        "reset": ["SET checkpoint_threshold = '1MB'", "RESET preserve_insertion_order",
                  "RESET force_compression"],
    }


def _print(r: dict[str, Any]) -> None:
    totals = " ".join(f"{k} {v:.0f}" for k, v in r["totals"].items())
    key = ""
    if "key" in r:
        key = " | key: " + json.dumps({k: round(v) if isinstance(v, float) else v
                                       for k, v in r["key"].items()})
    print(f"  pages {r['pages_ms']:.0f} key {r['key_ms']:.0f} ckpt {r['checkpoint_ms']:.0f} "
          f"total {r['total_ms']:.0f} cpu {r['cpu_ms']:.0f} | {totals}{key}",
          file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--variants", default="today,ckpt1g")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    names = args.variants.split(",") * args.repeat
    from playwright.sync_api import sync_playwright

    su = serverutil()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        server = su.start_server(Path(tmp))
        browser = pw.chromium.launch(**launch_options())
        try:
            page = browser.new_context().new_page()
            page.goto(server.url + "/?sync=manual")
            page.wait_for_function(startup.READY, timeout=180_000)
            page.evaluate("() => window.ducksync.configureSync({interval: 0, onWrite: false})")
            page.evaluate("async (s) => { await window.ducksync.exec(s); }",
                          f"CREATE OR REPLACE TABLE probe_src AS {data.select_sql(args.rows)}")
            worker = next(w for w in page.workers if "local.worker" in w.url)
            page.evaluate("async () => { await window.ducksync.exec('CHECKPOINT'); }")
            results = []
            for n in names:
                print(f"{n} (load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
                cpu = _cpu_ms(server.process.pid)
                r = worker.evaluate(PROBE_JS, plan(args.rows, [n]))[0]
                r["cpu_ms"] = _cpu_ms(server.process.pid) - cpu
                r["load"] = os.getloadavg()[0]
                results.append(r)
                _print(r)
                print("   sizes/page: " + " ".join(
                    f"{p.get('size_before_commit')}->{p['size_after']}" for p in r["per_page"])
                      + f" end {r['sizes'][-1][1]}", file=sys.stderr, flush=True)
            if args.out:
                Path(args.out).write_text(json.dumps(results, indent=1))
        finally:
            browser.close()
            server.stop()


if __name__ == "__main__":
    main()
