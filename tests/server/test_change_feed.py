"""The change feed (``GET /api/v1/sync/changes``) across two servers on one remote.

Two real apps (uvicorn, each with its own context, pool, feed and connection) front one
remote file: the feed of server B must announce a commit made through server A, which B
can only learn from the remote itself (its poll of the table versions), never from A.
They run in this process because DuckDB lets one process at a time open a file
read-write (a second process gets "Conflicting lock is held"); on ``md:`` they would be
two machines. Own commits are announced at once (notify), others' within B's poll.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from ducksync.engine.sync import SyncOptions, sync
from ducksync.feed import FeedEvent, FeedState, SseParser
from ducksync.server.app import create_app
from ducksync.server.settings import Settings
from ducksync.stores import open_local
from ducksync.stores.http import HttpRemoteStore
from ducksync.sync_routes import FEED, route_path
from serverutil import app_in_thread, free_port

FEED_PATH = route_path(FEED)
WAIT_S = 10.0  # a bound on waiting for an event, not a speed target (docs/benchmarks.md)


@contextmanager
def serve(remote: Path, **settings: Any) -> Iterator[tuple[str, Any]]:
    port = free_port()
    app = create_app(Settings(remote=str(remote), port=port, log_json=False, **settings))
    with app_in_thread(app, port) as url:
        try:
            yield url, app
        finally:
            app.state.ctx.feed.shutdown()  # what `ducksync serve` does on a signal


class Listening:
    """An SSE connection read on a thread; events arrive on a queue."""

    def __init__(self, url: str, last_event_id: str | None = None) -> None:
        self.events: queue.Queue[FeedEvent | BaseException | None] = queue.Queue()
        self.status: int | None = None
        self.parser = SseParser()
        headers = {"last-event-id": last_event_id} if last_event_id else {}
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, read=None))
        self._thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self._thread.start()

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url + FEED_PATH, headers=headers) as response:
                self.status = response.status_code
                for text in response.iter_text():
                    for event in self.parser.feed(text):
                        self.events.put(event)
        except BaseException as exc:  # closed by close(): the reader ends
            self.events.put(exc)
        self.events.put(None)

    def next(self, kind: str = "changes") -> FeedEvent:
        deadline = time.monotonic() + WAIT_S
        while True:
            item = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            assert isinstance(item, FeedEvent), f"the stream ended: {item!r}"
            if item.kind == kind:
                return item

    def ended(self) -> bool:
        """The stream ended (the server closed it) within the wait."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            item = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if not isinstance(item, FeedEvent):
                return True
        return False

    def close(self) -> None:
        self._client.close()


def push(url: str, device: Path) -> None:
    async def main() -> None:
        remote = HttpRemoteStore(url=url)
        try:
            report = await sync(open_local(str(device)), remote, SyncOptions(), "push")
            assert report.converged
        finally:
            await remote.aclose()

    asyncio.run(main())


def write(device: Path, sql: str) -> None:
    with duckdb.connect(str(device)) as con:
        con.execute(sql)


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    remote = tmp_path / "remote.duckdb"
    with ExitStack() as stack:
        url_a, _ = stack.enter_context(serve(remote))
        url_b, app_b = stack.enter_context(serve(remote, feed_poll_s=0.05))
        yield url_a, url_b, app_b


def test_a_commit_through_one_server_is_announced_by_the_other(
        tmp_path: Path, two_servers: tuple[str, str, Any]) -> None:
    url_a, url_b, app_b = two_servers
    device = tmp_path / "device.duckdb"
    write(device, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR); "
                  "INSERT INTO notes VALUES (1, 'one')")
    push(url_a, device)
    feed = Listening(url_b)
    try:
        snapshot = feed.next()
        assert snapshot.data["snapshot"] is True
        first = snapshot.data["tables"]["notes"]
        state = FeedState()
        assert state.receive(snapshot) == ["notes"]  # a new client syncs what it lacks
        write(device, "INSERT INTO notes VALUES (2, 'two')")
        push(url_a, device)  # through A: B hears it only from the remote
        change = feed.next()
        assert change.data == {"tables": {"notes": first + 1}}
        assert state.receive(change) == ["notes"]
        assert state.receive(change) == []  # a version it holds: nothing to do
        assert change.id is not None and change.id != snapshot.id
        assert app_b.state.ctx.feed.polls >= 2
    finally:
        feed.close()


