"""Kill a real ``ducksync`` process at a named point, run it again, count the damage.

Shared by the safety tests (small sizes, in ``make test``) and ``make soak``
(``tests/safety/soak.py``, large sizes). A *scenario* is a pair of database files in a
folder (``local.duckdb``, ``remote.duckdb``) built once as a template, and the table
both must hold when everything has been sent (``expected.duckdb``). A *kill* copies
the template, runs the CLI (``sys.executable -m ducksync``) with ``DUCKSYNC_FAULT``
set (:mod:`ducksync.faults`: the process exits at that point, no cleanup), runs the
same command again without it, and compares local, remote and expected row by row.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ducksync.engine import detect
from ducksync.engine.state import base_table
from ducksync.engine.sync import SyncOptions, sync
from ducksync.faults import ENV, FAULT_EXIT, install
from ducksync.stores.native import NativeLocalStore, NativeRemoteStore

ROOT = Path(__file__).resolve().parents[2]
TABLE = "t"
FILES = ("local.duckdb", "remote.duckdb", "expected.duckdb")


# --- running the CLI ----------------------------------------------------------------

def cli(*args: str, fault: str | None = None, timeout: float = 600.0,
        ) -> subprocess.CompletedProcess[str]:
    """``ducksync ARGS`` in a new process; ``fault``: its ``DUCKSYNC_FAULT``."""
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if fault is not None:
        env[ENV] = fault
    return subprocess.run([sys.executable, "-m", "ducksync", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def sync_args(mode: str, folder: Path, remote: str, *extra: str) -> list[str]:
    return [mode, str(folder / "local.duckdb"), remote, "--table", TABLE, "--json", *extra]


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The ``--json`` report of a finished run (fails with its output otherwise)."""
    try:
        parsed: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"exit {done.returncode}, no report:\n{done.stdout}\n"
                             f"{done.stderr}") from exc
    return parsed


def points_reached(folder: Path, mode: str, extra: tuple[str, ...]) -> list[str]:
    """Every fault point a run reaches, in order, with repeats: the same run in this
    process with a recording hook (file remote; the run's files are consumed)."""
    seen: list[str] = []
    previous = install(seen.append)
    local = NativeLocalStore(spec=str(folder / "local.duckdb"))
    remote = NativeRemoteStore(spec=str(folder / "remote.duckdb"))
    try:
        opts = options(extra)
        asyncio.run(sync(local, remote, opts, mode))  # type: ignore[arg-type]
    finally:
        install(previous)
        local.close()
        remote.close()
    return seen


def options(extra: tuple[str, ...]) -> SyncOptions:
    """The CLI flags the scenarios use, as engine options."""
    flags = dict(zip(extra[::2], extra[1::2], strict=True))
    return SyncOptions(tables=[TABLE], key=flags["--key"].split(",") if "--key" in flags else None,
                       policy=flags.get("--conflict", "manual"),
                       batch_rows=int(flags["--batch-rows"]) if "--batch-rows" in flags else None)


# --- scenarios ----------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """A template folder and the command whose kills are tested."""

    name: str
    mode: str  # push | sync
    extra: tuple[str, ...]  # CLI flags
    template: Path

    def copy_to(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copyfile(self.template / name, folder / name)
        return folder


def _rows_sql(lo: str, hi: str, tag: str) -> str:
    """Rows ``lo <= id < hi`` of the scenarios' table, values tagged ``tag``."""
    return (f"SELECT i AS id, '{tag}' || i || repeat('x', (i % 7)::INTEGER) AS v, "
            f"i * 7 - 3 AS n, (i % 5 = 0) AS flag FROM range({lo}, {hi}) r(i)")


def first_push(folder: Path, rows: int, batch_rows: int) -> Scenario:
    """A local table of ``rows`` rows, nothing on the remote: the bulk path, in about
    ``rows / batch_rows`` ranges (``push``)."""
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(folder / "local.duckdb")) as con:
        con.execute(f"CREATE TABLE {TABLE} (id BIGINT PRIMARY KEY, v VARCHAR, n BIGINT, "
                    "flag BOOLEAN)")
        con.execute(f"INSERT INTO {TABLE} {_rows_sql('0', str(rows), 'a')}")
    duckdb.connect(str(folder / "remote.duckdb")).close()
    with duckdb.connect(str(folder / "expected.duckdb")) as con:
        con.execute(f"ATTACH '{folder / 'local.duckdb'}' AS l (READ_ONLY)")
        con.execute(f"CREATE TABLE {TABLE} AS SELECT * FROM l.{TABLE}")
    return Scenario("first-push", "push", ("--batch-rows", str(batch_rows)), folder)


