"""Bulk bootstrap (engine/bootstrap.py): a new device streams the remote's rows in keyset
pages without sending keys, resumes after an interruption at any page without
duplicates, and converges when the remote or the page changes rows meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from engine_helpers import (
    Crash,
    FlakyLocal,
    FlakyRemote,
    assert_kept_sums_hold,
    do_sync,
    local_db,
    remote_db,
    rows,
    run,
)

from ducksync.engine import subscriptions
from ducksync.engine.keys import add_pending_key
from ducksync.engine.sqlbuild import hash_probe_sql
from ducksync.engine.state import base_rh_sql, base_rk_sql, base_table
from ducksync.engine.store import ArrowAside
from ducksync.engine.sync import SyncOptions, sync
from ducksync.stores._arrow import to_ipc
from ducksync.stores.native import NativeLocalStore, NativeRemoteStore

N = 35  # rows of the remote table
PAGE = 8  # rows per page (batch_rows): pages of 8, 8, 8, 8, 3


def _remote(n: int = N, *, into: Any = None) -> Any:
    """A remote table ``t`` with ``n`` rows, pushed by another device (into ``into``)."""
    writer, r = local_db(), remote_db() if into is None else into
    writer.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR, w DOUBLE)")
    writer.con.execute(f"INSERT INTO t SELECT i, 'v' || i, i / 3 FROM range({n}) x(i)")
    assert do_sync(writer, r).converged
    return r


def _base_keys(local: Any) -> list[int]:
    return [k for (k,) in local.con.execute(
        f"SELECT id FROM {base_table('t')} ORDER BY 1").fetchall()]


def _cursor(local: Any) -> Any:
    return local.con.execute("SELECT boot_cursor FROM ducksync.tables WHERE name = 't'"
                             ).fetchone()


def _primary_key(local: Any) -> list[str]:
    found = local.con.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() WHERE table_name = 't' "
        "AND constraint_type = 'PRIMARY KEY'").fetchall()
    return list(found[0][0]) if found else []


def _pending_key(local: Any) -> Any:
    return local.con.execute("SELECT pending_key FROM ducksync.tables WHERE name = 't'"
                             ).fetchone()


def _assert_equal_to_remote(local: Any, r: Any) -> None:
    assert rows(local) == rows(r)
    keys = _base_keys(local)
    assert keys == sorted(set(keys)) == [row[0] for row in rows(r)]  # each key once
    assert _cursor(local) == (None,)
    assert _primary_key(local) == ["id"] and _pending_key(local) == (None,)


def test_a_new_device_streams_the_table_without_sending_keys() -> None:
    r, device = _remote(), local_db()
    rep = do_sync(device, r, batch_rows=PAGE).tables[0]
    assert rep.converged and rep.pulled == N
    assert "bootstrap" in rep.paths and "bootstrap-settled" in rep.paths
    assert rep.remote_calls == 1 + 5  # the survey, then five pages
    assert rep.bytes_sent < 6 * 100  # cursors only, no key list
    _assert_equal_to_remote(device, r)
    again = do_sync(device, r).tables[0]
    assert "remote-unchanged" in again.paths and "local-unchanged" in again.paths


def test_a_key_the_general_path_must_take_is_not_bootstrapped() -> None:
    writer, r, device = local_db(), remote_db(), local_db()  # a DOUBLE's text is not exact
    writer.con.execute("CREATE TABLE t (a INTEGER, b DOUBLE, PRIMARY KEY (a, b))")
    writer.con.execute("INSERT INTO t SELECT i, i / 3 FROM range(10) x(i)")
    assert do_sync(writer, r).converged
    rep = do_sync(device, r).tables[0]
    assert rep.converged and rep.pulled == 10 and "bootstrap" not in rep.paths
    assert rows(device) == rows(r)


def _composite_remote() -> Any:
    """A remote table keyed by (a, b): 5 rows per ``a``, so pages of 8 end inside a
    group of equal ``a`` and the next page must start after the pair, not after ``a``;
    ``b`` holds texts that sort apart from their numbers ('10' < '9')."""
    writer, r = local_db(), remote_db()
    writer.con.execute("CREATE TABLE t (a DATE, b VARCHAR, v INTEGER, PRIMARY KEY (a, b))")
    writer.con.execute("INSERT INTO t SELECT DATE '2024-01-01' + (i // 5)::INTEGER, "
                       "(i % 5 * 4)::VARCHAR, i FROM range(23) x(i)")
    assert do_sync(writer, r).converged
    return r


def test_a_composite_key_is_streamed_in_tuple_keyset_pages_and_resumes() -> None:
    r = _composite_remote()
    device = local_db()  # the connection is lost while the third page is asked for
    first = run(sync(device, FlakyRemote(r, fail_at=4, after=False), SyncOptions(batch_rows=PAGE),
                     "sync")).tables[0]
    assert first.error is not None and first.error["code"] == "remote_unavailable"
    assert len(rows(device)) == 16  # two whole pages; the cursor is the 16th pair
    assert _cursor(device) == ('["2024-01-04", "0"]',)  # texts sort: 0 12 16 4 8
    rep = do_sync(device, r, batch_rows=PAGE).tables[0]
    assert rep.converged and rep.pulled == 23 - 16 and "bootstrap" in rep.paths
    assert rep.bytes_sent < 200  # a cursor, no key list
    assert rows(device) == rows(r) and _cursor(device) == (None,)
    n, distinct = device.con.execute(
        f"SELECT count(*), count(DISTINCT (a, b)) FROM {base_table('t')}").fetchone()  # type: ignore[misc]
    assert n == distinct == 23
    assert "remote-unchanged" in do_sync(device, r).tables[0].paths


def test_a_new_device_table_gets_its_key_after_the_last_page() -> None:
    """The table a new device creates is keyless while pages arrive (a keyed insert is
    most of a page's commit), its key pending in ``ducksync.tables``; a resumed run
    adds the key at its end. Before, the table was created keyed."""
    r, device = _remote(20), local_db()  # pages of 8, 8, 4; the second never arrives
    assert run(sync(device, FlakyRemote(r, fail_at=3, after=False),
                    SyncOptions(batch_rows=PAGE), "sync")).tables[0].error
    assert _primary_key(device) == [] and _pending_key(device) == (["id"],)
    assert device.con.execute("SELECT is_nullable FROM information_schema.columns WHERE "
                              "table_name = 't' AND column_name = 'id'").fetchone() == ("NO",)
    # written here meanwhile: a key the resumed pages bring, and one of its own
    device.con.execute("INSERT INTO t VALUES (15, 'mine', 0), (30, 'new here', 0)")
    rep = do_sync(device, r, batch_rows=PAGE, policy="local-wins").tables[0]
    assert rep.converged and "bootstrap" in rep.paths and rep.conflicts == 1
    assert rep.pushed == 2  # 15 (the conflict, local wins) and 30
    assert [row for row in rows(r) if row[0] in (15, 30)] == [(15, "mine", 0), (30, "new here", 0)]
    _assert_equal_to_remote(device, r)


def test_the_key_s_index_goes_to_the_file_at_its_commit_not_to_the_wal(tmp_path: Any) -> None:
    """The key's commit checkpoints (``keys._add_key``): the index is written once.
    Before, the commit wrote it to the WAL and the next checkpoint wrote it again."""
    r = _remote(20)
    device = local_db(str(tmp_path / "device.duckdb"))  # a file: it has a WAL
    assert run(sync(device, FlakyRemote(r, fail_at=3, after=False),
                    SyncOptions(batch_rows=PAGE), "sync")).tables[0].error
    device.con.execute("SET checkpoint_threshold = '1MB'")  # the page's setting
    device.con.execute("CHECKPOINT")
    shown = device.con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()
    assert run(add_pending_key(device, "t", {"id": "INTEGER", "v": "VARCHAR", "w": "DOUBLE"}))\
        is False
    wal, threshold = device.con.execute(
        "SELECT wal_size, current_setting('checkpoint_threshold') FROM pragma_database_size() "
        "WHERE database_name = current_database()").fetchone()  # type: ignore[misc]
    assert wal == "0 bytes"  # the index went to the database file
    assert (threshold,) == shown == ("976.5 KiB",)  # restored (1 MB as DuckDB shows it)
    assert _primary_key(device) == ["id"] and _pending_key(device) == (None,)


def test_a_copy_kept_when_unsubscribed_mid_bootstrap_gets_its_key() -> None:
    """No sync would finish a table no longer held: unsubscribing keeps it keyed."""
    r, device = _remote(20), local_db()
    assert run(sync(device, FlakyRemote(r, fail_at=3, after=False),
                    SyncOptions(batch_rows=PAGE), "sync")).tables[0].error
    assert _primary_key(device) == []
    run(subscriptions.unsubscribe(device, "t", keep_local=True))
    assert _primary_key(device) == ["id"] and _pending_key(device) == (None,)
    assert len(rows(device)) == PAGE


def test_a_remote_table_dropped_mid_bootstrap_leaves_the_copy_keyed() -> None:
    """No bootstrap can finish without the remote table: reconcile adds the key before
    it reports the drop (and before a push could re-create the remote from it)."""
    r, device = _remote(20), local_db()
    assert run(sync(device, FlakyRemote(r, fail_at=3, after=False),
                    SyncOptions(batch_rows=PAGE), "sync")).tables[0].error
    r.con.execute("DROP TABLE t")
    rep = do_sync(device, r, batch_rows=PAGE).tables[0]
    assert rep.error is not None and rep.dropped_on == "remote"
    assert _primary_key(device) == ["id"] and len(rows(device)) == PAGE
    rep = do_sync(device, r, "push", tables=["t"]).tables[0]  # upload it again
    assert rep.converged and rows(r) == rows(device)


def test_a_table_whose_bootstrap_cannot_continue_gets_its_key_first() -> None:
    """Created keyless, interrupted before any page, then written here: no bootstrap
    (the table has rows), so the round adds the key before detection, and a repeated
    key written here meanwhile is refused by name, nothing lost, until fixed."""
    r, device = _remote(20), local_db()
    assert run(sync(device, FlakyRemote(r, fail_at=2, after=False),
                    SyncOptions(batch_rows=PAGE), "sync")).tables[0].error
    assert rows(device) == [] and _pending_key(device) == (["id"],)
    device.con.execute("INSERT INTO t VALUES (100, 'mine', 0), (100, 'mine too', 0)")
    rep = do_sync(device, r, batch_rows=PAGE).tables[0]
    assert rep.error is not None and rep.error["code"] == "invalid_key"
    assert "'t'" in rep.error["message"] and "100" in rep.error["message"]
    assert len(rows(device)) == 2 and _pending_key(device) == (["id"],)
    device.con.execute("DELETE FROM t WHERE v = 'mine too'")
    rep = do_sync(device, r, batch_rows=PAGE).tables[0]
    assert rep.converged and "bootstrap" not in rep.paths and rep.pushed == 1
    assert rows(device) == rows(r) and len(rows(r)) == 21
    assert _primary_key(device) == ["id"] and _pending_key(device) == (None,)


def test_an_index_created_mid_bootstrap_is_named_before_the_key_is_added() -> None:
    """DuckDB adds no key to a table an index depends on: the sync stops naming the
    index and the fix, nothing lost, and completes once it is dropped. Before, DuckDB's
    "Dependency Error" came back raw at the end of every bootstrap."""
    r, device = _remote(20), local_db()
    assert run(sync(device, FlakyRemote(r, fail_at=3, after=False),
                    SyncOptions(batch_rows=PAGE), "sync")).tables[0].error
    device.con.execute("CREATE INDEX t_by_v ON t (v)")
    rep = do_sync(device, r, batch_rows=PAGE).tables[0]
    assert rep.error is not None and rep.error["code"] == "schema_mismatch"
    assert "'t_by_v'" in rep.error["message"] and "DROP INDEX" in rep.error["hint"]
    assert _pending_key(device) == (["id"],) and len(rows(device)) == 20  # all arrived
    device.con.execute("DROP INDEX t_by_v")
    rep = do_sync(device, r, batch_rows=PAGE).tables[0]
    assert rep.converged
    _assert_equal_to_remote(device, r)


def test_an_interrupted_bootstrap_resumes_after_its_last_page() -> None:
    """A connection lost at each page (before the remote answered, or after: the page
    was read but never arrived) leaves only whole pages; the next sync continues from
    the cursor, never from zero, never a key twice."""
    r = _remote(20)  # pages of 8, 8, 4
    for page in (1, 2, 3):
        for after in (False, True):
            device = local_db()
            flaky = FlakyRemote(r, fail_at=1 + page, after=after)  # the survey comes first
            first = run(sync(device, flaky, SyncOptions(batch_rows=PAGE), "sync")).tables[0]
            assert first.error is not None and first.error["code"] == "remote_unavailable"
            assert_kept_sums_hold(device)
            # The page after the last committed one was in flight: all before it are kept.
            committed = (page - 1) * PAGE
            assert len(rows(device)) == committed == len(_base_keys(device))
            assert _cursor(device) == ((str(committed - 1),) if committed else (None,))
            rep = do_sync(device, r, batch_rows=PAGE).tables[0]
            assert rep.converged and rep.pulled == 20 - committed  # the rest, not all again
            assert "bootstrap" in rep.paths and rep.bytes_sent < 200  # pages: no keys sent
            _assert_equal_to_remote(device, r)


class _Recording(FlakyLocal):
    """Counts statements like FlakyLocal and remembers which ones the bootstrap ran."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner, fail_at=None)
        self.booting: list[int] = []
        self.first_commit = 0

    def _tick(self, sql: str) -> None:
        super()._tick(sql)
        if "__ds_boot" in sql or (self.booting and self.booting[-1] == self.calls - 1):
            self.booting.append(self.calls)  # from its first statement to its last
            if sql.strip().upper() == "COMMIT" and not self.first_commit:
                self.first_commit = self.calls


def test_a_crash_at_every_local_statement_of_a_bootstrap_converges() -> None:
    """A failure at each local statement the bootstrap runs (its open transaction is
    lost, as in a killed process): the next sync leaves every key once, equal."""
    r = _remote(12)  # pages of 8 and 4
    recording = _Recording(local_db())
    assert do_sync(recording, r, batch_rows=PAGE).converged
    # The first page's statements and the second's arrival (the later pages repeat them)
    points = recording.booting[:recording.booting.index(recording.first_commit) + 3]
    assert len(points) >= 10
    for k in points:
        device = local_db()
        with contextlib.suppress(Crash):  # or reported in the table's report
            run(sync(FlakyLocal(device, fail_at=k), r, SyncOptions(batch_rows=PAGE), "sync"))
        rep = do_sync(device, r, batch_rows=PAGE).tables[0]
        assert rep.converged, (k, rep.error)
        _assert_equal_to_remote(device, r)


class _Meddling:
    """A remote whose ``fetch_rows_after`` runs ``hook`` (another writer) after page
    ``at`` was read."""

    def __init__(self, inner: Any, at: int, hook: Callable[[], None]) -> None:
        self.inner, self.at, self.hook, self.pages = inner, at, hook, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def fetch_rows_after(self, *a: Any, **kw: Any) -> Any:
        async for chunk in self.inner.fetch_rows_after(*a, **kw):
            yield chunk
        self.pages += 1
        if self.pages == self.at:
            self.hook()


def test_the_remote_written_behind_the_cursor_mid_bootstrap_converges() -> None:
    """Rows changed behind the cursor (already pulled), deleted ahead of it and inserted
    behind it while the bootstrap runs: the base records what each page saw, so the
    round after the bootstrap finds every difference and the sync ends equal."""
    r, device = _remote(), local_db()

    def other_writer() -> None:
        r.con.execute("UPDATE t SET v = 'changed' WHERE id IN (1, 9)")  # pulled already
        r.con.execute("DELETE FROM t WHERE id IN (3, 30)")  # behind / ahead of the cursor
        r.con.execute("INSERT INTO t VALUES (-1, 'new behind', 0), (100, 'new ahead', 0)")

    meddling = _Meddling(r, at=2, hook=other_writer)
    rep = do_sync(device, meddling, batch_rows=PAGE).tables[0]
    assert rep.converged and meddling.pages >= 2
    assert "bootstrap-moved" in rep.paths  # the run's own next round settled it
    _assert_equal_to_remote(device, r)


def test_a_local_write_of_a_key_still_to_come_is_never_overwritten() -> None:
    """The page is usable while rows arrive: a row written here with a key a later page
    holds is kept, and the next detection treats it as a first-sync insert on both
    sides (a manual conflict here: different content)."""
    r, device = _remote(), local_db()

    def page_writes() -> None:  # the first page came before the table was created here
        with device._lock:  # the second's arrives while the first commits
            device.con.execute("INSERT INTO t VALUES (30, 'mine', 0)")

    meddling = _Meddling(r, at=2, hook=page_writes)
    rep = do_sync(device, meddling, batch_rows=PAGE).tables[0]
    assert rep.pending_conflicts == 1
    assert device.con.execute("SELECT v FROM t WHERE id = 30").fetchone() == ("mine",)
    assert r.con.execute("SELECT v FROM t WHERE id = 30").fetchone() == ("v30",)
    assert len(rows(device)) == N and 30 not in _base_keys(device)
    assert _primary_key(device) == ["id"]


def test_local_writes_of_keys_pages_bring_end_as_writes_on_both_sides() -> None:
    """While the new table has no key yet, a key written here that a page brought (or
    brings) is held twice for a while; adding the key keeps the row written here and
    drops the page's copy: a different row is a conflict, the same content settles, a
    key written twice here with different rows is refused by name (nothing lost) until
    one is deleted. Before, these inserts failed (the table was keyed)."""
    r, device = _remote(), local_db()
    # another connection (the engine's may be running a page's statement in its thread)
    writer = device.con.cursor()

    def page_writes() -> None:  # page 1 (ids 0-7) committed, page 3 (16-23) not yet
        writer.execute("INSERT INTO t VALUES (3, 'mine', 0), (20, 'v20', 20 / 3), "
                       "(25, 'one', 0), (25, 'two', 0)")
        writer.execute("UPDATE t SET v = 'changed' WHERE id = 1")

    rep = do_sync(device, _Meddling(r, at=3, hook=page_writes), batch_rows=PAGE).tables[0]
    assert rep.error is not None and rep.error["code"] == "invalid_key"
    assert "'t'" in rep.error["message"] and "25" in rep.error["message"]
    assert _primary_key(device) == [] and _pending_key(device) == (["id"],)
    assert len(rows(device)) == N + 4  # every row pulled and every row written here
    device.con.execute("DELETE FROM t WHERE v = 'two'")
    rep = do_sync(device, r, batch_rows=PAGE, policy="local-wins").tables[0]
    assert rep.converged and rep.conflicts == 2 and "bootstrap" not in rep.paths  # 3, 25
    assert rep.pushed == 3  # and the update of 1, a key pulled before: as for any row
    assert _primary_key(device) == ["id"] and _pending_key(device) == (None,)
    mine = {1: "changed", 3: "mine", 25: "one", 20: "v20"}
    assert {k: v for k, v, _ in rows(r) if k in mine} == mine
    assert rows(device) == rows(r) and len(rows(r)) == N


def test_a_resumed_bootstrap_skips_keys_the_base_holds() -> None:
    """Between the interruption and the resume, a push-only sync pushed a key beyond the
    cursor and the key was then deleted here. Before, the resumed page inserted that
    key again: the local delete was undone (the row back on this device, kept on the
    remote) and the base held the key twice."""
    r = _remote(20)  # pages of 8, 8, 4
    device = local_db()
    flaky = FlakyRemote(r, fail_at=3, after=False)  # the second page never arrives
    assert run(sync(device, flaky, SyncOptions(batch_rows=PAGE), "sync")).tables[0].error
    assert _cursor(device) == ("7",)
    device.con.execute("UPDATE t SET v = 'pushed' WHERE id = 15")  # absent here: a no-op
    device.con.execute("INSERT INTO t VALUES (30, 'mine', 0)")
    assert _primary_key(device) == []
    assert do_sync(device, r, "push", batch_rows=PAGE).tables[0].pushed == 1
    assert _primary_key(device) == ["id"]  # the push's round needed it: added first
    device.con.execute("DELETE FROM t WHERE id = 30")
    rep = do_sync(device, r, batch_rows=PAGE).tables[0]
    assert rep.converged and "bootstrap" in rep.paths
    assert [row[0] for row in rows(r)] == list(range(20))  # the delete reached the remote
    _assert_equal_to_remote(device, r)


class _Pages:
    """A remote that remembers what each page carried (its columns) and answers the
    survey with its engine's hash probe, as our server does (``probe=False``: a remote
    that cannot prove how it hashes); ``alter`` changes the rows of a page sent
    without hashes (values that arrive other than the remote holds them: what a
    remote engine hashing otherwise looks like from here)."""

    def __init__(self, inner: Any, *, probe: bool = True,
                 alter: Callable[[Any], Any] | None = None) -> None:
        self.inner, self.probe, self.alter = inner, probe, alter
        self.columns: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def survey(self, *a: Any, **kw: Any) -> Any:
        answer = await self.inner.survey(*a, **kw)
        if self.probe:
            answer["hash_probe"] = await self.inner.hash_probe()
        else:
            answer.pop("hash_probe", None)
        return answer

    async def fetch_rows_after(self, *a: Any, **kw: Any) -> Any:
        import pyarrow as pa

        from ducksync.stores._arrow import to_ipc

        async for chunk in self.inner.fetch_rows_after(*a, **kw):
            table = pa.ipc.open_stream(chunk).read_all()
            self.columns.append(table.column_names)
            yield chunk if self.alter is None or kw.get("hashes", True) else to_ipc(
                self.alter(table))


def _base(local: Any) -> list[tuple[Any, ...]]:
    return local.con.execute(f"SELECT * FROM {base_table('t')} ORDER BY id").fetchall()


def test_pages_come_without_hashes_when_both_engines_hash_alike() -> None:
    """The survey's hash probe equals the local engine's: the pages carry the table's
    columns only and the base computes the remote's hashes, which are exactly the ones
    the remote sends when it cannot prove how it hashes (``rk``, ``rh``, ``lh``)."""
    r = _remote()
    derived, shipped = _Pages(r), _Pages(r, probe=False)
    a, b = local_db(), local_db()
    rep_a = do_sync(a, derived, batch_rows=PAGE).tables[0]
    rep_b = do_sync(b, shipped, batch_rows=PAGE).tables[0]
    assert "bootstrap-settled" in rep_a.paths and "bootstrap-settled" in rep_b.paths
    assert derived.columns and all(c == ["id", "v", "w"] for c in derived.columns)
    assert shipped.columns and all("__ds_rh" in c and "__ds_rk" in c for c in shipped.columns)
    assert rep_a.bytes_received < rep_b.bytes_received - 16 * N
    assert _base(a) == _base(b) and len(_base(a)) == N
    _assert_equal_to_remote(a, r)
    assert "remote-unchanged" in do_sync(a, r).tables[0].paths


def test_a_derived_base_stores_no_remote_hashes_and_every_reader_derives_them() -> None:
    """A bootstrap that computes the remote's hashes stores them as NULL ("as derived":
    ``__rh`` = ``__lh``, ``__rk`` = the key hash), and every reader reads them so. Read
    raw, a NULL would undo the sync: no base checksum (the bootstrap would not settle),
    no bucket of the base matched (a remote delete missed: the table is large enough
    for the bucket descent), an expected hash of NULL for a local change (its push
    refused as a conflict). A base of old, explicit rows (the even keys) reads the same;
    the rows a sync rewrites are stored derived again."""
    from ducksync.stores._arrow import from_ipc

    n = 4000  # 4000 hash rows cost more than a checksum round trip: buckets are compared
    r, device = _remote(n), local_db()
    rep = do_sync(device, _Pages(r), batch_rows=1000).tables[0]
    assert "bootstrap-settled" in rep.paths and rep.pulled == n
    base = base_table("t")
    assert device.con.execute(f"SELECT count(*), count(__rhd), count(__rkd) FROM {base}"
                              ).fetchone() == (n, 0, 0)
    theirs = from_ipc(run(r.bucket_hashes("t", ["id"], 1, [])))
    assert sorted(zip(*(theirs.column(c).to_pylist() for c in ("id", "__ds_rh", "__ds_rk")),
                      strict=True)) == device.con.execute(
        f"SELECT id, {base_rh_sql()}, {base_rk_sql(['id'])} FROM {base} ORDER BY id").fetchall()
    device.con.execute(f"UPDATE {base} SET __rhd = {base_rh_sql()}, __rkd = "
                       f"{base_rk_sql(['id'])} WHERE id % 2 = 0")  # as an old base holds them
    r.con.execute("UPDATE t SET v = 'theirs' WHERE id IN (10, 11)")
    r.con.execute("DELETE FROM t WHERE id IN (20, 21)")
    r.con.execute("INSERT INTO t VALUES (9001, 'new there', 0)")
    device.con.execute("UPDATE t SET v = 'mine' WHERE id IN (30, 31)")
    device.con.execute("DELETE FROM t WHERE id IN (40, 41)")
    device.con.execute("INSERT INTO t VALUES (9002, 'new here', 0)")
    rep = do_sync(device, r).tables[0]
    assert (rep.pulled, rep.pushed, rep.conflicts) == (5, 5, 0) and rep.converged
    assert rep.bytes_received < 40 * 1024  # some buckets, not 4000 rows of hashes (96 kB)
    assert rows(device) == rows(r)
    again = do_sync(device, r).tables[0]
    assert "remote-unchanged" in again.paths and "local-unchanged" in again.paths
    assert device.con.execute(  # what the sync wrote: stored derived too
        f"SELECT count(*) FROM {base} WHERE id IN (10, 11, 30, 31, 9001, 9002) AND "
        "__rhd IS NULL AND __rkd IS NULL").fetchone() == (6,)


def test_a_column_type_the_probe_does_not_cover_ships_the_hashes() -> None:
    writer, r, device = local_db(), remote_db(), local_db()
    writer.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, tags VARCHAR[])")
    writer.con.execute("INSERT INTO t SELECT i, ['a', i::VARCHAR] FROM range(10) x(i)")
    assert do_sync(writer, r).converged
    pages = _Pages(r)
    rep = do_sync(device, pages).tables[0]
    assert rep.converged and "bootstrap-settled" in rep.paths
    assert pages.columns and all("__ds_rh" in c for c in pages.columns)
    assert rows(device) == rows(r)


