"""An idle sync skips hashing a table only when its store's write token proves it may.

The store here is the native one with the browser's WriteClock attached; "the page"
writes through ``clock.writing()`` as the local worker does. Each test checks a case
where skipping would lose or invent a change.
"""

from __future__ import annotations

from typing import Any

from engine_helpers import do_sync, remote_db, run

from ducksync.engine.detect import detect_local
from ducksync.engine.schema import reconcile
from ducksync.engine.store import WriteTracked
from ducksync.stores.native import NativeLocalStore
from ducksync.worker.write_clock import WriteClock

SKIP = "local-unchanged-since-sync"


class TrackedLocal(NativeLocalStore):
    def __init__(self) -> None:
        super().__init__(spec=":memory:")
        self.clock = WriteClock()
        self.clean = self.clock.clean

    def write_token(self) -> str | None:
        return self.clock.write_token()

    def page(self, sql: str) -> None:
        """A write by the page: counted, like ``workers/local_worker.py`` does."""
        with self.clock.writing():
            self.con.execute(sql)


def setup() -> tuple[TrackedLocal, Any]:
    local, remote = TrackedLocal(), remote_db()
    local.page("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR)")
    local.page("INSERT INTO t SELECT i, 'v' || i FROM range(50) r(i)")
    return local, remote


def test_tracked_store_is_recognised() -> None:
    assert isinstance(TrackedLocal(), WriteTracked)
    assert not isinstance(NativeLocalStore(spec=":memory:"), WriteTracked)


def test_idle_sync_skips_and_a_page_write_is_still_pushed() -> None:
    local, remote = setup()
    first = do_sync(local, remote, tables=["t"]).tables[0]
    assert first.pushed == 50 and SKIP not in first.paths
    idle = do_sync(local, remote, tables=["t"]).tables[0]
    assert SKIP in idle.paths and idle.converged and idle.pushed == idle.pulled == 0

    local.page("UPDATE t SET v = 'changed' WHERE id = 7")
    after = do_sync(local, remote, tables=["t"]).tables[0]
    assert SKIP not in after.paths and after.pushed == 1
    assert remote.con.execute("SELECT v FROM t WHERE id = 7").fetchall() == [("changed",)]


def test_remote_changes_are_still_pulled_when_local_is_skipped() -> None:
    local, remote = setup()
    do_sync(local, remote, tables=["t"])
    remote.con.execute("UPDATE t SET v = 'remote' WHERE id = 3")
    pulled = do_sync(local, remote, tables=["t"]).tables[0]
    assert SKIP in pulled.paths and pulled.pulled == 1
    # the engine's own pull keeps the table equal to its base: still skippable
    again = do_sync(local, remote, tables=["t"]).tables[0]
    assert SKIP in again.paths and again.pulled == again.pushed == 0
    assert local.con.execute("SELECT v FROM t WHERE id = 3").fetchall() == [("remote",)]


def test_no_skip_while_a_page_write_runs() -> None:
    local, remote = setup()
    do_sync(local, remote, tables=["t"])
    with local.clock.writing():  # begun, not finished: the sync must hash
        local.con.execute("UPDATE t SET v = 'midway' WHERE id = 1")
        during = do_sync(local, remote, tables=["t"]).tables[0]
    assert SKIP not in during.paths and during.pushed == 1
    # recorded nothing clean mid-write; the write's end moved the token anyway
    assert SKIP not in do_sync(local, remote, tables=["t"]).tables[0].paths


def test_pending_conflict_is_never_skipped() -> None:
    local, remote = setup()
    do_sync(local, remote, tables=["t"])
    local.page("UPDATE t SET v = 'local' WHERE id = 5")
    remote.con.execute("UPDATE t SET v = 'remote' WHERE id = 5")
    rep = do_sync(local, remote, tables=["t"]).tables[0]
    assert rep.pending_conflicts == 1
    again = do_sync(local, remote, tables=["t"]).tables[0]
    assert SKIP not in again.paths and again.pending_conflicts == 1


def test_pull_only_run_does_not_vouch_for_local_changes() -> None:
    local, remote = setup()
    do_sync(local, remote, tables=["t"])
    local.page("UPDATE t SET v = 'unsent' WHERE id = 9")
    pulled = do_sync(local, remote, "pull", tables=["t"]).tables[0]
    assert pulled.pending_local == 1
    pushed = do_sync(local, remote, tables=["t"]).tables[0]
    assert SKIP not in pushed.paths and pushed.pushed == 1


def test_another_remote_means_a_full_comparison() -> None:
    local, remote = setup()
    do_sync(local, remote, tables=["t"])
    other = remote_db()
    rep = do_sync(local, other, tables=["t"]).tables[0]
    assert SKIP not in rep.paths and "remote-changed" in rep.paths and rep.pushed == 50


def test_an_untouched_base_is_not_rescanned_and_remote_changes_still_show() -> None:
    local, remote = setup()
    do_sync(local, remote, tables=["t"])
    assert local.clean["t"].base_top is None  # that run wrote the base
    do_sync(local, remote, tables=["t"])
    mark = local.clean["t"]
    assert mark.base_top is not None and mark.base_top[1] == 50  # kept: the run left it
    idle = do_sync(local, remote, tables=["t"]).tables[0]
    assert SKIP in idle.paths and "remote-unchanged" in idle.paths
    remote.con.execute("DELETE FROM t WHERE id = 4")
    seen = do_sync(local, remote, tables=["t"]).tables[0]
    assert seen.pulled == 1 and local.clean["t"].base_top is None
    assert local.con.execute("SELECT count(*) FROM t").fetchall() == [(49,)]


def test_hashing_once_finds_what_hashing_on_the_fly_finds() -> None:
    """The browser's store hashes a written table once into a temp table (see
    ``detect_local(hash_once=...)``): the same changes must come out as with the
    table hashed on the fly, and none when a write changed nothing."""
    local, remote = setup()
    do_sync(local, remote, tables=["t"])
    local.page("UPDATE t SET v = 'x' WHERE id IN (3, 4)")
    local.page("DELETE FROM t WHERE id = 5")
    local.page("INSERT INTO t VALUES (100, 'new')")
    shape = run(reconcile(local, remote, "t", None))
    found = {}
    for once in (False, True):
        n, _ = run(detect_local(local, shape, hash_once=once))
        found[once] = (n, sorted(local.con.execute("SELECT * FROM __ds_l").fetchall()))
    assert found[True] == found[False] and found[True][0] == 4
    assert do_sync(local, remote, tables=["t"]).tables[0].pushed == 4
    local.page("UPDATE t SET v = v WHERE id = 1")  # a write that changes nothing
    idle = do_sync(local, remote, tables=["t"]).tables[0]
    assert "local-unchanged" in idle.paths and idle.pushed == 0
    left = local.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = "
                             "'__ds_lcur'").fetchone()
    assert left == (0,)  # the temp copy of the hashes does not outlive the detection