def two_way(folder: Path, rows: int, batch_rows: int) -> Scenario:
    """Both sides synced with ``rows`` rows, then changed: on each side a tenth
    updated, a twentieth deleted, a tenth inserted, on different keys, and 20 keys
    changed on both sides (updates, and local deletes of remotely updated rows),
    decided ``remote-wins``. The local table has no PRIMARY KEY (``--key id``): a
    row written twice locally would show as a duplicate instead of an error.
    The expected table: local's rows for keys the remote did not touch, the
    remote's for those it did."""
    folder.mkdir(parents=True, exist_ok=True)
    local, remote = folder / "local.duckdb", folder / "remote.duckdb"
    with duckdb.connect(str(local)) as con:
        con.execute(f"CREATE TABLE {TABLE} (id BIGINT NOT NULL, v VARCHAR, n BIGINT, "
                    "flag BOOLEAN)")
        con.execute(f"INSERT INTO {TABLE} {_rows_sql('0', str(rows), 'a')}")
    extra = ("--key", "id", "--conflict", "remote-wins", "--batch-rows", str(batch_rows))
    initial = cli(*sync_args("sync", folder, str(remote), *extra))
    assert initial.returncode == 0, initial.stdout + initial.stderr
    tenth, twentieth = max(1, rows // 10), max(1, rows // 20)
    both = range(rows - 20, rows)  # changed on both sides
    with duckdb.connect(str(remote)) as con:
        con.execute("CREATE TEMP TABLE touched (id BIGINT)")
        lo = rows // 2
        con.execute(f"UPDATE {TABLE} SET v = 'r' || id, n = -n WHERE id >= {lo} AND "
                    f"id < {lo + tenth} OR id >= {both.start}")
        con.execute(f"DELETE FROM {TABLE} WHERE id >= {lo + tenth} AND "
                    f"id < {lo + tenth + twentieth}")
        con.execute(f"INSERT INTO {TABLE} "
                    f"{_rows_sql(str(rows + tenth), str(rows + 2 * tenth), 'r')}")
        con.execute(f"INSERT INTO touched SELECT i FROM range({lo}, {lo + tenth + twentieth}) r(i) "
                    f"UNION ALL SELECT i FROM range({rows + tenth}, {rows + 2 * tenth}) r(i) "
                    f"UNION ALL SELECT i FROM range({both.start}, {rows}) r(i)")
        con.execute(f"COPY touched TO '{folder / 'touched.parquet'}'")
    with duckdb.connect(str(local)) as con:
        con.execute(f"UPDATE {TABLE} SET v = 'l' || id, flag = NOT flag WHERE id < {tenth} "
                    f"OR (id >= {both.start} AND id % 2 = 0)")
        con.execute(f"DELETE FROM {TABLE} WHERE id >= {tenth} AND id < {tenth + twentieth} "
                    f"OR (id >= {both.start} AND id % 2 = 1)")
        con.execute(f"INSERT INTO {TABLE} {_rows_sql(str(rows), str(rows + tenth), 'l')}")
    with duckdb.connect(str(folder / "expected.duckdb")) as con:
        con.execute(f"ATTACH '{local}' AS l (READ_ONLY)")
        con.execute(f"ATTACH '{remote}' AS r (READ_ONLY)")
        touched = f"(SELECT id FROM '{folder / 'touched.parquet'}')"
        con.execute(f"CREATE TABLE {TABLE} AS SELECT * FROM l.{TABLE} WHERE id NOT IN {touched} "
                    f"UNION ALL SELECT * FROM r.{TABLE} WHERE id IN {touched}")
    return Scenario("two-way", "sync", extra, folder)


# --- verdict ------------------------------------------------------------------------

@dataclass
class Damage:
    """What a run left wrong: each count must be 0."""

    lost: int = 0  # expected keys missing (local or remote)
    duplicated: int = 0  # rows beyond the first of a key (local or remote)
    diverged: int = 0  # rows present but different from expected, or unexpected keys
    unsettled: int = 0  # outbox entries left, base keys that are not the table's
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.diverged or self.unsettled)