def test_hashes_computed_here_that_the_remote_disagrees_with_are_corrected() -> None:
    """A row arrives other than the remote holds it (as if the remote hashed otherwise):
    the base's derived hashes disagree with the remote's checksum, so the same sync
    runs a normal round, which reads the remote's own hashes and pulls that row again.
    The local copy ends equal to the remote and nothing is pushed over it."""
    import pyarrow as pa

    def altered(table: Any) -> Any:
        v = table.column("v").to_pylist()
        v = ["altered in transit" if x == "v9" else x for x in v]
        return table.set_column(table.column_names.index("v"), "v", pa.array(v))

    r, device = _remote(), local_db()
    before = rows(r)
    rep = do_sync(device, _Pages(r, alter=altered), batch_rows=PAGE).tables[0]
    assert rep.converged and "bootstrap-moved" in rep.paths and rep.pushed == 0
    assert rows(r) == before
    _assert_equal_to_remote(device, r)
    again = do_sync(device, r).tables[0]
    assert "remote-unchanged" in again.paths and "local-unchanged" in again.paths


def test_the_local_engine_is_probed_once_per_store() -> None:
    """Two tables bootstrapped by one device: the hash probe (≈ 10 ms of planning) runs
    once on the local store, and both tables' pages come without hashes."""
    writer, r = local_db(), remote_db()
    for t in ("t", "u"):
        writer.con.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v VARCHAR)")
        writer.con.execute(f"INSERT INTO {t} SELECT i, 'v' || i FROM range(20) x(i)")
    assert do_sync(writer, r).converged
    statements: list[str] = []

    class Statements(FlakyLocal):
        def _tick(self, sql: str) -> None:
            statements.append(sql)

    pages = _Pages(r)
    report = do_sync(Statements(local_db(), fail_at=None), pages, batch_rows=PAGE)
    assert all("bootstrap-settled" in t.paths for t in report.tables) and len(report.tables) == 2
    assert pages.columns and all(c == ["id", "v"] for c in pages.columns)
    assert statements.count(hash_probe_sql()) == 1


