"""The change feed's hub: which tables changed, told to every listener of this process.

Why it holds with several server processes on one remote: the versions live in the
remote, not here. Each table's version is its write count in ``ducksync.table_writes``
(bumped by the claim inside every committed write transaction, whoever the writer:
this process, another server process, a browser on the direct transport). Each process
*polls* that one small table (one statement for all tables) every ``poll_s`` while it
has listeners, and polls at once after its own commits (:meth:`ChangeFeed.notify`), so
its own clients hear within a round trip and other processes' clients within a poll.
Nothing is polled while nobody listens. Design and numbers: docs/change-feed.md.

Pure asyncio (no FastAPI): ``feed_api`` serves it as Server-Sent Events; the event
formats are :func:`sse_event` and :func:`sse_comment`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ducksync.errors import DucksyncError, RemoteUnavailableError

__all__ = ["MAX_KEYS", "ChangeFeed", "Changed", "Listener", "event_id", "sse_comment",
           "sse_event"]

log = logging.getLogger("ducksync.server.feed")
Versions = dict[str, int]
# At most this many keys per table in one announcement: more is a bulk change, which
# the client's general sync handles as well as a hint would.
MAX_KEYS = 1000


def event_id(remote_id: str, versions: Mapping[str, int]) -> str:
    """The SSE id of a state: the remote's id and the sum of the versions a client sees.

    Every commit adds one to one table's version, so the sum only grows while the
    remote lives; a client that reconnects with the id it last saw is told nothing
    when nothing moved, and everything (its own diff decides) when anything did.
    """
    return f"{remote_id}.{sum(versions.values())}"


def sse_event(kind: str, data: Mapping[str, Any], ident: str | None = None) -> bytes:
    """One Server-Sent Event (``data`` as one JSON line)."""
    head = f"id: {ident}\n" if ident is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def sse_comment(text: str) -> bytes:
    """A comment line: a heartbeat that keeps proxies and idle timeouts from closing."""
    return f": {text}\n\n".encode()


@dataclass(frozen=True)
class Changed:
    """One poll's news: the tables whose version moved, and for some of them the keys
    the commits wrote since the version before (``{table: {"since": v, "keys": [...]}}``),
    when this process made every one of those commits and knows their keys."""

    versions: Versions
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(eq=False)
class Listener:
    """One connected client: the changes waiting for it (``None``: the feed closes)."""

    queue: asyncio.Queue[Changed | None] = field(default_factory=asyncio.Queue)


class ChangeFeed:
    """Polls the remote's table versions and hands every change to each listener.

    ``poll()``: the versions (one statement); ``poll_s``: how often while anyone
    listens; ``max_listeners``: a bound (one more is refused with 503 and falls back
    to interval syncs). Listeners and the poller live on one event loop (the
    server's); :meth:`notify` and :meth:`shutdown` may be called from any thread.
    """

    def __init__(self, *, poll: Callable[[], Awaitable[Versions]], poll_s: float,
                 max_listeners: int) -> None:
        self._poll = poll
        self.poll_s = poll_s
        self.max_listeners = max_listeners
        self.versions: Versions | None = None  # as of the last poll (None: not polled)
        self.polls = 0
        self._listeners: set[Listener] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # per table, this process's commits since the last poll that saw it move:
        # (commits, the keys they wrote or None when one of them did not say)
        self._written: dict[str, tuple[int, set[str] | None]] = {}
        self._writing: dict[str, int] = {}  # per table, this process's writes under way
        self._deferred: set[str] = set()  # tables the last poll held back (see _poll_once)

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    # --- listeners ---------------------------------------------------------------------
    def check_room(self) -> None:
        """Raise (503: the client falls back to interval syncs) unless one more may join."""
        if self._closed:
            raise RemoteUnavailableError("the server is shutting down",
                                         hint="the client reconnects to the next server")
        if len(self._listeners) >= self.max_listeners:
            raise RemoteUnavailableError(
                f"the change feed has its maximum of {self.max_listeners} listeners",
                hint="this client syncs on its interval instead and retries the feed "
                     "later; the operator can raise DUCKSYNC_FEED_MAX_LISTENERS")

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[tuple[Listener, Versions]]:
        """Join: ``(listener, the current versions)``; changes after them arrive on the
        listener's queue (registered first, so none falls between the two)."""
        self.check_room()
        listener = Listener()
        self._listeners.add(listener)
        try:
            self._start()
            yield listener, await self.current()
        finally:
            self._listeners.discard(listener)

    async def current(self) -> Versions:
        """The versions now: the poller's last answer, or one poll when there is none."""
        if self.versions is None:
            await self._poll_once()
        return dict(self.versions or {})

    @contextlib.contextmanager
    def writing(self, table: str) -> Iterator[None]:
        """Around a write to ``table`` on the server's loop: a poll that sees the table
        move while one is under way waits for its :meth:`notify` before announcing it
        (else the commit's keys would miss the announcement of its own version)."""
        self._writing[table] = self._writing.get(table, 0) + 1
        try:
            yield
        finally:
            self._writing[table] -= 1
            if not self._writing[table]:
                del self._writing[table]
            if self._wake is not None:
                self._wake.set()

    def notify(self, table: str | None = None, keys: list[str] | None = None) -> None:
        """This process committed a write (to ``table``, writing ``keys``, as text, when
        known): poll now instead of at the next interval. Call it on the server's loop
        (inside :meth:`writing`); from another thread it only wakes the poller."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            if table is not None:
                self._wrote(table, keys)
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    def _wrote(self, table: str, keys: list[str] | None) -> None:
        n, had = self._written.get(table, (0, set()))
        merged = None if had is None or keys is None else had | set(keys)
        self._written[table] = (n + 1, merged if merged is None or len(merged) <= MAX_KEYS
                                else None)

    def shutdown(self) -> None:
        """End every stream (server shutdown: open streams would hold it up)."""
        self._closed = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._close_all)

    def _close_all(self) -> None:
        for listener in list(self._listeners):
            listener.queue.put_nowait(None)
        if self._task is not None:
            self._task.cancel()

    # --- the poller ----------------------------------------------------------------------
    def _start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        """Poll while anyone listens; the versions are forgotten when nobody does
        (a later listener must not be answered from a stale poll)."""
        assert self._wake is not None
        try:
            while self._listeners:
                self._wake.clear()
                await self._poll_once()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
        finally:
            self.versions = None

    async def _poll_once(self) -> None:
        try:
            found = await self._poll()
        except DucksyncError as exc:  # the remote is down: listeners keep waiting
            log.warning("change feed poll failed", extra={"fields": {"code": exc.code}})
            return
        self.polls += 1
        before = self.versions
        if before is None:
            self.versions = found
            self._written.clear()  # commits before this poll are in ``found`` already
            return
        # A table moved by a commit of this process not yet notified: announced with
        # the next poll (woken when that write ends), so its keys come with it.
        waiting = {t for t, n in found.items() if before.get(t) != n and t in self._writing
                   and t not in self._deferred
                   and self._written.get(t, (0, None))[0] < n - before.get(t, 0)}
        self._deferred = waiting  # once: a table written without pause is not held back
        self.versions = {t: before[t] if t in waiting and t in before else n
                         for t, n in found.items() if t not in waiting or t in before}
        changed = {t: n for t, n in self.versions.items() if before.get(t) != n}
        if changed:
            news = Changed(changed, self._keys_for(before, changed))
            for listener in list(self._listeners):
                listener.queue.put_nowait(news)

    def _keys_for(self, before: Versions, changed: Versions) -> dict[str, dict[str, Any]]:
        """The keys of the moved tables whose every commit since ``before`` was this
        process's, with known keys. A commit counted here but not yet seen by the poll
        (or the reverse) makes the counts differ: no keys then, never wrong ones; and
        the client proves what it pulls by checksum anyway (engine/feed_pull.py)."""
        out = {}
        for t, n in changed.items():
            commits, keys = self._written.pop(t, (0, None))
            if t in before and keys is not None and commits == n - before[t]:
                out[t] = {"since": before[t], "keys": sorted(keys)}
        return out