def test_a_server_announces_its_own_commit_without_waiting_for_a_poll(tmp_path: Path) -> None:
    device = tmp_path / "device.duckdb"
    write(device, "CREATE TABLE kinds (id INTEGER PRIMARY KEY); INSERT INTO kinds VALUES (1)")
    with serve(tmp_path / "remote.duckdb", feed_poll_s=3600) as (url, _):
        feed = Listening(url)
        try:
            assert feed.next().data == {"tables": {}, "snapshot": True}  # no write yet
            push(url, device)  # the poll is an hour away: only notify() can tell
            assert feed.next().data == {"tables": {"kinds": 1}}  # new: no version before
            write(device, "INSERT INTO kinds VALUES (5), (6); DELETE FROM kinds WHERE id = 1")
            push(url, device)
            # every commit since version 1 was this server's: it names the keys written
            # (a hint for the clients' fast pull, engine/feed_pull.py)
            assert feed.next().data == {"tables": {"kinds": 2},
                                        "keys": {"kinds": {"since": 1,
                                                           "keys": ["1", "5", "6"]}}}
        finally:
            feed.close()


def test_a_client_resumes_from_the_last_event_id(
        tmp_path: Path, two_servers: tuple[str, str, Any]) -> None:
    url_a, url_b, _ = two_servers
    device = tmp_path / "device.duckdb"
    write(device, "CREATE TABLE items (id INTEGER PRIMARY KEY); INSERT INTO items VALUES (1)")
    push(url_a, device)
    feed = Listening(url_b)
    last = feed.next().id
    feed.close()
    again = Listening(url_b, last_event_id=last)  # nothing moved while it was away
    assert again.next("hello").data == {"resumed": True}
    again.close()
    write(device, "INSERT INTO items VALUES (2)")
    push(url_a, device)  # moved while it was away: told everything, diffs itself
    back = Listening(url_b, last_event_id=last)
    try:
        missed = back.next()
        assert missed.data["snapshot"] is True and missed.id != last
    finally:
        back.close()


def test_the_feed_is_bounded_and_ends_at_shutdown(tmp_path: Path) -> None:
    with serve(tmp_path / "remote.duckdb", feed_max_listeners=1) as (url, app):
        first = Listening(url)
        assert first.next().data["snapshot"] is True
        full = httpx.get(url + FEED_PATH, timeout=5)
        assert full.status_code == 503
        assert full.json()["error"]["code"] == "remote_unavailable"
        assert "DUCKSYNC_FEED_MAX_LISTENERS" in full.json()["error"]["hint"]
        app.state.ctx.feed.shutdown()
        assert first.ended()  # streams end: a stopping server is not held open
        first.close()


def test_the_feed_needs_credentials_when_auth_is_on(tmp_path: Path) -> None:
    from ducksync.server.auth import hash_api_key

    key = "dsk_test_feed_0123456789abcdef0123456789ab"
    with serve(tmp_path / "remote.duckdb", api_key_hashes=(hash_api_key(key),)) as (url, _):
        refused = httpx.get(url + FEED_PATH, timeout=5)
        assert refused.status_code == 401
        with httpx.stream("GET", url + FEED_PATH, timeout=5,
                          headers={"authorization": f"Bearer {key}"}) as allowed:
            assert allowed.status_code == 200
            assert allowed.headers["content-type"].startswith("text/event-stream")