def test_a_new_table_s_start_writes_its_state_once_and_reads_nothing_back() -> None:
    """Between the survey and the first page, a new device's table is described once,
    created with its state row (tied to the remote, a plain insert) and base in one
    transaction, and nothing of that is read back: in the page each local statement is
    wall time of the pull (docs/benchmarks.md, session 13: the pull's start)."""
    r = _remote()
    statements: list[str] = []

    class Statements(FlakyLocal):
        def _tick(self, sql: str) -> None:
            statements.append(" ".join(sql.split()))

    device = Statements(local_db(), fail_at=None)
    assert do_sync(device, r, batch_rows=PAGE).converged
    start = next(i for i, s in enumerate(statements) if s.startswith(
        "SELECT (SELECT count(*) FROM ducksync.tables WHERE name"))  # the early page's
    the_start = statements[start:statements.index("ingest")]
    describes = [s for s in the_start if "FROM duckdb_columns()" in s]
    state_writes = [s for s in the_start if "ducksync.tables" in s and not s.startswith(
        "SELECT")]
    assert len(describes) == 1
    assert [s.split(" VALUES")[0] for s in state_writes] == [  # made without base sums
        "INSERT INTO ducksync.tables (name, key_cols, synced_columns, pending_key, "
        "remote_id)"]
    assert sum(s.startswith("CREATE TABLE IF NOT EXISTS ducksync.\"base__t\"")
               for s in the_start) == 1
    assert len(the_start) <= 14, the_start  # 21 before (session 13)
    assert device.con.execute("SELECT remote_id IS NOT NULL, pending_key FROM "
                              "ducksync.tables").fetchall() == [(True, None)]
    again = do_sync(device, r).tables[0]
    assert "remote-unchanged" in again.paths and "remote-changed" not in again.paths


