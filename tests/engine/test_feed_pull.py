"""The change feed's fast pull (engine/feed_pull.py): the announced keys' rows, proved.

Each test gives the engine a hint (the keys a commit wrote, as the feed announces them)
and checks that the fast path is taken only when it is enough, and that every case it
cannot prove (a key the hint missed, a local write, a conflict, a deletion burst) falls
back to the general round, which decides as it always did.
"""

from __future__ import annotations

from typing import Any

from engine_helpers import do_sync
from test_write_tracking import TrackedLocal, setup

FAST, FALLBACK = "feed-pull", "feed-fallback"


def _synced() -> tuple[TrackedLocal, object]:
    local, remote = setup()
    do_sync(local, remote, tables=["t"])
    return local, remote


def _rows(con: object) -> list[tuple[object, ...]]:
    return con.execute("SELECT * FROM t ORDER BY id").fetchall()  # type: ignore[attr-defined]


def test_announced_keys_are_pulled_without_a_descent() -> None:
    local, remote = _synced()
    remote.con.execute("UPDATE t SET v = 'remote' WHERE id = 3")  # type: ignore[attr-defined]
    remote.con.execute("INSERT INTO t VALUES (100, 'new')")  # type: ignore[attr-defined]
    remote.con.execute("DELETE FROM t WHERE id = 4")  # type: ignore[attr-defined]
    calls: list[str] = []
    fetch_rows, survey = remote.fetch_rows, remote.survey  # type: ignore[attr-defined]

    def counted_fetch(*a: Any, **kw: Any) -> Any:
        calls.append("fetch_rows")
        return fetch_rows(*a, **kw)

    async def counted_survey(*a: Any, **kw: Any) -> Any:
        calls.append("survey")
        return await survey(*a, **kw)

    remote.fetch_rows, remote.survey = counted_fetch, counted_survey  # type: ignore[attr-defined]
    rep = do_sync(local, remote, tables=["t"], feed_keys={"t": ["3", "100", "4"]}).tables[0]
    assert FAST in rep.paths and rep.pulled == 3 and rep.converged
    assert sorted(calls) == ["fetch_rows", "survey"]  # the rows came beside the survey
    assert "detect.remote" not in rep.timings  # no checksum descent, no hash rows
    assert _rows(local.con) == _rows(remote.con)  # type: ignore[attr-defined]
    # the base is the remote's: the next sync finds nothing, and a local edit still goes up
    assert "remote-unchanged" in do_sync(local, remote, tables=["t"]).tables[0].paths
    local.page("UPDATE t SET v = 'local' WHERE id = 100")
    assert do_sync(local, remote, tables=["t"]).tables[0].pushed == 1


def test_a_change_the_hint_missed_falls_back_and_is_pulled() -> None:
    # another writer's commit (or a gap in the versions): the proof fails
    local, remote = _synced()
    remote.con.execute("UPDATE t SET v = 'a' WHERE id IN (3, 8)")  # type: ignore[attr-defined]
    rep = do_sync(local, remote, tables=["t"], feed_keys={"t": ["3"]}).tables[0]
    assert FALLBACK in rep.paths and FAST not in rep.paths
    assert rep.pulled == 2 and _rows(local.con) == _rows(remote.con)  # type: ignore[attr-defined]


def test_a_local_write_means_the_general_round_and_its_conflict() -> None:
    local, remote = _synced()
    local.page("UPDATE t SET v = 'local' WHERE id = 5")
    remote.con.execute("UPDATE t SET v = 'remote' WHERE id = 5")  # type: ignore[attr-defined]
    rep = do_sync(local, remote, tables=["t"], feed_keys={"t": ["5"]}).tables[0]
    assert FAST not in rep.paths and rep.pending_conflicts == 1  # kept for a human
    assert local.con.execute("SELECT v FROM t WHERE id = 5").fetchall() == [("local",)]
    # the waiting conflict keeps the fast path away until it is settled
    remote.con.execute("UPDATE t SET v = 'again' WHERE id = 6")  # type: ignore[attr-defined]
    again = do_sync(local, remote, tables=["t"], feed_keys={"t": ["6"]}).tables[0]
    assert FAST not in again.paths and again.pending_conflicts == 1


def test_a_page_write_during_the_fast_path_is_not_overwritten() -> None:
    local, remote = _synced()
    remote.con.execute("UPDATE t SET v = 'remote' WHERE id = 2")  # type: ignore[attr-defined]
    # written without the clock (as if it landed after the token was read): the check
    # inside the writing transaction still sees it and hands over to the general round
    local.con.execute("UPDATE t SET v = 'page' WHERE id = 2")
    rep = do_sync(local, remote, tables=["t"], feed_keys={"t": ["2"]}).tables[0]
    assert FALLBACK in rep.paths and FAST not in rep.paths
    assert rep.pending_conflicts == 1  # the general round hashed the table: a conflict
    assert local.con.execute("SELECT v FROM t WHERE id = 2").fetchall() == [("page",)]


def test_a_deletion_burst_hits_the_mass_delete_guard() -> None:
    local, remote = _synced()
    remote.con.execute("DELETE FROM t WHERE id >= 10")  # type: ignore[attr-defined]
    gone = [str(i) for i in range(10, 50)]
    guard = {"mass_delete_min_rows": 20}  # 40 of 50 rows: more than half, and >= 20
    rep = do_sync(local, remote, tables=["t"], feed_keys={"t": gone}, **guard).tables[0]
    assert FAST not in rep.paths and rep.mass_delete is not None
    assert local.con.execute("SELECT count(*) FROM t").fetchall() == [(50,)]
    allowed = do_sync(local, remote, tables=["t"], feed_keys={"t": gone},
                      allow_mass_delete=True, **guard).tables[0]
    assert allowed.pulled == 40
    assert local.con.execute("SELECT count(*) FROM t").fetchall() == [(10,)]


def test_a_hint_of_keys_that_cannot_be_read_falls_back() -> None:
    local, remote = _synced()
    remote.con.execute("UPDATE t SET v = 'r' WHERE id = 1")  # type: ignore[attr-defined]
    rep = do_sync(local, remote, tables=["t"], feed_keys={"t": ["not a number"]}).tables[0]
    assert FALLBACK in rep.paths and rep.pulled == 1
