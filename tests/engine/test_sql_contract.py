"""The engine's contract tests again, with SqlRemoteStore as the remote.

SqlRemoteStore (the browser's direct ``motherduck`` transport) runs here over a real
DuckDB (a native connection as its connector, bindable scalar parameters only). The
tests are the *same functions* as for the native store, imported and collected again
under the ``sql_remote`` fixture (no copies): conflicts and policies, CAS,
replay/exactly-once, schema evolution, every type, bulk and watermark paths, and the
compact (verified) answers, which count the same calls and bytes on both stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from concurrency_helpers import KINDS, batch, now, statuses, writer
from engine_helpers import load_engine_module, remote_kind, run
from hypothesis import HealthCheck, given, settings

CONTRACT = {
    "test_sync": ["test_initial_push_and_pull", "test_noop_sync_moves_only_checksums",
                  "test_insert_update_delete_both_ways", "test_policies",
                  "test_callable_policy_sees_both_versions",
                  "test_manual_conflict_kept_then_resolved",
                  "test_cas_refuses_overwrite_of_concurrent_remote_change",
                  "test_replayed_batch_is_a_noop",
                  "test_remote_hash_change_costs_transfer_not_a_wrong_merge",
                  "test_schema_add_column_and_incompatible_change",
                  "test_no_primary_key_is_a_clear_error", "test_composite_key_and_quoted_names",
                  "test_pull_only_leaves_local_changes_pending",
                  "test_batches_respect_batch_rows"],
    "test_types": ["test_all_types_round_trip_exactly"],
    "test_fastpaths": ["test_swapped_values_are_seen",
                       "test_bulk_initial_push_builds_the_same_base_as_the_general_path",
                       "test_bulk_push_in_ranges_with_verified_answers",
                       "test_bulk_refuses_keys_written_meanwhile",
                       "test_remote_bulk_path_without_primary_key_needs_an_empty_table",
                       "test_watermark_pull_moves_only_new_rows",
                       "test_watermark_falls_back_on_update_or_delete",
                       "test_watermark_on_an_updated_at_column_carries_updates",
                       "test_watermark_column_must_exist",
                       "test_scattered_remote_changes_move_little",
                       "test_values_swapped_between_columns_are_seen",
                       "test_bulk_push_crash_after_the_remote_committed_recovers_exactly_once",
                       "test_bulk_push_crash_in_the_local_record_recovers"],
}


T_TYPES = {"id": "BIGINT", "v": "VARCHAR"}  # table t of these tests


def _engine_module(name: str) -> Any:
    return load_engine_module(name, "sql_contract")


for _name, _tests in CONTRACT.items():
    _module = _engine_module(_name)
    globals().update({t: getattr(_module, t) for t in _tests})  # collected here again
_properties = _engine_module("test_properties")


@pytest.fixture(autouse=True)
def sql_remote() -> Iterator[None]:
    with remote_kind("sql"):
        yield


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_properties.policy, _properties.program)
def test_random_interleavings_converge_on_sql_remote(pol: str, ops: list[tuple[Any, ...]]) -> None:
    with remote_kind("sql"):
        _properties.check(_properties.World(pol), ops)


# -- two writers under optimistic transactions (both connector kinds) ------------------
# A hook between one writer's last statement and its COMMIT lets the other writer do
# its whole write first (tests/engine/concurrency_helpers.py): deterministic, no sleeps.


def _table(path: str, pk: bool, rows: str = "") -> Any:
    import duckdb

    con = duckdb.connect(path)
    con.execute("CREATE TABLE t (id BIGINT" + (" PRIMARY KEY" if pk else "") + ", v VARCHAR)")
    if rows:
        con.execute(f"INSERT INTO t VALUES {rows}")
    return con


@pytest.mark.parametrize("pk", [True, False], ids=["primary-key", "no-primary-key"])
@pytest.mark.parametrize("kind", KINDS)
def test_racing_initial_pushes_retry_as_compare_and_swap(kind: str, pk: bool,
                                                         tmp_path: Path) -> None:
    """The loser of two initial (bulk) pushes gets its lost keys as CAS conflicts: with
    a key its violation surfaced only at COMMIT (then ROLLBACK failed and masked it);
    without one both committed (duplicate rows)."""
    path = str(tmp_path / "r.duckdb")
    con = _table(path, pk)
    first, paused = writer(kind, path)
    second, _ = writer(kind, path)
    won: dict[str, Any] = {}
    paused.pause(lambda: won.update(
        answer=now(second.apply_batch("t", ["id"], "b1", batch(list(range(5, 15)), "b")))))
    lost = run(first.apply_batch("t", ["id"], "a1", batch(list(range(10)), "a")))
    assert set(statuses(won["answer"]["result"]).values()) == {"ok"}
    assert statuses(lost["result"]) == {**{i: "ok" for i in range(5)},
                                        **{i: "conflict" for i in range(5, 10)}}
    assert con.execute("SELECT id, v FROM t ORDER BY id").fetchall() == \
        [(i, f"a{i}") for i in range(5)] + [(i, f"b{i}") for i in range(5, 15)]
    replay = run(first.apply_batch("t", ["id"], "a1", batch(list(range(10)), "a")))
    assert replay["replayed"] and statuses(replay["result"]) == statuses(lost["result"])


@pytest.mark.parametrize("kind", KINDS)
def test_a_writer_that_keeps_losing_gets_a_retryable_error_not_a_query_error(
        kind: str, tmp_path: Path) -> None:
    """Two compare-and-swap updates of one row: the one that runs while the other is
    uncommitted ("Conflict on tuple deletion" / on the claim) is retried, then told to
    sync again (RemoteUnavailableError, nothing written); its next try is a CAS
    conflict, the engine's ``cas_retries``."""
    from ducksync.engine import sqlbuild as sb
    from ducksync.errors import RemoteUnavailableError

    path = str(tmp_path / "r.duckdb")
    con = _table(path, True, "(1, 'x')")
    seen = int(con.execute(f"SELECT {sb.row_hash_sql(T_TYPES)} FROM t").fetchall()[0][0])
    first, paused = writer(kind, path)
    second, _ = writer(kind, path, attempts=3, backoff_s=0.001)
    inside: dict[str, BaseException] = {}

    def other() -> None:
        try:
            now(second.apply_batch("t", ["id"], "b1", batch([1], "b", expect=seen)))
        except Exception as exc:  # what the engine would see
            inside["error"] = exc

    paused.pause(other)
    assert statuses(run(first.apply_batch("t", ["id"], "a1", batch([1], "a", expect=seen)))
                    ["result"]) == {1: "ok"}
    assert isinstance(inside["error"], RemoteUnavailableError), inside
    assert run(second.batch_result("b1")) is None  # nothing of it was written
    later = run(second.apply_batch("t", ["id"], "b1", batch([1], "b", expect=seen)))
    assert statuses(later["result"]) == {1: "conflict"}
    assert con.execute("SELECT id, v FROM t").fetchall() == [(1, "a1")]