def test_natively_the_next_page_is_asked_for_before_this_one_is_loaded_here() -> None:
    """A native store reads a page's last key off the page's Arrow data as it arrives
    (``ArrowAside``), so the next page is asked for at once, while the page before it
    may still be committing, and this one is loaded into the database by its own commit.
    Before, each page was asked for only once the one before it was loaded here (its
    last key was read there), behind that page's commit."""
    events: list[str] = []

    class Loads(NativeLocalStore):
        async def ingest_arrow(self, table: str, ipc: bytes, *, append: bool = False) -> None:
            await super().ingest_arrow(table, ipc, append=append)
            events.append("loaded")

    r, device = _remote(), Loads(spec=":memory:")
    rep = do_sync(device, _Asks(r, events), batch_rows=PAGE).tables[0]
    assert rep.converged and "bootstrap-settled" in rep.paths
    _assert_equal_to_remote(device, r)
    _assert_each_next_page_asked_before_this_one_loaded(events)


def _assert_each_next_page_asked_before_this_one_loaded(events: list[str]) -> None:
    asked = [i for i, e in enumerate(events) if e == "asked"]
    loaded = [i for i, e in enumerate(events) if e == "loaded"]
    assert len(asked) == len(loaded) == 5  # pages of 8, 8, 8, 8, 3
    assert all(asked[k + 1] < loaded[k] for k in range(4)), events


