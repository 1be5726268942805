"""The sync engine against the cloud stand-in (py/ducksync/stores/standin.py).

The remote store runs on a real native DuckDB under the cloud remote's documented rules:
temp tables evaluated by "the client's engine", writes refused for a share's reader,
the client version window, and every statement counted (a round trip). Transaction
conflicts are DuckDB's own: two writers are two connections to one database file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import duckdb
import pytest
from engine_helpers import do_sync, local_db, rows

from ducksync.errors import ReadOnlyRemoteError, UnsupportedVersionError
from ducksync.stores.native import NativeLocalStore
from ducksync.stores.sql_remote import SqlRemoteStore
from ducksync.stores.standin import CloudStandIn

TABLES = ("a", "b", "c")


class StandInRemote(SqlRemoteStore):
    """The one SQL remote store over a :class:`CloudStandIn` of a native connection;
    ``con`` writes the database directly (another tool), ``cloud`` counts statements."""

    def __init__(self, spec: str = ":memory:", *, con: Any = None, **rules: Any) -> None:
        native = NativeLocalStore(spec=spec, con=con)
        native.con.execute("SET arrow_lossless_conversion = true")
        self.cloud = CloudStandIn(inner=native, **rules)
        super().__init__(connector=self.cloud)
        self.con = native.con


def three_tables(n: int = 50) -> Any:
    local = local_db()
    for t in TABLES:
        local.con.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, v VARCHAR)")
        local.con.execute(f"INSERT INTO {t} SELECT i, 'v' || i FROM range({n}) r(i)")
    return local


def test_the_standin_enforces_its_rules_on_its_own() -> None:
    """Each rule refuses what it should (so a test passing over it means something)."""
    cloud = StandInRemote(owner=False, database="shared_db").cloud
    for sql in ("CREATE SCHEMA IF NOT EXISTS ducksync", "INSERT INTO t VALUES (1)",
                'DELETE FROM "t"', "UPDATE main.t SET v = 1", "DROP TABLE IF EXISTS t",
                "ALTER TABLE t ADD COLUMN x INT"):
        with pytest.raises(Exception, match='database "shared_db" which is attached in '
                                            'read-only mode'):
            asyncio.run(cloud.execute(sql))
    # a reader still has its own temp tables (they live on its client)
    asyncio.run(cloud.execute("CREATE TEMP TABLE __ds_x AS SELECT 1 AS i"))
    asyncio.run(cloud.execute("INSERT INTO __ds_x VALUES (2)"))
    assert asyncio.run(cloud.fetch_rows("SELECT count(*) FROM __ds_x")) == [(2,)]
    # temp statements hash on another engine than remote-table statements
    on_client = asyncio.run(cloud.fetch_rows("SELECT hash(42) FROM __ds_x LIMIT 1"))
    on_server = asyncio.run(cloud.fetch_rows("SELECT hash(42)"))
    assert on_client != on_server and cloud.client_statements == 4
    with pytest.raises(UnsupportedVersionError, match=r"2\.0\.1"):
        asyncio.run(StandInRemote(client_version="2.0.1").cloud.fetch_rows("SELECT 1"))


def test_round_trip_push_pull_and_a_noop_stays_a_noop() -> None:
    local, remote = three_tables(), StandInRemote()
    first = do_sync(local, remote, "push")
    assert all(t.converged for t in first.tables)
    assert all(rows(local, t) == rows(remote, t) for t in TABLES)
    other = local_db()
    do_sync(other, remote, "pull")
    assert all(rows(other, t) == rows(remote, t) for t in TABLES)
    remote.con.execute("UPDATE a SET v = 'remote' WHERE id < 3")
    other.con.execute("UPDATE b SET v = 'other' WHERE id < 2")
    do_sync(other, remote)
    rep = {t.table: t for t in do_sync(local, remote).tables}
    assert (rep["a"].pulled, rep["b"].pulled, rep["c"].pulled) == (3, 2, 0)
    for t in TABLES:
        assert rows(local, t) == rows(remote, t) == rows(other, t)
    remote.cloud.reset()
    noop = do_sync(local, remote)
    for t in noop.tables:  # nothing moved, nothing re-downloaded
        assert (t.pushed, t.pulled, t.conflicts) == (0, 0, 0), t
        assert t.bytes_received < 1000, f"{t.table}: a no-op re-downloaded rows"
        assert "remote-unchanged" in t.paths, t


def test_a_noop_sync_of_three_tables_costs_one_statement() -> None:
    """The round-trip budget at the connector: one survey of every table and nothing
    else: the catalog, then all checksums (two statements) for a store that has not
    read the catalog yet, one statement (the checksums inside the catalog's) for one
    that has. Each statement is a network round trip."""
    local, remote = three_tables(), StandInRemote(client_engine=False)
    do_sync(local, remote, "push")
    cold = SqlRemoteStore(connector=remote.cloud)
    remote.cloud.reset()
    do_sync(local, cold)
    assert remote.cloud.round_trips == 2, remote.cloud.statements
    remote.cloud.reset()
    do_sync(local, cold)
    assert remote.cloud.round_trips == 1, remote.cloud.statements
    fresh = SqlRemoteStore(connector=remote.cloud)  # the tables' shapes: one statement
    remote.cloud.reset()
    listed = asyncio.run(fresh.list_tables())
    assert asyncio.run(fresh.describe_table("a")) == listed[0]
    assert [t["name"] for t in listed] == list(TABLES) and listed[0]["primary_key"] == ["id"]
    assert remote.cloud.round_trips == 2, remote.cloud.statements  # columns and key together


def test_bulk_push_is_verified_with_temp_tables_on_the_client() -> None:
    local = local_db()
    local.con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR)")
    local.con.execute("INSERT INTO t SELECT i, 'v' || i FROM range(3000) r(i)")
    remote = StandInRemote()
    rep = do_sync(local, remote, "push", batch_rows=1000).tables[0]
    assert rep.converged and "bulk-push" in rep.paths
    assert rep.bytes_received < 1000, "bulk answers came in full: the checksum of the " \
        "pushed rows ran on the client's engine"
    assert rows(local) == rows(remote)


def test_a_share_reader_cannot_push_and_is_told_why() -> None:
    owner = StandInRemote()
    owner.con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR)")
    reader = StandInRemote(con=owner.con.cursor(), owner=False, database="team_db")
    local = local_db()
    local.con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR)")
    local.con.execute("INSERT INTO t VALUES (1, 'x')")
    with pytest.raises(ReadOnlyRemoteError) as caught:
        do_sync(local, reader, "push")
    assert caught.value.code == "read_only_remote"
    assert "team_db" in caught.value.message and "read-only" in caught.value.message
    assert caught.value.hint is not None
    assert "owner" in caught.value.hint and "ducksync serve" in caught.value.hint
    assert owner.con.execute("SELECT count(*) FROM t").fetchall() == [(0,)]


def test_two_writers_conflict_as_compare_and_swap_retries(tmp_path: Path) -> None:
    """Two devices push the same rows through two connections to one database: the
    loser's optimistic conflict (DuckDB's own) is a CAS retry, never an error."""
    path = str(tmp_path / "remote.duckdb")
    seed = local_db()
    seed.con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR)")
    seed.con.execute("INSERT INTO t SELECT i, 'seed' FROM range(20) r(i)")
    first = StandInRemote(con=duckdb.connect(path))
    do_sync(seed, first, "push")
    second = StandInRemote(con=duckdb.connect(path))
    one, two = local_db(), local_db()
    do_sync(one, first, "pull")
    do_sync(two, second, "pull")
    one.con.execute("UPDATE t SET v = 'one' WHERE id < 10")
    two.con.execute("UPDATE t SET v = 'two' WHERE id < 10")
    # ``one`` commits between the other's write and its COMMIT
    inner = second.cloud.inner
    assert isinstance(inner, NativeLocalStore)
    raw, fired = inner.con, []

    class Hooked:
        def execute(self, sql: str, *a: Any) -> Any:
            if sql.strip().upper() == "COMMIT" and not fired:
                fired.append(do_sync(one, first))
            return raw.execute(sql, *a)

        def __getattr__(self, name: str) -> Any:
            return getattr(raw, name)

    inner.con = Hooked()
    rep = do_sync(two, second, policy="remote-wins").tables[0]
    inner.con = raw
    assert fired, "the hook never ran"
    other = fired[0].tables[0]
    # The writer that committed first wins; the other's optimistic conflict is never a
    # masked or raw DuckDB error. Here ``one`` runs while ``two`` holds its COMMIT (the
    # hook), so ``one`` may lose every retry: it is then told to sync again
    # (RemoteUnavailableError: nothing written), never left with a duplicate.
    assert rep.error is None, rep.error
    assert other.error is None or other.error["code"] == "remote_unavailable", other.error
    later = do_sync(one, first, policy="remote-wins").tables[0]
    assert later.error is None
    assert (other.cas_retries + other.conflicts + rep.cas_retries + rep.conflicts
            + later.conflicts) >= 1  # the lost write surfaced as a conflict somewhere
    do_sync(two, second, policy="remote-wins")
    do_sync(one, first, policy="remote-wins")
    assert rows(one) == rows(two) == rows(first)
    assert first.con.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchall() == [(20, 20)]


def _calls(local: Any, remote: StandInRemote, mode: str = "sync") -> tuple[int, int, list[str]]:
    """(round trips, calls, statements) of one sync."""
    remote.cloud.reset()
    report = do_sync(local, remote, mode)
    assert report.converged, report.to_dict()
    cloud = remote.cloud
    return cloud.round_trips, cloud.calls, list(cloud.statements)


def test_the_store_leg_round_trip_budget() -> None:
    """What a sync costs between the store and the cloud database, with temp tables on
    the client's engine, on a store that has seen the catalog (a server's pooled store,
    a page's). Round trips (calls that reach the service): a no-op 1 (the survey), a
    1-row push ≤ 3 and a 1k-row push alike (the survey, the batch's whole transaction
    as one script, the ack); calls ≤ 5 (+ the batch's upload into a temp table and its
    inspection, on the client). Before scripts a 1-row push made ~54 calls, each a round
    trip (docs/engine.md, "Round trips")."""
    local, remote = three_tables(1100), StandInRemote()
    trips, _, seen = _calls(local, remote, "push")
    # the first push: per new table, whether it exists, its creation, its shape (the
    # engine's describe), its answers' rows table made and read in one round trip (was
    # two: 42 in all), the batch's script, the ack; once, the survey and the ledger made
    assert trips == 39, seen
    assert _calls(local, remote)[:2] == (1, 1)
    local.con.execute("UPDATE a SET v = 'one' WHERE id = 1")
    trips, calls, seen = _calls(local, remote)
    assert trips <= 3 and calls <= 5, seen
    assert not [s for s in seen if "< now()::TIMESTAMP - INTERVAL" in s][1:], \
        "the ledger was pruned more than once"
    local.con.execute("UPDATE b SET v = 'thousand' WHERE id < 1000")
    trips, calls, seen = _calls(local, remote)
    assert trips <= 3 and calls <= 5, seen
    assert rows(local, "b") == rows(remote, "b")
    local.con.execute("ALTER TABLE c ADD COLUMN w INTEGER")  # the survey sees it at once
    remote.con.execute("ALTER TABLE c ADD COLUMN w INTEGER")
    remote.con.execute("UPDATE c SET w = 7 WHERE id = 5")
    trips, _, seen = _calls(local, remote)
    assert trips <= 4, seen  # the catalog changed: c's checksum asked again, then the pull
    assert rows(local, "c") == rows(remote, "c")
    for db in (local.con, remote.con):  # a column it checksums is gone: read afresh
        db.execute("ALTER TABLE c DROP COLUMN w")
    assert _calls(local, remote)[0] <= 5
    assert rows(local, "c") == rows(remote, "c")


def test_a_new_store_primed_by_the_last_sync_keeps_the_budget() -> None:
    """The CLI opens a new store per run (`ducksync sync LOCAL md:DB`): knowing nothing,
    its survey took two round trips and a 1-row push four. Primed with what the last sync
    here saw (cli/sync_commands._prime), it is the warm store's 1 and 3; a shape that
    changed meanwhile costs the second trip, never a wrong answer."""
    from ducksync.engine.state import last_remote

    local, first = three_tables(20), StandInRemote()
    do_sync(local, first, "push")

    def new_store() -> StandInRemote:
        store = StandInRemote(con=first.con)
        last = asyncio.run(last_remote(local))
        assert last is not None
        store.prime(*last)
        return store

    assert _calls(local, new_store())[0] == 1  # a no-op
    local.con.execute("UPDATE a SET v = 'one' WHERE id = 1")
    trips, _, seen = _calls(local, new_store())
    assert trips <= 3, seen
    first.con.execute("ALTER TABLE b ADD COLUMN w INTEGER")  # another tool, between runs
    first.con.execute("UPDATE b SET w = 1 WHERE id = 3")
    trips, _, seen = _calls(local, new_store())
    assert trips <= 4, seen  # b's checksum asked again, then its pull
    assert rows(local, "b") == rows(first, "b")
