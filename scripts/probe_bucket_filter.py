"""Probe: what the descent's bucket filter costs natively, and a 1k pull in-process.

``levels``: one level's local bucket query (detect.py's SQL, on a 1M-row base of derived
hashes) with the bucket list bound as a Python list (session 12's form), as text cast
to ``UBIGINT[]`` (``sb.bucket_list``, the engine's now), as text in other filter forms,
and without a filter; 1,000 changed keys' buckets at each level.
``pull-setup DIR`` / ``pull DIR``: a 1M-row table pushed once into a native remote
store (files kept in ``DIR``), then each ``pull`` copies both files, updates 1,000
remote rows and times the pull (wall, CPU, detect.remote): run it with ``PYTHONPATH``
pointing at each code to compare, alternated. Not a test, not the bench: a measuring
tool for docs/benchmarks.md (session 12, the descent's bucket filter).

    PYTHONPATH=$PWD/py flock /work/bench.lock .venv/bin/python scripts/probe_bucket_filter.py \
        levels [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHANGED = 1000


def _cpu_ms() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) * 1000


def levels(rows: int, repeat: int) -> None:
    import duckdb

    from ducksync.engine import detect
    from ducksync.engine import sqlbuild as sb

    con = duckdb.connect()
    con.execute("CREATE SCHEMA ducksync")
    con.execute(f"CREATE TABLE ducksync.base__t AS SELECT i AS id, hash(i, 'x') AS __lh, "
                f"NULL::UBIGINT AS __rhd, NULL::UBIGINT AS __rkd FROM range({int(rows)}) r(i)")
    con.execute("CREATE TABLE __ds_rcs (bucket UINTEGER, checksum UBIGINT, n UINTEGER)")
    changed = random.Random(1).sample(range(rows), CHANGED)
    hashes = [int(h) for (h,) in con.execute("SELECT hash(unnest(?::BIGINT[]))",
                                             [changed]).fetchall()]

    def level_sql(where: str) -> str:  # detect._diff_buckets' statement, filter swapped
        return (
            "SELECT COALESCE(r.bucket, l.bucket)::UBIGINT, greatest(COALESCE(r.n, 0), "
            "COALESCE(l.n, 0)) FROM (SELECT bucket::UBIGINT AS bucket, checksum::UBIGINT AS "
            "checksum, n::BIGINT AS n FROM __ds_rcs) r FULL OUTER JOIN (SELECT rk % ?::UBIGINT "
            f"AS bucket, {sb.checksum_sql('rk', 'rh')} AS checksum, count(*) AS n FROM "
            f"{detect._remote_hashes('t', ['id'])} {where} GROUP BY ALL) l "
            "ON r.bucket = l.bucket WHERE r.checksum IS DISTINCT FROM l.checksum OR "
            "r.n IS DISTINCT FROM l.n ORDER BY 1")

    filt = f"WHERE {sb.in_buckets_sql('rk')}"
    variants: dict[str, tuple[str, Callable[[int, int, list[int]], list[Any]]]] = {
        "list param (before)": (filt, lambda m, pm, ps: [m, pm, ps]),
        "text param (now)": (filt, lambda m, pm, ps: [m, pm, sb.bucket_list(ps)]),
        "text, SEMI JOIN": ("SEMI JOIN (SELECT unnest(?::UBIGINT[]) AS p) ps ON "
                            "rk % ?::UBIGINT = ps.p",
                            lambda m, pm, ps: [m, sb.bucket_list(ps), pm]),
        "text, rk & (n - 1)": ("WHERE rk & (?::UBIGINT - 1) IN (SELECT unnest(?::UBIGINT[]))",
                               lambda m, pm, ps: [m, pm, sb.bucket_list(ps)]),
        "text, list_contains": ("WHERE list_contains(?::UBIGINT[], rk % ?::UBIGINT)",
                                lambda m, pm, ps: [m, sb.bucket_list(ps), pm]),
        "no filter": ("", lambda m, pm, ps: [m]),
    }
    for parent in (4096, 16384, 65536, 262144):
        modulus, parents = parent * 4, sorted({h % parent for h in hashes})
        expected = None
        for name, (where, params) in variants.items():
            walls, cpus = [], []
            for _ in range(repeat):
                c0, t0 = _cpu_ms(), time.perf_counter()
                got = con.execute(level_sql(where), params(modulus, parent, parents)).fetchall()
                walls.append((time.perf_counter() - t0) * 1000)
                cpus.append(_cpu_ms() - c0)
            if name != "no filter":
                expected = got if expected is None else expected
                assert got == expected, name
            print(f"modulus {modulus:>8}, {len(parents):>4} parents, {name:<20} "
                  f"wall {min(walls):7.1f} ms, CPU {min(cpus):7.1f} ms", flush=True)


async def pull(folder: Path, setup: bool) -> None:
    from ducksync.bench import data
    from ducksync.engine.sync import SyncOptions, sync
    from ducksync.stores.native import NativeLocalStore, NativeRemoteStore

    options, rows = SyncOptions(tables=[data.TABLE]), 1_000_000
    if setup:
        folder.mkdir(parents=True, exist_ok=True)
        local = NativeLocalStore(spec=str(folder / "l0.duckdb"))
        local.con.execute(data.create_sql())
        local.con.execute(data.fill_sql(rows))
        remote = NativeRemoteStore(spec=str(folder / "r0.duckdb"))
        await sync(local, remote, options, "push")
        local.con.execute("CHECKPOINT")
        remote.con.execute("CHECKPOINT")
    else:
        shutil.copy(folder / "l0.duckdb", folder / "l.duckdb")
        shutil.copy(folder / "r0.duckdb", folder / "r.duckdb")
        local = NativeLocalStore(spec=str(folder / "l.duckdb"))
        remote = NativeRemoteStore(spec=str(folder / "r.duckdb"))
        remote.con.execute(data.change_sql(rows, salt=2))
        c0, t0 = _cpu_ms(), time.perf_counter()
        rep = (await sync(local, remote, options, "pull")).tables[0]
        wall, cpu = (time.perf_counter() - t0) * 1000, _cpu_ms() - c0
        assert not rep.error and rep.pulled == CHANGED, (rep.error, rep.pulled)
        print(json.dumps({"ms": round(wall), "cpu_ms": round(cpu),
                          "detect_remote_ms": round(rep.timings.get("detect.remote", 0)),
                          "calls": rep.remote_calls,
                          "bytes": rep.bytes_sent + rep.bytes_received}))
    local.close()
    remote.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["levels", "pull-setup", "pull"])
    parser.add_argument("folder", nargs="?", default="/tmp/probe-bucket-filter")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.what == "levels":
        levels(args.rows, args.repeat)
    else:
        asyncio.run(pull(Path(args.folder), args.what == "pull-setup"))


if __name__ == "__main__":
    main()