class _Asks:
    """A remote recording each page asked for in ``events``; ``tells=False``: one that
    cannot tell a page's end (an older server, MotherDuck straight from the page)."""

    def __init__(self, inner: Any, events: list[str], *, tells: bool = True) -> None:
        self.inner, self.events, self.tells = inner, events, tells

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def fetch_rows_after(self, *a: Any, **kw: Any) -> Any:
        self.events.append("asked")
        if not self.tells:
            kw.pop("told", None)
        async for chunk in self.inner.fetch_rows_after(*a, **kw):
            yield chunk


class _Loads(FlakyLocal):
    """A local store that is not ``ArrowAside`` (as DuckDB-WASM's): ``events`` records
    each page loaded here and each read of a page's end."""

    def __init__(self, events: list[str]) -> None:
        super().__init__(local_db(), fail_at=None)
        self.events = events

    def _tick(self, sql: str) -> None:
        if "CAST(max(" in sql:
            self.events.append("read its end")

    async def ingest_arrow(self, table: str, ipc: bytes, *, append: bool = False) -> None:
        await super().ingest_arrow(table, ipc, append=append)
        self.events.append("loaded")


def test_a_page_whose_end_the_remote_tells_is_not_read_before_the_next_is_asked() -> None:
    """The remote tells each page's rows and last key with it (``fetch_rows_after``'s
    ``told``), so a store that cannot read a page aside (the page's DuckDB-WASM) asks for
    the next page the moment a page arrives, and loads it only in its commit. Before,
    it loaded each page and read its last key there first, behind the commit before."""
    events: list[str] = []
    r = NativeRemoteStore(spec=":memory:")  # tells (a file remote, as our server does)
    _remote(into=r)
    device = _Loads(events)
    assert not isinstance(device, ArrowAside)
    rep = do_sync(device, _Asks(r, events), batch_rows=PAGE).tables[0]
    assert rep.converged and "bootstrap-settled" in rep.paths
    _assert_equal_to_remote(device, r)
    _assert_each_next_page_asked_before_this_one_loaded(events)
    assert "read its end" not in events


