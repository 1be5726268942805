"""engine/transaction.py: a transaction rolls back only what it opened.

Real DuckDB decides each case: a COMMIT that loses to another connection's write fails
and leaves no transaction (a ROLLBACK then fails with "no transaction is active"); a
BEGIN inside a transaction already open is refused."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import run

from ducksync.engine import subscriptions
from ducksync.engine.transaction import after_failed_script, transaction
from ducksync.errors import QueryError
from ducksync.stores.native import NativeLocalStore


class Recorded(NativeLocalStore):
    """Every statement kept; ``before_commit()`` runs just before a COMMIT is sent."""

    def __init__(self) -> None:
        super().__init__(spec=":memory:", threaded=False)
        self.sent: list[str] = []
        self.before_commit: Any = None

    async def execute(self, sql: str, params: Any = ()) -> None:
        self.sent.append(sql)
        if sql == "COMMIT" and self.before_commit is not None:
            self.before_commit()
        await super().execute(sql, params)


def test_a_commit_that_loses_raises_its_own_error_and_rolls_nothing_back() -> None:
    """Was: the ROLLBACK after the failed COMMIT raised "cannot rollback - no transaction
    is active", and that error replaced the commit's."""
    local = Recorded()
    run(subscriptions.hold_only(local, ["a"]))
    other = local.con.cursor()  # another connection writes the same row meanwhile
    local.before_commit = lambda: other.execute(
        "INSERT OR REPLACE INTO ducksync.subscriptions VALUES ('b', true, now())")
    local.sent.clear()
    with pytest.raises(QueryError, match="Failed to commit") as caught:
        run(subscriptions.hold_only(local, ["b"]))
    assert "no transaction is active" not in caught.value.message
    assert "ROLLBACK" not in local.sent, local.sent
    local.before_commit = None
    assert run(subscriptions.hold_only(local, ["c"])).choices == {"c": True}  # usable after


def test_a_failure_inside_rolls_back_once_and_keeps_its_error() -> None:
    local = Recorded()
    local.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")

    async def dup() -> None:
        async with transaction(local):
            await local.execute("INSERT INTO t VALUES (1)")
            await local.execute("INSERT INTO t VALUES (1)")

    with pytest.raises(QueryError, match="duplicate key"):
        run(dup())
    assert local.sent.count("ROLLBACK") == 1
    assert local.con.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_a_refused_begin_leaves_the_open_transaction_to_its_owner() -> None:
    """A transaction already open on the connection (not ours): our BEGIN is refused,
    and we send no ROLLBACK that would end it; its owner still can."""
    local = Recorded()
    local.con.execute("BEGIN TRANSACTION")

    async def ours() -> None:
        async with transaction(local):
            await local.execute("SELECT 1")

    with pytest.raises(QueryError, match="within a transaction"):
        run(ours())
    assert local.sent == ["BEGIN TRANSACTION"]
    local.con.execute("ROLLBACK")  # the owner's: still open, so this does not fail


def _script(local: Recorded, script: str) -> None:
    async def go() -> None:
        try:
            await local.execute(script)
        except BaseException as exc:
            await after_failed_script(local, exc)
            raise

    with pytest.raises(QueryError):
        run(go())


def test_a_script_that_fails_inside_is_rolled_back_but_not_one_refused_at_begin() -> None:
    """A transaction sent as one script (the feed pull's): failing inside, it is left
    open (DuckDB: "Current transaction is aborted") and rolled back; refused at its
    BEGIN, the open transaction is another's, and no ROLLBACK ends it."""
    local = Recorded()
    local.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    _script(local, "BEGIN TRANSACTION; INSERT INTO t VALUES (1); INSERT INTO t VALUES (1); "
                   "COMMIT")
    assert local.sent[-1] == "ROLLBACK"
    local.con.execute("BEGIN TRANSACTION")  # nothing left open: a new one starts
    local.sent.clear()
    _script(local, "BEGIN TRANSACTION; INSERT INTO t VALUES (2); COMMIT")
    assert "ROLLBACK" not in local.sent, local.sent
    local.con.execute("ROLLBACK")  # the owner's, still open
