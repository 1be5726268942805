"""Unit tests of the engine's decisions over native in-memory stores."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import do_sync, local_db, remote_db, rows, run

from ducksync.engine.conflicts import list_conflicts, resolve
from ducksync.engine.merge import ConflictCase
from ducksync.engine.state import base_rh_sql, base_rk_sql


def setup(n: int = 20, extra: str = "") -> tuple[Any, Any, Any]:
    a, b, r = local_db(), local_db(), remote_db()
    a.con.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR, ts INTEGER{extra})")
    a.con.execute(f"INSERT INTO t (id, v, ts) SELECT i, 'v' || i, 0 FROM range({n}) x(i)")
    assert do_sync(a, r).converged
    assert do_sync(b, r).converged
    return a, b, r


def test_initial_push_and_pull() -> None:
    a, b, r = setup()
    assert rows(a) == rows(b) == rows(r) and len(rows(b)) == 20


def test_noop_sync_moves_only_checksums() -> None:
    a, _, r = setup(5000)
    rep = do_sync(a, r).tables[0]
    assert (rep.pushed, rep.pulled, rep.remote_calls) == (0, 0, 1)
    assert rep.bytes_received < 5000


def test_insert_update_delete_both_ways() -> None:
    a, b, r = setup()
    a.con.execute("INSERT INTO t VALUES (100, 'new', 0)")
    a.con.execute("UPDATE t SET v = 'upd' WHERE id = 1")
    a.con.execute("DELETE FROM t WHERE id = 2")
    b.con.execute("UPDATE t SET v = 'b' WHERE id = 3")
    rep = do_sync(a, r).tables[0]
    assert (rep.pushed, rep.pulled, rep.conflicts) == (3, 0, 0)
    rep = do_sync(b, r).tables[0]
    assert (rep.pushed, rep.pulled, rep.conflicts) == (1, 3, 0)
    do_sync(a, r)
    assert rows(a) == rows(b) == rows(r)


@pytest.mark.parametrize(("policy", "winner"), [("remote-wins", "A"), ("local-wins", "B"),
                                                ("newest:ts", "B")])
def test_policies(policy: str, winner: str) -> None:
    a, b, r = setup()
    a.con.execute("UPDATE t SET v = 'A', ts = 1 WHERE id = 1")
    b.con.execute("UPDATE t SET v = 'B', ts = 2 WHERE id = 1")
    do_sync(a, r)
    rep = do_sync(b, r, policy=policy).tables[0]
    assert rep.conflicts == 1 and rep.converged
    do_sync(a, r)
    assert rows(a) == rows(b) == rows(r)
    assert a.con.execute("SELECT v FROM t WHERE id = 1").fetchone() == (winner,)
    log = b.con.execute("SELECT key_text, winner FROM ducksync.conflict_log").fetchall()
    assert log == [("1", "remote" if winner == "A" else "local")]


def test_callable_policy_sees_both_versions() -> None:
    a, b, r = setup()
    a.con.execute("UPDATE t SET v = 'A' WHERE id = 1")
    b.con.execute("DELETE FROM t WHERE id = 1")
    do_sync(a, r)
    seen: list[ConflictCase] = []

    def pick(case: ConflictCase) -> Any:
        seen.append(case)
        return "remote"

    do_sync(b, r, policy=pick)
    assert seen[0].key == {"id": 1} and seen[0].local is None
    assert seen[0].remote is not None and seen[0].remote["v"] == "A"
    assert rows(b) == rows(r)


@pytest.mark.parametrize("options", [{"policy": "remote_wins"}, {"policy": "newest:"},
                                     {"policies": {"t": "bogus"}}])
def test_an_unknown_policy_is_refused_when_the_options_are_made(options: Any) -> None:
    """Only the CLI checked it: ``SyncOptions(policy="remote_wins")`` was taken, and the
    typo surfaced (as an untyped error) only when a conflict showed up mid-run."""
    from ducksync.engine.sync import SyncOptions
    from ducksync.errors import InvalidOptionError

    with pytest.raises(InvalidOptionError) as refused:
        SyncOptions(**options)
    assert refused.value.code == "invalid_option" and "unknown conflict policy" in str(
        refused.value)
    assert refused.value.hint == "use remote-wins, local-wins, manual or newest:COLUMN"
    SyncOptions(policy="newest:ts", policies={"t": "local-wins"})  # known ones pass


@pytest.mark.parametrize("take", ["local", "remote"])
def test_manual_conflict_kept_then_resolved(take: str) -> None:
    a, b, r = setup()
    a.con.execute("UPDATE t SET v = 'A' WHERE id = 1")
    b.con.execute("UPDATE t SET v = 'B' WHERE id = 1")
    do_sync(a, r)
    rep = do_sync(b, r).tables[0]
    assert rep.pending_conflicts == 1 and not rep.converged
    again = do_sync(b, r).tables[0]  # detected again, not duplicated
    assert again.pending_conflicts == 1
    versions = b.con.execute('SELECT __side, v FROM ducksync."conflict_rows__t" ORDER BY 1')
    assert versions.fetchall() == [("local", "B"), ("remote", "A")]
    assert [c["key"] for c in run(list_conflicts(b))] == ["1"]
    run(resolve(b, "t", "1", take))  # type: ignore[arg-type]
    assert do_sync(b, r).converged and do_sync(a, r).converged
    assert rows(a) == rows(b) == rows(r)
    assert r.con.execute("SELECT v FROM t WHERE id = 1").fetchone() == (
        "B" if take == "local" else "A",)


def test_cas_refuses_overwrite_of_concurrent_remote_change() -> None:
    a, _, r = setup()
    a.con.execute("UPDATE t SET v = 'A' WHERE id = 1")
    r.con.execute("UPDATE t SET v = 'R' WHERE id = 1")  # another writer, directly
    rep = do_sync(a, r, "push").tables[0]
    assert rep.cas_retries == 1 and not rep.converged
    assert r.con.execute("SELECT v FROM t WHERE id = 1").fetchone() == ("R",)
    rep = do_sync(a, r).tables[0]  # the sync sees it as a conflict
    assert rep.pending_conflicts == 1


def test_replayed_batch_is_a_noop() -> None:
    a, _, r = setup()
    a.con.execute("INSERT INTO t VALUES (500, 'x', 0)")
    calls: list[tuple[Any, ...]] = []
    inner = r.apply_batch

    async def twice(*args: Any, **kw: Any) -> Any:
        first = await inner(*args, **kw)
        second = await inner(*args, **kw)
        calls.append((first["replayed"], second["replayed"], first["result"] == second["result"]))
        return second

    r.apply_batch = twice
    do_sync(a, r)
    assert calls == [(False, True, True)]
    assert r.con.execute("SELECT count(*) FROM t WHERE id = 500").fetchone() == (1,)


def test_remote_hash_change_costs_transfer_not_a_wrong_merge() -> None:
    a, _, r = setup(200)
    # Pretend the remote engine now hashes differently: every stored remote hash is stale.
    a.con.execute(f'UPDATE ducksync."base__t" SET __rhd = {base_rh_sql()} + 1')
    a.con.execute("UPDATE t SET v = 'mine' WHERE id = 7")
    rep = do_sync(a, r, policy="remote-wins").tables[0]
    assert rep.conflicts == 0 and rep.pushed == 1 and rep.pulled == 0
    assert r.con.execute("SELECT v FROM t WHERE id = 7").fetchone() == ("mine",)
    assert do_sync(a, r).tables[0].bytes_received < 2000  # base repaired


def test_a_base_from_before_derived_hashes_is_renamed_and_keeps_syncing() -> None:
    """A database from before: its bases hold ``__rh``/``__rk``, always set, and no
    marker. The next sync renames them (``__rhd``/``__rkd``: code from before then stops
    at its first read instead of reading a NULL as a value) and reads them as they are."""
    a, _, r = setup()
    base = 'ducksync."base__t"'
    a.con.execute(f"UPDATE {base} SET __rhd = {base_rh_sql()}, __rkd = {base_rk_sql(['id'])}")
    a.con.execute(f"ALTER TABLE {base} RENAME COLUMN __rhd TO __rh")
    a.con.execute(f"ALTER TABLE {base} RENAME COLUMN __rkd TO __rk")
    a.con.execute("DROP TABLE ducksync.derived_base_hashes")
    r.con.execute("UPDATE t SET v = 'theirs' WHERE id = 1")
    r.con.execute("DELETE FROM t WHERE id = 2")
    a.con.execute("UPDATE t SET v = 'mine' WHERE id = 3")
    rep = do_sync(a, r).tables[0]
    assert (rep.pulled, rep.pushed, rep.conflicts) == (2, 1, 0) and rep.converged
    assert rows(a) == rows(r)
    cols = [c for (c,) in a.con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'base__t'").fetchall()]
    assert cols[-3:] == ["__lh", "__rhd", "__rkd"]
    assert a.con.execute(f"SELECT count(*) FROM {base} WHERE __rhd IS NULL").fetchone() == (2,)


@pytest.mark.parametrize("old", [("__rh", "__rk"), ("__rk",)])
def test_a_base_of_old_names_made_after_the_rename_is_renamed_too(old: tuple[str, ...]) -> None:
    """Code from before (an older CLI, a tab on an old build) may create a base after
    this database's bases were renamed: a table it synced first. The next sync of that
    table gives it today's names (also one left half renamed) instead of stopping on a
    missing column."""
    a, _, r = setup()
    base = 'ducksync."base__t"'
    a.con.execute(f"UPDATE {base} SET __rhd = {base_rh_sql()}, __rkd = {base_rk_sql(['id'])}")
    for name in old:
        a.con.execute(f"ALTER TABLE {base} RENAME COLUMN {name}d TO {name}")
    assert a.con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ducksync' "
                         "AND table_name = 'derived_base_hashes'").fetchone() == (1,)
    r.con.execute("UPDATE t SET v = 'theirs' WHERE id = 1")
    a.con.execute("UPDATE t SET v = 'mine' WHERE id = 3")
    rep = do_sync(a, r).tables[0]
    assert rep.error is None
    assert (rep.pulled, rep.pushed, rep.conflicts) == (1, 1, 0) and rep.converged
    assert rows(a) == rows(r)
    cols = [c for (c,) in a.con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'base__t'").fetchall()]
    assert cols[-3:] == ["__lh", "__rhd", "__rkd"]


def test_schema_add_column_and_incompatible_change() -> None:
    a, b, r = setup()
    a.con.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, x INTEGER)")
    a.con.execute("INSERT INTO u VALUES (1, 1)")
    do_sync(a, r)
    a.con.execute("ALTER TABLE t ADD COLUMN extra DOUBLE")
    a.con.execute("UPDATE t SET extra = 1.5 WHERE id = 1")
    rep = do_sync(a, r).tables[0]
    assert rep.pushed == 1  # only the row that changed, not the whole table
    do_sync(b, r)
    assert rows(a) == rows(b) == rows(r)
    b.con.execute("ALTER TABLE u ALTER x TYPE VARCHAR")
    b.con.execute("INSERT INTO t VALUES (99, 'b', 0, NULL)")
    rep_all = do_sync(b, r)
    by = {t.table: t for t in rep_all.tables}
    assert by["u"].error and by["u"].error["name"] == "SchemaMismatchError"
    assert by["t"].converged and by["t"].pushed == 1


def test_no_primary_key_is_a_clear_error() -> None:
    a, r = local_db(), remote_db()
    a.con.execute("CREATE TABLE nk (a INTEGER, b VARCHAR)")
    a.con.execute("INSERT INTO nk VALUES (1, 'x')")
    rep = do_sync(a, r, tables=["nk"]).tables[0]
    assert rep.error and rep.error["name"] == "NoPrimaryKeyError" and "--key" in rep.error["hint"]
    rep = do_sync(a, r, tables=["nk"], key=["a"]).tables[0]
    assert rep.converged and rep.pushed == 1


def test_composite_key_and_quoted_names() -> None:
    a, b, r = local_db(), local_db(), remote_db()
    a.con.execute('CREATE TABLE "we""ird t" ("k 1" INTEGER, k2 VARCHAR, "v;" VARCHAR, '
                  'PRIMARY KEY ("k 1", k2))')
    a.con.execute("""INSERT INTO "we""ird t" VALUES (1, 'a', 'x'), (1, 'b', 'y')""")
    do_sync(a, r)
    do_sync(b, r)
    a.con.execute("""UPDATE "we""ird t" SET "v;" = 'z' WHERE k2 = 'b'""")
    rep = do_sync(a, r).tables[0]
    assert rep.pushed == 1
    do_sync(b, r)
    assert rows(a, 'we"ird t') == rows(b, 'we"ird t') == rows(r, 'we"ird t')


def test_pull_only_leaves_local_changes_pending() -> None:
    a, b, r = setup()
    a.con.execute("UPDATE t SET v = 'A' WHERE id = 1")
    b.con.execute("UPDATE t SET v = 'B' WHERE id = 2")
    do_sync(a, r)
    rep = do_sync(b, r, "pull").tables[0]
    assert rep.pulled == 1 and rep.pending_local == 1 and not rep.converged
    assert r.con.execute("SELECT v FROM t WHERE id = 2").fetchone() == ("v2",)


def test_batches_respect_batch_rows() -> None:
    a, r = local_db(), remote_db()
    a.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR)")
    a.con.execute("INSERT INTO t SELECT i, 'x' FROM range(1000) x(i)")
    rep = do_sync(a, r, batch_rows=300, compression="gzip").tables[0]
    assert rep.pushed == 1000 and rep.remote_calls == 4 + 1  # 4 batches, ack (table created)
    assert rows(a) == rows(r)