def test_a_remote_that_cannot_tell_a_page_s_end_still_bootstraps() -> None:
    """Without ``told`` (an older server, MotherDuck from the page) the page is loaded
    and its end read here before the next is asked for, as before."""
    events: list[str] = []
    r = _remote()
    device = _Loads(events)
    rep = do_sync(device, _Asks(r, events, tells=False), batch_rows=PAGE).tables[0]
    assert rep.converged and "bootstrap-settled" in rep.paths and rep.pulled == N
    _assert_equal_to_remote(device, r)
    assert events.count("read its end") == 5
    assert [e for e in events if e != "read its end"] == ["asked", "loaded"] * 5


def test_a_native_store_reads_arrow_while_its_connection_is_busy() -> None:
    """``query_arrow`` runs on a connection of its own: a statement running on the
    store's (held here by its lock) does not hold up a page's last key."""
    import pyarrow as pa

    store, page = local_db(), pa.table({"id": pa.array(range(5), pa.int64())})
    with store._lock:  # a statement running on the database connection
        found = run(asyncio.wait_for(store.query_arrow(
            "SELECT count(*), CAST(max(id) AS VARCHAR) FROM p", "p", [to_ipc(page)]), 30))
    assert found == [(5, "4")]
    assert isinstance(store, ArrowAside)