def damage(folder: Path) -> Damage:
    """Compare ``local`` and ``remote`` with ``expected`` (whole rows), and check
    that the local sync state is settled: empty outbox, base keys = table keys,
    kept base sums true."""
    out = Damage()
    con = duckdb.connect()
    try:
        for alias in ("l", "r", "e"):
            name = {"l": "local", "r": "remote", "e": "expected"}[alias]
            con.execute(f"ATTACH '{folder / (name + '.duckdb')}' AS {alias} (READ_ONLY)")
        for side in ("l", "r"):
            t, e = f"{side}.{TABLE}", f"e.{TABLE}"
            lost, dup, diff = con.execute(
                f"SELECT (SELECT count(*) FROM {e} WHERE id NOT IN (SELECT id FROM {t})), "
                f"(SELECT count(*) - count(DISTINCT id) FROM {t}), "
                f"(SELECT count(*) FROM (SELECT DISTINCT * FROM {t} EXCEPT SELECT * FROM {e}))"
            ).fetchall()[0]
            out.lost += lost
            out.duplicated += dup
            out.diverged += diff
            if lost or dup or diff:
                out.notes.append(f"{'local' if side == 'l' else 'remote'}: {lost} lost, "
                                 f"{dup} duplicated, {diff} diverged")
        outbox, stray = _settled(con)
        out.unsettled += outbox + stray
        if outbox or stray:
            out.notes.append(f"{outbox} outbox entries or journals, {stray} base keys off the "
                             "table")
    finally:
        con.close()
    return out