def test_a_commit_the_poll_sees_before_its_notify_still_comes_with_its_keys() -> None:
    # The race behind 2 of 20 bench trials without a hint: a poll reads the version a
    # write just committed before that write's notify() registered its keys.
    from ducksync.server.feed import ChangeFeed

    versions = {"t": 1}

    async def poll() -> dict[str, int]:
        return dict(versions)

    async def until(done: Any) -> None:
        for _ in range(10_000):
            if done():
                return
            await asyncio.sleep(0)
        raise AssertionError("the poller never got there")

    async def main() -> None:
        feed = ChangeFeed(poll=poll, poll_s=3600, max_listeners=10)
        async with feed.listen() as (listener, current):
            assert current == {"t": 1}
            await until(lambda: feed.polls >= 1)
            with feed.writing("t"):
                versions["t"] = 2  # committed; the poll runs before notify()
                feed.notify()  # a wake without a table: as a poll timer would
                await until(lambda: feed.polls >= 2)
                assert listener.queue.empty()  # held back: its own notify is coming
                feed.notify("t", ["5"])
            news = await asyncio.wait_for(listener.queue.get(), 5)
            assert news is not None and news.versions == {"t": 2}
            assert news.keys == {"t": {"since": 1, "keys": ["5"]}}

    asyncio.run(main())


def test_with_sync_rules_the_feed_names_no_keys() -> None:
    # keys would name rows outside a principal's scope: with rules, tables only
    from types import SimpleNamespace

    from ducksync.server.feed import Changed
    from ducksync.server.feed_api import announcement

    changed = Changed({"t": 2}, {"t": {"since": 1, "keys": ["5"]}})
    open_ctx = SimpleNamespace(scopes=lambda who: None)
    ruled = SimpleNamespace(scopes=lambda who: {"t": object()})
    assert announcement(open_ctx, None, changed, {"t": 2}) == {  # type: ignore[arg-type]
        "tables": {"t": 2}, "keys": {"t": {"since": 1, "keys": ["5"]}}}
    assert announcement(ruled, None, changed, {"t": 2}) == {  # type: ignore[arg-type]
        "tables": {"t": 2}}


def test_a_write_by_another_tool_is_announced_and_a_ducksync_write_is_not_counted_twice(
        tmp_path: Path) -> None:
    """MotherDuck's UI or a notebook bumps no version: the server notices the content move
    (server/outside_writes.py) and bumps it, so every process announces it."""
    device = tmp_path / "device.duckdb"
    write(device, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR); "
                  "INSERT INTO notes VALUES (1, 'one')")
    with serve(tmp_path / "remote.duckdb", feed_poll_s=0.05,
               feed_outside_check_s=0.05) as (url, app):
        push(url, device)
        feed = Listening(url)
        try:
            first = feed.next().data["tables"]["notes"]
            outside = app.state.ctx.outside
            with app.state.ctx.database.cursor() as notebook:  # not through ducksync
                notebook.execute("UPDATE notes SET body = 'edited in a notebook'")
            assert feed.next().data == {"tables": {"notes": first + 1}}
            assert outside.found == 1
            write(device, "INSERT INTO notes VALUES (2, 'two')")
            push(url, device)  # its own version move: one change, not also an outside one
            # (with the key it wrote: every commit since the outside one was this server's)
            assert feed.next().data == {"tables": {"notes": first + 2}, "keys": {
                "notes": {"since": first + 1, "keys": ["2"]}}}
            polls = app.state.ctx.feed.polls
            deadline = time.monotonic() + WAIT_S
            while app.state.ctx.feed.polls < polls + 3:  # a few more checks went by
                assert time.monotonic() < deadline
                time.sleep(0.02)
            assert outside.found == 1
        finally:
            feed.close()


def test_other_tools_are_looked_for_only_where_they_can_write() -> None:
    assert Settings().outside_check_every_s("motherduck") == 30.0
    assert Settings().outside_check_every_s("duckdb-file") == 0.0  # the file's only writer
    assert Settings(feed_outside_check_s=5).outside_check_every_s("duckdb-file") == 5