def test_a_file_remote_proves_how_it_hashes_so_its_pages_come_without_hashes() -> None:
    """A file remote (the CLI's ``--remote x.duckdb``) runs on this process's duckdb: its
    survey carries its engine's hash probe, as our server's survey of the same store
    does, so a bootstrap from it derives the remote's hashes (the base stores them as
    NULL) instead of having them computed there and shipped. Before, only the server
    added the probe: a file→file pull shipped and stored every row's hashes."""
    r, device = _remote(), local_db()
    probe = run(r.survey(["t"], None)).get("hash_probe")
    assert probe is not None and probe == str(device.con.execute(hash_probe_sql()).fetchone()[0])
    rep = do_sync(device, r, batch_rows=PAGE).tables[0]
    assert "bootstrap-settled" in rep.paths and rep.pulled == N
    assert device.con.execute(f"SELECT count(*), count(__rhd), count(__rkd) FROM "
                              f"{base_table('t')}").fetchone() == (N, 0, 0)
    _assert_equal_to_remote(device, r)


def test_a_page_read_aside_gives_the_cursor_the_database_would() -> None:
    """The last key read off the Arrow page (``query_arrow``) is the text the local
    database gives for the same page, for every key type a cursor travels as (the
    remote casts it back: a different text could skip or repeat rows)."""
    from ducksync.stores._arrow import chunks

    values = {
        "UUID": "gen_random_uuid()", "HUGEINT": "i * 170141183460469231731687303715884105",
        "UHUGEINT": "i * 1701411834604692317316873037158841",
        "TIMESTAMP": "TIMESTAMP '2024-01-01 00:00:00.123456' + to_microseconds(i)",
        "DATE": "DATE '2000-01-01' + i::INTEGER", "VARCHAR": "'k' || i || chr(233)",
        "UBIGINT": "i * 184467440737095", "TINYINT": "i % 100 - 50"}
    source, store = local_db(), local_db()
    for typ, value in values.items():
        page = list(chunks(source.con.execute(f"SELECT ({value})::{typ} AS k FROM range(300) "
                                              "r(i)").to_arrow_reader(100), 1 << 30))
        sql = f"SELECT count(*), CAST(max(CAST(k AS {typ})) AS VARCHAR) FROM p"
        aside = run(store.query_arrow(sql, "p", page))
        for i, chunk in enumerate(page):
            run(store.ingest_arrow("p", chunk, append=i > 0))
        assert aside == run(store.fetch_rows(sql)) and aside[0][0] == 300, typ