def _ddl(sql: str) -> bool:
    head = " ".join(sql.split()[:3]).upper()
    return head.startswith(("CREATE SCHEMA", "CREATE TABLE", "ALTER TABLE", "INSERT INTO "
                            "DUCKSYNC.IDENTITY"))


@pytest.mark.parametrize("kind", KINDS)
def test_ledger_ddl_runs_once_and_never_inside_a_data_transaction(kind: str,
                                                                  tmp_path: Path) -> None:
    from ducksync.engine import sqlbuild as sb

    path = str(tmp_path / "r.duckdb")
    con = _table(path, True)
    store, paused = writer(kind, path)
    run(store.list_tables())
    run(store.describe_table("t"))
    run(store.bucket_checksums("t", ["id"], 1, 1, []))
    assert run(store.batch_result("never")) is None
    assert not [s for s in paused.seen if _ddl(s)], "a read path wrote the catalog"
    run(store.apply_batch("t", ["id"], "a1", batch([1, 2], "a")))  # bulk
    seen = int(con.execute(f"SELECT {sb.row_hash_sql(T_TYPES)} FROM t WHERE id = 1"
                           ).fetchall()[0][0])
    run(store.apply_batch("t", ["id"], "a2", batch([1], "b", expect=seen)))  # CAS
    run(store.apply_batch("t", ["id"], "a3", batch([2], "b", expect=seen)))  # CAS conflict
    run(store.ack_batches(["a1", "a2", "a3"]))
    run(store.remote_id())
    inside, ddl_after_first = False, 0
    for sql in paused.seen:
        word = sql.strip().split()[0].upper()
        inside = word == "BEGIN" or (inside and word not in ("COMMIT", "ROLLBACK"))
        assert not (inside and _ddl(sql)), f"DDL inside a data transaction: {sql[:80]}"
    ddl_after_first = len([s for s in paused.seen if _ddl(s)])
    run(store.apply_batch("t", ["id"], "a4", batch([3], "c")))
    fresh, fresh_paused = writer(kind, path)  # another client: the ledger is there
    run(fresh.apply_batch("t", ["id"], "a5", batch([4], "c")))
    run(fresh.remote_id())
    assert len([s for s in paused.seen if _ddl(s)]) == ddl_after_first
    assert not [s for s in fresh_paused.seen if _ddl(s) and "ledger_rows" not in s]


