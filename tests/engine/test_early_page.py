"""A bootstrap's first page asked for as soon as the survey answers (engine/early_page.py):
before the local side has even created the table, used by the bootstrap without a
request more, and cancelled, uncounted, when the round turns out not to bootstrap."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from engine_helpers import FlakyRemote, do_sync, local_db, remote_db, rows, run

from ducksync.engine import early_page
from ducksync.engine.bootstrap import BOOT_TOTAL
from ducksync.engine.sqlbuild import hash_probe_sql
from ducksync.engine.sync import SyncOptions, sync
from ducksync.errors import QueryError

N, PAGE = 35, 8  # pages of 8, 8, 8, 8, 3


def _remote() -> Any:
    writer, r = local_db(), remote_db()
    writer.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR)")
    writer.con.execute(f"INSERT INTO t SELECT i, 'v' || i FROM range({N}) x(i)")
    assert do_sync(writer, r).converged
    return r


class _Timeline:
    """One list of what the local and the remote side did, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []


class _Remote:
    """Records each ``fetch_rows_after`` when asked, answered or cancelled; ``hold``:
    never answers one (only cancelling ends it)."""

    def __init__(self, inner: Any, timeline: _Timeline, *, hold: bool = False) -> None:
        self.inner, self.timeline, self.hold = inner, timeline, hold
        self.asked: list[tuple[Any, ...]] = []
        self.hashes: list[bool] = []  # each request's

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def fetch_rows_after(self, *a: Any, **kw: Any) -> Any:
        self.timeline.events.append("page asked")
        self.asked.append(a)
        self.hashes.append(kw["hashes"])
        try:
            if self.hold:
                await asyncio.Event().wait()
            async for chunk in self.inner.fetch_rows_after(*a, **kw):
                yield chunk
        except asyncio.CancelledError:
            self.timeline.events.append("page cancelled")
            raise
        self.timeline.events.append("page answered")


class _Local:
    """Records the table's creation here; ``write``: a row written here right after it
    (the page is usable while a sync runs)."""

    def __init__(self, inner: Any, timeline: _Timeline, *, write: bool = False) -> None:
        self.inner, self.timeline, self.write = inner, timeline, write
        self.con = inner.con

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def execute(self, sql: str, params: Any = ()) -> None:
        if sql.startswith("UPDATE ducksync.tables SET base_n = NULL"):
            self.timeline.events.append("bootstrap starts")  # its first statement
        await self.inner.execute(sql, params)
        if sql.startswith('CREATE TABLE "t"'):
            self.timeline.events.append("table created")
            if self.write:
                await self.inner.execute("INSERT INTO t VALUES (1000, 'written here')")


def _temp_tables(local: Any) -> list[str]:
    return [n for (n,) in local.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()]


async def _sync_then_mark(local: Any, remote: Any, timeline: _Timeline) -> Any:
    report = await sync(local, remote, SyncOptions(), "sync")
    timeline.events.append("sync returned")  # asyncio.run cancels what is left after it
    return report.tables[0]


def test_the_first_page_is_asked_for_before_the_table_is_created_here() -> None:
    r, timeline = _remote(), _Timeline()
    device = local_db()
    rep = do_sync(_Local(device, timeline), _Remote(r, timeline), "pull",
                  batch_rows=PAGE).tables[0]
    assert rep.converged and rep.pulled == N and "bootstrap-settled" in rep.paths
    assert timeline.events.index("page asked") < timeline.events.index("table created")
    assert timeline.events.count("page asked") == 5  # the early one was used: none more
    assert rep.remote_calls == 1 + 5  # the survey, then five pages
    assert rows(device) == rows(r) and BOOT_TOTAL not in _temp_tables(device)


