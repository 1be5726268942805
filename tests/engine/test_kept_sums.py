"""The base's whole-table sums kept between syncs (``ducksync.tables.base_*``).

A no-op sync compares the local table with the base's sums: kept, it reads the
table only. They must never describe a base that has changed since: every engine
test checks that after each sync (``engine_helpers.assert_kept_sums_hold``); here,
the reads they save, and crashes at every step of a run that writes the base.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from engine_helpers import Crash, FlakyLocal, FlakyRemote, do_sync, local_db, remote_db, rows

from ducksync.stores.native import NativeLocalStore

BASE = 'ducksync."base__t"'


class Logged(NativeLocalStore):
    """Records every statement, to see which tables a sync read."""

    def __init__(self) -> None:
        super().__init__(spec=":memory:")
        self.log: list[str] = []

    async def execute(self, sql: str, params: Any = ()) -> None:
        self.log.append(sql)
        await super().execute(sql, params)

    async def fetch_rows(self, sql: str, params: Any = ()) -> Any:
        self.log.append(sql)
        return await super().fetch_rows(sql, params)


def seeded(local: Any) -> Any:
    local.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR)")
    local.con.execute("INSERT INTO t SELECT i, 'v' || i FROM range(40) r(i)")
    remote = remote_db()
    do_sync(local, remote, tables=["t"])
    return remote


def test_a_no_op_sync_reads_the_table_but_not_the_base() -> None:
    local = Logged()
    remote = seeded(local)
    local.log.clear()
    rep = do_sync(local, remote, tables=["t"]).tables[0]
    assert {"local-unchanged", "remote-unchanged"} <= set(rep.paths)
    assert not [s for s in local.log if BASE in s and "CREATE TABLE IF NOT EXISTS" not in s]
    assert any('FROM "t"' in s for s in local.log)  # the table itself is still hashed


def test_kept_sums_still_see_each_kind_of_change() -> None:
    local = local_db()
    remote = seeded(local)
    local.con.execute("UPDATE t SET v = 'local' WHERE id = 1")
    local.con.execute("DELETE FROM t WHERE id = 2")
    local.con.execute("INSERT INTO t VALUES (100, 'new')")
    remote.con.execute("UPDATE t SET v = 'remote' WHERE id = 3")
    rep = do_sync(local, remote, tables=["t"]).tables[0]
    assert (rep.pushed, rep.pulled) == (3, 1)
    assert rows(local) == rows(remote)
    # a swap of values between rows keeps every column's multiset: still seen
    local.con.execute("UPDATE t SET v = CASE id WHEN 5 THEN 'v6' ELSE 'v5' END "
                      "WHERE id IN (5, 6)")
    assert do_sync(local, remote, tables=["t"]).tables[0].pushed == 2
    assert rows(local) == rows(remote)


def _pending_both_ways() -> tuple[Any, Any]:
    """Synced, then a remote change (pulled first) and a local one (then pushed)."""
    local = local_db()
    remote = seeded(local)
    remote.con.execute("UPDATE t SET v = 'remote' WHERE id = 3")
    local.con.execute("UPDATE t SET v = 'local' WHERE id = 4")
    return local, remote


def _crashed_run_then_converges(local: Any, remote: Any, flaky: Any, fail_at: int) -> bool:
    """Run a sync through ``flaky`` (do_sync checks the kept sums, crash or not), then a
    clean one; True while the flaky run reached step ``fail_at`` (more steps to try)."""
    with contextlib.suppress(Crash):
        if isinstance(flaky, FlakyLocal):
            do_sync(flaky, remote, tables=["t"])
        else:
            do_sync(local, flaky, tables=["t"])
    do_sync(local, remote, tables=["t"])
    assert rows(local) == rows(remote)
    return bool(flaky.calls >= fail_at)


@pytest.mark.parametrize("after", [False, True])
def test_a_crash_at_any_remote_call_leaves_no_stale_sums(after: bool) -> None:
    for fail_at in range(1, 30):
        local, remote = _pending_both_ways()
        flaky = FlakyRemote(remote, fail_at=fail_at, after=after)
        if not _crashed_run_then_converges(local, remote, flaky, fail_at):
            break  # the run never reached call ``fail_at``: every step was covered


def test_a_crash_at_any_local_statement_leaves_no_stale_sums() -> None:
    for fail_at in range(1, 200):
        local, remote = _pending_both_ways()
        flaky = FlakyLocal(local, fail_at=fail_at)
        if not _crashed_run_then_converges(local, remote, flaky, fail_at):
            break


def _unheard_push(first: int) -> tuple[Any, Any]:
    """A local and remote where the remote applied a push the client never heard of."""
    local, remote = _pending_both_ways()
    with contextlib.suppress(Crash):
        do_sync(local, FlakyRemote(remote, fail_at=first, after=True), tables=["t"])
    return local, remote


def test_a_crash_after_settling_the_outbox_leaves_no_stale_sums() -> None:
    """Settling a batch the remote applied (the client never heard) writes the base
    first thing in the next run; a crash at any later step must find no kept sums."""
    first = next(n for n in range(1, 30)
                 if _unheard_push(n)[0].con.execute(
                     "SELECT count(*) FROM ducksync.outbox").fetchall()[0][0])
    for second in range(1, 30):
        local, remote = _unheard_push(first)
        flaky = FlakyRemote(remote, fail_at=second, after=False)
        if not _crashed_run_then_converges(local, remote, flaky, second):
            break