@pytest.mark.parametrize("kind", KINDS)
def test_first_contacts_racing_on_the_catalog_agree(kind: str, tmp_path: Path) -> None:
    """Two clients' first contact: a catalog write-write conflict on the ledger's DDL
    is retried, and both read the same database id."""
    import duckdb

    path = str(tmp_path / "r.duckdb")
    _table(path, True)
    first, paused = writer(kind, path, backoff_s=0.001)
    second, _ = writer(kind, path)
    ids: dict[str, str] = {}

    def other_then_conflict() -> None:
        ids["second"] = now(second.remote_id())
        raise duckdb.TransactionException(
            'TransactionContext Error: Catalog write-write conflict on create with "ducksync"')

    paused.pause(other_then_conflict, when=lambda sql: _ddl(sql))
    assert run(first.remote_id()) == ids["second"]


@pytest.mark.parametrize("kind", KINDS)
def test_two_clients_initial_pushes_report_the_lost_rows_as_cas_retries(
        kind: str, tmp_path: Path) -> None:
    """The engine's view of the race above: the client whose COMMIT lost reports the
    other client's keys as ``cas_retries`` (not an error), and the remote holds each
    key once; the next sync decides them by the policy."""
    from engine_helpers import do_sync, local_db

    path = str(tmp_path / "r.duckdb")
    con = _table(path, True)
    clients = []
    for lo, hi, v in ((0, 10, "a"), (5, 15, "b")):
        local = local_db()
        local.con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR)")
        local.con.execute(f"INSERT INTO t SELECT i, '{v}' || i FROM range({lo}, {hi}) r(i)")
        clients.append(local)
    first, paused = writer(kind, path)
    second, _ = writer(kind, path)
    other: dict[str, Any] = {}
    paused.pause(lambda: other.update(report=do_sync(clients[1], second, "push")))
    report = do_sync(clients[0], first, "push").tables[0]
    assert other["report"].tables[0].converged and report.error is None
    assert report.cas_retries == 5 and not report.converged
    assert con.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchall() == [(15, 15)]
    again = do_sync(clients[0], first, "sync", policy="remote-wins").tables[0]
    assert again.error is None
    assert do_sync(clients[0], first, "sync").tables[0].converged
    assert clients[0].con.execute("SELECT id, v FROM t ORDER BY id").fetchall() == \
        con.execute("SELECT id, v FROM t ORDER BY id").fetchall()


@pytest.mark.parametrize("kind", KINDS)
def test_a_concurrent_edit_by_another_tool_is_never_overwritten(kind: str,
                                                               tmp_path: Path) -> None:
    """A notebook updates a row and commits after our transaction began, before our
    compare-and-swap replaces it: DuckDB lets a stale DELETE through, so without the
    store's own check our update would silently overwrite the notebook's."""
    from ducksync.engine import sqlbuild as sb

    path = str(tmp_path / "r.duckdb")
    con = _table(path, True, "(1, 'x')")
    seen = int(con.execute(f"SELECT {sb.row_hash_sql(T_TYPES)} FROM t").fetchall()[0][0])
    store, paused = writer(kind, path)
    notebook = __import__("duckdb").connect(path)
    paused.pause(lambda: notebook.execute("UPDATE t SET v = 'notebook' WHERE id = 1"),
                 when=lambda sql: sql.lstrip().upper().startswith(("UPDATE", "DELETE")))
    answer = run(store.apply_batch("t", ["id"], "a1", batch([1], "a", expect=seen)))
    assert statuses(answer["result"]) == {1: "conflict"}
    assert con.execute("SELECT v FROM t").fetchall() == [("notebook",)]
