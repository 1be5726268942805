"""Keys: NULL and repeated key values are refused before anything moves; conflict labels
name composite keys unambiguously; a compare-and-swap retry that settles converges."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import do_sync, local_db, remote_db, remote_kind, rows, run

from ducksync.engine.conflicts import list_conflicts, names_key, resolve
from ducksync.engine.merge import ConflictCase
from ducksync.engine.state import ensure_state
from ducksync.errors import InvalidKeyError


def keyless(store: Any, values: str, table: str = "t") -> None:
    store.con.execute(f"CREATE TABLE {table} (id INTEGER, v VARCHAR, wm INTEGER)")
    if values:
        store.con.execute(f"INSERT INTO {table} VALUES {values}")


def assert_refused(rep: Any, *parts: str) -> str:
    assert rep.error is not None and rep.error["code"] == InvalidKeyError.code, rep.error
    assert not rep.converged
    text = f"{rep.error['message']} ({rep.error['hint']})"
    for part in parts:
        assert part in text, text
    return text


def test_null_key_is_refused_before_the_remote_table_exists() -> None:
    a, r = local_db(), remote_db()
    keyless(a, "(1, 'a', 0), (NULL, 'b', 0), (3, 'c', 0)")
    rep = do_sync(a, r, key=["id"]).tables[0]
    assert_refused(rep, "local table 't'", "key (id)", "id is NULL in 1 row", "--key",
                   "nothing was sent")
    assert run(r.describe_table("t")) is None  # nothing created on the remote
    assert len(rows(a)) == 3


def test_repeated_keys_are_named_with_a_sample_and_a_count() -> None:
    a, r = local_db(), remote_db()
    keyless(a, "(1, 'a', 0), (1, 'b', 0), (2, 'c', 0), (2, 'd', 0), (2, 'e', 0), (4, 'f', 0)")
    rep = do_sync(a, r, key=["id"]).tables[0]
    assert_refused(rep, "'t'", "2 key values are held by more than one row (5 rows)",
                   "2 (3 rows), 1 (2 rows)")
    assert run(r.describe_table("t")) is None


def test_composite_key_with_a_null_part_names_the_column_and_the_key() -> None:
    a, r = local_db(), remote_db()
    a.con.execute("CREATE TABLE t (a VARCHAR, b INTEGER, v VARCHAR)")
    a.con.execute("INSERT INTO t VALUES ('x', NULL, '1'), ('y', 2, '2')")
    rep = do_sync(a, r, key=["a", "b"]).tables[0]
    assert_refused(rep, "key (a, b)", "b is NULL in 1 row", '["x",null]')
    assert run(r.describe_table("t")) is None


def test_a_repeated_key_written_after_a_sync_moves_nothing() -> None:
    a, r = local_db(), remote_db()
    keyless(a, "(1, 'a', 0), (2, 'b', 0)")
    assert do_sync(a, r, key=["id"]).converged
    r.con.execute("UPDATE t SET v = 'remote' WHERE id = 2")  # a pull is due as well
    a.con.execute("INSERT INTO t VALUES (1, 'again', 0)")
    for mode in ("sync", "pull"):
        before_local, before_remote = rows(a), rows(r)
        assert_refused(do_sync(a, r, mode, key=["id"]).tables[0], "1 (2 rows)")
        assert rows(a) == before_local and rows(r) == before_remote
    a.con.execute("DELETE FROM t WHERE v = 'again'")
    assert do_sync(a, r, key=["id"]).converged
    assert rows(a) == rows(r) == [(1, "a", 0), (2, "remote", 0)]


def test_a_declared_primary_key_needs_no_check() -> None:
    """The check reads the table only for a key chosen with --key, and only when the
    table is created on the remote or has local changes: a no-op sync stays as it was."""
    a, r = local_db(), remote_db()
    a.con.execute("CREATE TABLE pk (id INTEGER PRIMARY KEY, v VARCHAR)")
    a.con.execute("INSERT INTO pk VALUES (1, 'a')")
    keyless(a, "(1, 'a', 0)")
    checks: list[str] = []
    inner = a.fetch_rows

    async def spy(sql: str, params: Any = ()) -> Any:
        if "HAVING count(*) > 1" in sql:
            checks.append(sql)
        return await inner(sql, params)

    a.fetch_rows = spy  # type: ignore[method-assign]
    assert do_sync(a, r, tables=["pk"]).converged and not checks
    assert do_sync(a, r, tables=["t"], key=["id"]).converged and len(checks) == 1
    checks.clear()
    assert do_sync(a, r, tables=["t"], key=["id"]).converged and not checks  # no-op
    a.con.execute("UPDATE t SET v = 'b'")
    assert do_sync(a, r, tables=["t"], key=["id"]).converged and len(checks) == 1


@pytest.mark.parametrize("bad", ["(NULL, 'n', 0)", "(3, 'again', 0)"])
def test_a_remote_table_with_bad_keys_is_refused_not_skipped(bad: str) -> None:
    a, r = local_db(), remote_db()
    keyless(r, f"(1, 'a', 0), (3, 'c', 0), {bad}")
    rep = do_sync(a, r, "pull", key=["id"]).tables[0]
    assert_refused(rep, "remote table 't'", "key (id)", "no row was pulled")
    assert rows(a) == []


def test_a_copy_of_a_synced_row_on_the_remote_is_refused() -> None:
    """Identical duplicates cancel out in a checksum; the leaves still show both."""
    a, r = local_db(), remote_db()
    keyless(r, "")  # a remote table without a primary key
    keyless(a, "(1, 'a', 0), (2, 'b', 0)")
    assert do_sync(a, r, key=["id"]).converged
    r.con.execute("INSERT INTO t VALUES (2, 'b', 0)")
    assert_refused(do_sync(a, r, key=["id"]).tables[0], "remote table", "2 (2 rows)")
    assert rows(a) == [(1, "a", 0), (2, "b", 0)]


def test_the_append_only_path_refuses_a_null_key_above_the_cursor() -> None:
    a, r = local_db(), remote_db()
    keyless(r, "")
    keyless(a, "(1, 'a', 1), (2, 'b', 2)")
    assert do_sync(a, r, key=["id"], watermark="wm").converged
    r.con.execute("INSERT INTO t VALUES (NULL, 'late', 3)")
    rep = do_sync(a, r, key=["id"], watermark="wm").tables[0]
    assert_refused(rep, "remote table", "id is NULL in 1 row")
    assert "append-pull" not in rep.paths and rows(a) == [(1, "a", 1), (2, "b", 2)]


@pytest.mark.parametrize("kind", ["native", "sql"])
def test_push_alone_never_writes_over_a_key_the_remote_holds_twice(kind: str) -> None:
    """`push` reads no remote rows: the remote's compare-and-swap refuses instead. It
    replaced both rows by two copies of ours and answered twice, so the base held the
    key twice (a base holds each key once: everything else relies on it)."""
    with remote_kind(kind):
        a, r = local_db(), remote_db()
    keyless(r, "")
    keyless(a, "(1, 'a', 0), (2, 'b', 0)")
    assert do_sync(a, r, key=["id"]).converged
    r.con.execute("INSERT INTO t VALUES (2, 'b', 0)")  # another writer
    a.con.execute("UPDATE t SET v = 'B' WHERE id = 2")
    rep = do_sync(a, r, "push", key=["id"]).tables[0]
    assert_refused(rep, "the remote table 't'", "key (id)", "e.g. 2", "nothing was written")
    assert rows(r) == [(1, "a", 0), (2, "b", 0), (2, "b", 0)]
    assert a.con.execute('SELECT count(*) FROM ducksync."base__t" WHERE id = 2').fetchone() == (1,)
    r.con.execute("DELETE FROM t WHERE rowid = (SELECT max(rowid) FROM t WHERE id = 2)")
    assert do_sync(a, r, key=["id"]).converged
    assert rows(a) == rows(r) == [(1, "a", 0), (2, "B", 0)]


# --- conflict labels ------------------------------------------------------------------

def two_devices_with_lookalike_keys() -> tuple[Any, Any, Any]:
    """Keys ('x|y', 'z') and ('x', 'y|z'): joined by '|' both were 'x|y|z'."""
    a, b, r = local_db(), local_db(), remote_db()
    a.con.execute("CREATE TABLE c (a VARCHAR, b VARCHAR, v VARCHAR, PRIMARY KEY (a, b))")
    a.con.execute("INSERT INTO c VALUES ('x|y', 'z', '0'), ('x', 'y|z', '0')")
    assert do_sync(a, r).converged and do_sync(b, r).converged
    a.con.execute("UPDATE c SET v = 'A' || b")
    b.con.execute("UPDATE c SET v = 'B' || b")
    assert do_sync(a, r).converged
    return a, b, r


def test_composite_keys_that_join_alike_are_two_conflicts() -> None:
    a, b, r = two_devices_with_lookalike_keys()
    rep = do_sync(b, r).tables[0]
    assert rep.error is None and rep.pending_conflicts == 2
    listed = run(list_conflicts(b))
    assert [c["key"] for c in listed] == ['["x","y|z"]', '["x|y","z"]']
    assert [c["key_values"] for c in listed] == [["x", "y|z"], ["x|y", "z"]]
    assert listed[0]["key_columns"] == ["a", "b"]
    # the CLI's --resolve: the label as listed, or the values as any JSON array
    assert [names_key(c, '["x|y", "z"]') for c in listed] == [False, True]
    assert [names_key(c, "x|y|z") for c in listed] == [False, False]
    run(resolve(b, "c", listed[0]["key"], "local"))
    run(resolve(b, "c", listed[1]["key"], "remote"))
    assert do_sync(b, r).converged and do_sync(a, r).converged
    assert rows(a, "c") == rows(b, "c") == rows(r, "c") == [("x", "y|z", "By|z"),
                                                            ("x|y", "z", "Az")]


def test_a_callable_policy_decides_each_lookalike_key_on_its_own() -> None:
    a, b, r = two_devices_with_lookalike_keys()

    def pick(case: ConflictCase) -> Any:
        return "local" if case.key == {"a": "x", "b": "y|z"} else "remote"

    assert do_sync(b, r, policy=pick).converged and do_sync(a, r).converged
    assert rows(a, "c") == rows(r, "c") == [("x", "y|z", "By|z"), ("x|y", "z", "Az")]


def test_one_column_keys_keep_their_plain_label() -> None:
    conflict = {"key": "7", "key_values": ["7"]}
    assert names_key(conflict, "7") and names_key(conflict, '["7"]') and names_key(conflict, "[7]")
    assert not names_key(conflict, "8")


def test_old_composite_labels_are_relabelled_once() -> None:
    """A state written before the JSON labels: composite keys joined by '|'."""
    a, b, r = two_devices_with_lookalike_keys()
    a.con.execute("DELETE FROM c WHERE a = 'x'")  # one conflict only: the old form allowed no more
    b.con.execute("DELETE FROM c WHERE a = 'x'")
    r.con.execute("DELETE FROM c WHERE a = 'x'")
    assert do_sync(b, r).tables[0].pending_conflicts == 1
    b.con.execute("DROP TABLE ducksync.json_key_labels")  # the state of the previous code
    b.con.execute("UPDATE ducksync.conflicts SET key_text = 'x|y|z'")
    b.con.execute('UPDATE ducksync."conflict_rows__c" SET __key = concat_ws(\'|\', a, b)')
    run(ensure_state(b))
    assert [c["key"] for c in run(list_conflicts(b))] == ['["x|y","z"]']
    assert b.con.execute('SELECT DISTINCT __key FROM ducksync."conflict_rows__c"').fetchall() == [
        ('["x|y","z"]',)]
    b.con.execute("UPDATE ducksync.conflicts SET key_text = 'not relabelled twice'")
    run(ensure_state(b))
    assert [c["key"] for c in run(list_conflicts(b))] == ["not relabelled twice"]
    b.con.execute("""UPDATE ducksync.conflicts SET key_text = '["x|y","z"]'""")
    # the previous code, still open in another tab, inserts positionally: still binds
    b.con.execute("INSERT INTO ducksync.conflicts SELECT 'other', 'k', false, false, 1, 1, "
                  "now()")
    b.con.execute("DELETE FROM ducksync.conflicts WHERE table_name = 'other'")
    run(resolve(b, "c", '["x|y","z"]', "local"))
    assert do_sync(b, r).converged and do_sync(a, r).converged
    assert rows(a, "c") == rows(r, "c") == [("x|y", "z", "Bz")]


# --- compare-and-swap retry -------------------------------------------------------------

@pytest.mark.parametrize("other_writes", ["R", "A"])
def test_a_retry_that_settles_everything_is_converged(other_writes: str) -> None:
    """Another writer changes row 1 while our push is on its way (a hook, not timing):
    compare-and-swap refuses our row, the next round pulls theirs (remote-wins) or finds
    the same content, and pushes nothing: the run converged, so the CLI exits 0."""
    a, r = local_db(), remote_db()
    a.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR)")
    a.con.execute("INSERT INTO t VALUES (1, 'v1'), (2, 'v2')")
    assert do_sync(a, r).converged
    a.con.execute("UPDATE t SET v = 'A' WHERE id = 1")
    inner = r.apply_batch

    async def raced(*args: Any, **kw: Any) -> Any:
        r.apply_batch = inner  # type: ignore[method-assign]
        r.con.execute(f"UPDATE t SET v = '{other_writes}' WHERE id = 1")
        return await inner(*args, **kw)

    r.apply_batch = raced  # type: ignore[method-assign]
    rep = do_sync(a, r, policy="remote-wins")
    table = rep.tables[0]
    assert r.apply_batch is inner  # the race happened
    assert table.cas_retries == 0 and table.pushed == 0 and rep.converged
    assert rows(a) == rows(r) == [(1, other_writes), (2, "v2")]
