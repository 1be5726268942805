"""Probe: what the base's stored remote hashes cost in the page's DuckDB-WASM (OPFS).

A 1M-row base is written as a bootstrap writes it (transactions of two row groups, then
``CHECKPOINT``) with its remote hashes stored (``full``: ``lh, lh, hash(id)``), only the
key hash stored (``rk-kept``) or both as derived (``derived``: NULL, NULL; the engine's
choice, docs/engine.md), and the detection reads over it are timed: the whole-base sums
and one level of bucket checksums, reading the hashes as the engine does. Variants
alternate in one page. Not a test, not the bench: a measuring tool for
docs/benchmarks.md (session 12, base hashes).

    PYTHONPATH=$PWD/py flock /work/bench.lock .venv/bin/python scripts/probe_base_hashes.py \
        [--rows 1000000] [--variants full,derived] [--repeat 4]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from ducksync.bench import data
from ducksync.bench.browser import _server
from ducksync.bench.browser_data import _local_worker, _open_manual
from ducksync.bench.repo import launch_options
from ducksync.engine import sqlbuild as sb

PAGE = 2 * 122_880  # rows a transaction: two row groups, as the bootstrap's pages grow to
PROBE_JS = """async (args) => {
  const db = await self.ducksyncDiagnostics.duckdb;
  const c = await db.connect();
  const q = async (s) => await c.query(s);
  if (args.setup) {
    await q("DROP TABLE IF EXISTS probe_t"); await q(args.create); await q("CHECKPOINT");
    return {};
  }
  await q("DROP TABLE IF EXISTS probe_base"); await q("CHECKPOINT");
  await q("CREATE TABLE probe_base (id BIGINT, __lh UBIGINT, __rh UBIGINT, __rk UBIGINT)");
  const t0 = performance.now();
  for (let lo = 0; lo < args.n; lo += args.page) {
    await q("BEGIN TRANSACTION");
    await q(args.insert.replace("{lo}", lo).replace("{hi}", lo + args.page));
    await q("COMMIT");
  }
  const t1 = performance.now();
  await q("CHECKPOINT");
  const out = {insert_ms: t1 - t0, checkpoint_ms: performance.now() - t1};
  for (const [name, sql] of Object.entries(args.reads)) {
    const s = performance.now(); await q(sql); out[name] = performance.now() - s;
  }
  await q("DROP TABLE probe_base"); await q("CHECKPOINT");
  return out;
}"""
_STORED = {"full": ("__ds_lh", "hash(id)"), "rk-kept": ("NULL::UBIGINT", "hash(id)"),
           "derived": ("NULL::UBIGINT", "NULL::UBIGINT")}


def variant(mode: str, rows: int) -> dict[str, Any]:
    """The statements of one variant: its base insert and the reads of its hashes."""
    rh, rk = _STORED[mode]
    rh_read = "__rh" if mode == "full" else "COALESCE(__rh, __lh)"
    rk_read = "COALESCE(__rk, hash(id))" if mode == "derived" else "__rk"
    hashes = f"(SELECT __lh, {rk_read} AS rk, {rh_read} AS rh FROM probe_base)"
    lh = sb.row_hash_sql(dict(data.COLUMNS))
    return {"n": rows, "page": PAGE,
            "insert": f"INSERT INTO probe_base SELECT id, __ds_lh, {rh}, {rk} FROM (SELECT "
                      f"id, {lh} AS __ds_lh FROM probe_t WHERE id >= {{lo}} AND id < {{hi}})",
            "reads": {"sums_ms": f"SELECT count(*), COALESCE("
                                 f"{sb.checksum_sql('rk', 'rh')}, 0) FROM {hashes}",
                      "buckets4096_ms": f"SELECT rk % 4096, {sb.checksum_sql('rk', 'rh')}, "
                                        f"count(*) FROM {hashes} GROUP BY ALL"}}


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--variants", default="full,derived")
    ap.add_argument("--repeat", type=int, default=4)
    args = ap.parse_args()
    modes = args.variants.split(",")
    results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw, \
            _server(Path(tmp), "probe") as server:
        browser = pw.chromium.launch(**launch_options())
        worker = _local_worker(_open_manual(browser, server))
        create = f"CREATE TABLE probe_t AS {data.select_sql(args.rows)}"
        worker.evaluate(PROBE_JS, {"setup": True, "create": create})
        for r in range(args.repeat):
            for mode in modes if r % 2 == 0 else modes[::-1]:
                out = worker.evaluate(PROBE_JS, variant(mode, args.rows))
                results[mode].append(out)
                print(mode, {k: round(v) for k, v in out.items()}, flush=True)
        browser.close()
    for mode, outs in results.items():
        med = {k: sorted(o[k] for o in outs)[len(outs) // 2] for k in outs[0]}
        print("median", mode, {k: round(v) for k, v in med.items()})


if __name__ == "__main__":
    main()