def test_a_round_that_does_not_bootstrap_cancels_the_early_page_and_does_not_count_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A row written here right after the table was created: the table is no longer
    empty, so the round takes the general path. The page asked for early is cancelled
    (never answered: only cancelling ends it), the report equals that of the same sync
    that never asked for it, and the rows-left count written for it is gone."""
    reports = []
    for early in (True, False):
        if not early:
            async def never(*_: Any, **__: Any) -> None:
                return None
            monkeypatch.setattr(early_page, "start", never)
        r, timeline = _remote(), _Timeline()
        device = local_db()
        remote = _Remote(r, timeline, hold=True)
        rep = run(_sync_then_mark(_Local(device, timeline, write=True), remote, timeline))
        assert rep.converged and "bootstrap" not in rep.paths
        assert rows(device) == rows(r) and len(rows(r)) == N + 1
        events = [e for e in timeline.events if e != "bootstrap starts"]  # or a round's
        assert events == (["page asked", "table created", "page cancelled", "sync returned"]
                          if early else ["table created", "sync returned"])
        assert BOOT_TOTAL not in _temp_tables(device)
        reports.append(rep)
    used, control = reports
    assert (used.remote_calls, used.bytes_received, used.bytes_sent) == (
        control.remote_calls, control.bytes_received, control.bytes_sent)


def test_a_resumed_bootstrap_asks_for_its_next_page_early_from_its_cursor() -> None:
    """Interrupted at its third page: the next sync asks for that page, after the
    cursor, before its bootstrap even starts, and pulls only the rest."""
    r, timeline = _remote(), _Timeline()
    device = local_db()
    first = run(sync(device, FlakyRemote(r, fail_at=1 + 3, after=False),
                     SyncOptions(batch_rows=PAGE), "pull")).tables[0]
    assert first.error is not None and len(rows(device)) == 2 * PAGE
    remote = _Remote(r, timeline)
    rep = do_sync(_Local(device, timeline), remote, "pull", batch_rows=PAGE).tables[0]
    assert rep.converged and rep.pulled == N - 2 * PAGE
    assert remote.asked[0][2] == str(2 * PAGE - 1) and len(remote.asked) == 3
    assert timeline.events.index("page asked") < timeline.events.index("bootstrap starts")
    assert rep.remote_calls == 1 + 3 + 1  # the survey, 3 pages, the round after a resume
    assert rows(device) == rows(r)


class _Unreadable(_Local):
    """The early start's own local statement fails (a store that cannot answer it)."""

    async def fetch_rows(self, sql: str, params: Any = ()) -> Any:
        if "AND remote_id = ? AND key_cols = ?" in sql:
            raise QueryError("cannot read it", hint="a test's failure")
        return await self.inner.fetch_rows(sql, params)


def test_a_head_start_that_cannot_start_leaves_the_bootstrap_to_ask_itself() -> None:
    r, timeline = _remote(), _Timeline()
    device = local_db()
    rep = do_sync(_Unreadable(device, timeline), _Remote(r, timeline), "pull",
                  batch_rows=PAGE).tables[0]
    assert rep.converged and rep.pulled == N and "bootstrap-settled" in rep.paths
    assert timeline.events.index("table created") < timeline.events.index("page asked")
    assert rep.remote_calls == 1 + 5 and rows(device) == rows(r)


class _Probing(_Local):
    """Records when the local hash probe runs; ``answer``: what it answers instead
    (an engine that hashes unlike the remote's)."""

    def __init__(self, inner: Any, timeline: _Timeline, answer: str | None = None) -> None:
        super().__init__(inner, timeline)
        self.answer = answer

    async def fetch_rows(self, sql: str, params: Any = ()) -> Any:
        if sql == hash_probe_sql():
            self.timeline.events.append("local probe")
            if self.answer is not None:
                return [(self.answer,)]
        return await self.inner.fetch_rows(sql, params)


def test_the_first_page_is_asked_for_before_the_local_hash_probe_runs() -> None:
    """A remote that proves how it hashes, a store that never ran the probe: the page is
    asked for without hashes (foreseen: the engines hash alike) before the probe runs
    (beside the page's fetch), and the probe's answer agrees, so the bootstrap uses it."""
    r, timeline = _remote(), _Timeline()
    remote = _Remote(r, timeline)
    rep = do_sync(_Probing(local_db(), timeline), remote, "pull", batch_rows=PAGE).tables[0]
    assert rep.converged and rep.pulled == N and "bootstrap-settled" in rep.paths
    assert timeline.events.index("page asked") < timeline.events.index("local probe")
    assert remote.hashes == [False] * 5 and rep.remote_calls == 1 + 5
    assert timeline.events.count("local probe") == 1


def test_a_probe_that_disagrees_after_the_page_was_asked_costs_a_request_not_a_row(
) -> None:
    """The foresight was wrong (this engine hashes unlike the remote's): the page
    asked for without hashes is dropped and the bootstrap asks for its pages with them."""
    r, timeline = _remote(), _Timeline()
    remote, device = _Remote(r, timeline), local_db()
    rep = do_sync(_Probing(device, timeline, answer="0"), remote, "pull",
                  batch_rows=PAGE).tables[0]
    assert rep.converged and rep.pulled == N and "bootstrap-settled" in rep.paths
    assert remote.hashes == [False] + [True] * 5
    assert rep.remote_calls == 1 + 5  # the dropped page is not counted
    assert rows(device) == rows(r) and BOOT_TOTAL not in _temp_tables(device)
