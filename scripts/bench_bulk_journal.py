"""What the push journals cost natively (reports, does not assert).

    PYTHONPATH=py .venv/bin/python scripts/bench_bulk_journal.py [--rows 1000000] [--runs 3]
    PYTHONPATH=py .venv/bin/python scripts/bench_bulk_journal.py --general --rows 100000 --runs 3

Default: an initial push (the bulk path) of the bench table, file -> file, timed whole
and the journal's statements (``engine/bulk.py``: what each batch sends, written before
it leaves) timed alone in the same run: their share of the push, not an A/B across builds;
so is the run's check for keys sent twice (``_BulkRun._sent_before``).

``--general``: a general push of ``--rows`` updated rows (``engine/push.py``: each
batch's keys journaled with its outbox entry), file -> file, alternating runs with the
journal and without it (the journal's two functions swapped for journal-free ones in
the same build): wall time and CPU seconds of the process (the in-process remote
included), and the journal's statements timed alone in the runs that write it.
Prints the load average (shared machine) beside the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from ducksync.engine import push
from ducksync.engine.sync import SyncOptions, sync
from ducksync.stores.native import NativeLocalStore, NativeRemoteStore

TABLE = "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR, amount DECIMAL(12,2), qty INTEGER)"
FILL = ("INSERT INTO t SELECT i, 'customer ' || (i % 9973) || ' ' || md5(i::VARCHAR)[:8], "
        "(i % 100000) / 100, i % 1000 FROM range(?) x(i)")


class _Timed(NativeLocalStore):
    """Times the journal's statements (those naming ``mark``) and the bulk run's check
    for keys sent twice (``bulk._BulkRun._sent_before``)."""

    journal_s = resent_s = 0.0
    mark = "bulk_sent__"

    async def execute(self, sql: str, params: Any = ()) -> None:
        t0 = time.perf_counter()
        await super().execute(sql, params)
        if sql.startswith(("INSERT", "DELETE")) and self.mark in sql:
            self.journal_s += time.perf_counter() - t0
        elif sql.startswith("INSERT INTO __ds_spans"):
            self.resent_s += time.perf_counter() - t0

    async def fetch_rows(self, sql: str, params: Any = ()) -> Any:
        t0 = time.perf_counter()
        out = await super().fetch_rows(sql, params)
        if "__ds_spans" in sql or ("SEMI JOIN" in sql and self.mark in sql):
            self.resent_s += time.perf_counter() - t0
        return out


async def one(folder: Path, rows: int) -> tuple[float, float, float, list[str]]:
    local = _Timed(spec=str(folder / "local.duckdb"))
    local.con.execute(TABLE)
    local.con.execute(FILL, [rows])
    local.con.execute("CHECKPOINT")
    remote = NativeRemoteStore(spec=str(folder / "remote.duckdb"))
    t0 = time.perf_counter()
    rep = (await sync(local, remote, SyncOptions(tables=["t"]), "sync")).tables[0]
    return time.perf_counter() - t0, local.journal_s, local.resent_s, rep.paths


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


async def one_general(folder: Path, rows: int) -> tuple[float, float, float, list[str]]:
    """(wall s, CPU s, journal s, paths) of a general push of ``rows`` updated rows."""
    local = _Timed(spec=str(folder / "local.duckdb"))
    local.mark = "push_sent__"
    local.con.execute(TABLE)
    local.con.execute(FILL, [rows])
    remote = NativeRemoteStore(spec=str(folder / "remote.duckdb"))
    await sync(local, remote, SyncOptions(tables=["t"]), "sync")  # bulk: not timed
    local.con.execute("UPDATE t SET qty = qty + 1")
    local.con.execute("CHECKPOINT")
    local.journal_s = 0.0
    t0, c0 = time.perf_counter(), _cpu()
    rep = (await sync(local, remote, SyncOptions(tables=["t"]), "sync")).tables[0]
    assert rep.pushed == rows, rep
    return time.perf_counter() - t0, _cpu() - c0, local.journal_s, rep.paths


async def _entry_only(local: Any, shape: Any, batch_id: str, lo: int, hi: int) -> None:
    await local.execute("INSERT INTO ducksync.outbox VALUES (?, ?, now())",
                        [batch_id, shape.table])


def _without_journal() -> Any:
    """Swap the journal's functions for journal-free ones; returns the undo."""
    entry, forget = push._journal_entry, push._forget_entry

    async def forget_only(local: Any, table: str, batch_id: str, *, journaled: bool) -> None:
        await forget(local, table, batch_id, journaled=False)

    push._journal_entry, push._forget_entry = _entry_only, forget_only  # type: ignore[assignment]

    def undo() -> None:
        push._journal_entry, push._forget_entry = entry, forget  # type: ignore[assignment]
    return undo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--general", action="store_true")
    args = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.1f}")
    for i in range(args.runs):
        if not args.general:
            with tempfile.TemporaryDirectory() as d:
                push_s, journal, resent, paths = asyncio.run(
                    one(Path(d), args.rows or 1_000_000))
            print(f"run {i}: {paths} push {push_s * 1000:.0f} ms, journal {journal * 1000:.0f}"
                  f" ms ({100 * journal / push_s:.1f} %), check for keys sent twice "
                  f"{resent * 1000:.0f} ms ({100 * resent / push_s:.1f} %)")
            continue
        for journaled in (i % 2 == 0, i % 2 != 0):  # alternate which goes first
            undo = None if journaled else _without_journal()
            try:
                with tempfile.TemporaryDirectory() as d:
                    wall, cpu, journal, paths = asyncio.run(
                        one_general(Path(d), args.rows or 100_000))
            finally:
                if undo is not None:
                    undo()
            print(f"run {i} {'with' if journaled else 'without'} journal: {paths} push "
                  f"{wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU, journal statements "
                  f"{journal * 1000:.0f} ms ({100 * journal / wall:.1f} % of wall)")
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