def _settled(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(outbox entries + bulk-run journals + general-push journal rows left, keys in the
    base xor the table, + 1 if kept sums are stale)."""
    base = "l.ducksync." + base_table(TABLE).removeprefix("ducksync.")
    outbox = con.execute(
        "SELECT (SELECT count(*) FROM l.ducksync.outbox) + (SELECT count(*) FROM "
        "duckdb_tables() WHERE database_name = 'l' AND schema_name = 'ducksync' AND "
        "starts_with(table_name, 'bulk_sent__'))").fetchall()[0][0]
    for (journal,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'l' AND "
            "schema_name = 'ducksync' AND starts_with(table_name, 'push_sent__')").fetchall():
        outbox += con.execute(f'SELECT count(*) FROM l.ducksync."{journal}"').fetchall()[0][0]
    stray = con.execute(
        f"SELECT count(*) FROM ((SELECT id FROM {base} EXCEPT SELECT id FROM l.{TABLE}) "
        f"UNION ALL (SELECT id FROM l.{TABLE} EXCEPT SELECT id FROM {base}))").fetchall()[0][0]
    kept = con.execute("SELECT base_n, base_x, base_sum FROM l.ducksync.tables WHERE name = ?",
                       [TABLE]).fetchall()
    if kept and kept[0][0] is not None:
        home = con.execute("SELECT current_database()").fetchall()[0][0]
        con.execute("USE l")  # the engine's sums name the base without a database
        try:
            fresh = con.execute(detect._base_sums_sql(TABLE, ["id"])).fetchall()[0]
        finally:
            con.execute(f'USE "{home}"')
        stray += int(tuple(kept[0]) != tuple(fresh))
    return int(outbox), int(stray)


def ledger_leftovers(remote_file: Path) -> int:
    """Answers the remote still keeps for a client (unacknowledged): allowed after a
    crash between recording and acknowledging (the pruner drops them), counted."""
    with duckdb.connect(str(remote_file), read_only=True) as con:
        have = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'ducksync'").fetchall()}
        n = 0
        for t in ("ledger_results", "ledger_rowsets", "ledger_verified"):
            if t in have:
                n += con.execute(f"SELECT count(*) FROM ducksync.{t}").fetchall()[0][0]
        return int(n)


# --- one kill -----------------------------------------------------------------------

@dataclass
class Outcome:
    """One kill and its recovery."""

    scenario: str
    fault: str
    target: str  # "cli" | "server"
    killed: bool = False  # the process really exited at the fault
    converged: bool = False  # the run after the crash(es) said so, exit 0
    damage: Damage = field(default_factory=Damage)
    leftovers: int = 0  # unacknowledged answers kept by the remote (see ledger_leftovers)
    log: str = ""

    @property
    def ok(self) -> bool:
        return self.killed and self.converged and self.damage.clean


def _step(log: list[str], done: subprocess.CompletedProcess[str], fault: str | None) -> None:
    log.append(f"$ {'DUCKSYNC_FAULT=' + fault + ' ' if fault else ''}ducksync "
               f"{' '.join(done.args[3:])}\n-> exit {done.returncode}\n"
               f"{done.stdout[-3000:]}{done.stderr[-3000:]}")


def kill_cli(scenario: Scenario, folder: Path, fault: str, *, remote: str | None = None,
             then_fault: str | None = None, prune: bool = False) -> Outcome:
    """Run the scenario's command in ``folder`` (a copy of the template) killed at
    ``fault``, then (killed again at ``then_fault``, if given) to its end. ``remote``:
    a server URL over ``folder/remote.duckdb``; default: that file itself. ``prune``:
    after the kill, days pass: the file remote drops every answer nobody acknowledged.
    Call :func:`finish` once nothing holds the files any more."""
    out = Outcome(scenario.name, fault, "cli")
    args = sync_args(scenario.mode, folder, remote or str(folder / "remote.duckdb"),
                     *scenario.extra)
    log: list[str] = []
    first = cli(*args, fault=fault)
    _step(log, first, fault)
    out.killed = first.returncode == FAULT_EXIT
    if prune:
        from engine_helpers import prune_answers

        with duckdb.connect(str(folder / "remote.duckdb")) as con:
            prune_answers(con)
    if then_fault is not None:
        again = cli(*args, fault=then_fault)
        _step(log, again, then_fault)
        out.killed = out.killed and again.returncode == FAULT_EXIT
    final = cli(*args)
    _step(log, final, None)
    out.converged = final.returncode == 0 and report(final)["converged"]
    out.log = "\n".join(log)
    return out


def kill_server(scenario: Scenario, folder: Path, fault: str) -> Outcome:
    """A server over ``folder/remote.duckdb`` exits at ``fault`` while the CLI runs the
    scenario; the CLI gives up (or not), the server comes back on the same port, the
    CLI runs again. The damage is counted with both stopped."""
    from serverutil import start_server

    out = Outcome(scenario.name, fault, "server")
    env = {ENV: fault, "DUCKSYNC_RATE_LIMIT": "0"}
    server = start_server(folder, env=env)
    port = int(server.url.rsplit(":", 1)[1])
    args = sync_args(scenario.mode, folder, server.url, *scenario.extra)
    log: list[str] = []
    try:
        first = cli(*args)
        _step(log, first, None)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            log.append("the server did not reach the fault")
        out.killed = server.process.returncode == FAULT_EXIT
        if server.process.returncode is None:
            server.stop()
        server = start_server(folder, env={"DUCKSYNC_RATE_LIMIT": "0"}, port=port)
        final = cli(*args)
        _step(log, final, None)
        out.converged = final.returncode == 0 and report(final)["converged"]
    finally:
        server.stop()
        log.append(server.output()[-4000:])
        out.log = "\n".join(log)
    return finish(out, folder)


def finish(outcome: Outcome, folder: Path) -> Outcome:
    """Fill in the damage once no process holds ``folder``'s files any more."""
    outcome.damage = damage(folder)
    outcome.leftovers = ledger_leftovers(folder / "remote.duckdb")
    return outcome
