"""The engine's native :class:`RemoteStore`, shared safely by concurrent requests.

``NativeRemoteStore`` is async in signature but blocking inside (native duckdb),
and it keeps temp tables on its connection. So the server keeps a small *pool*
of stores, each on its own duckdb cursor (an independent connection to the same
database), lends one store to one request at a time, and drives the store's
coroutine to completion on a worker thread with that thread's own event loop:
the server's event loop never blocks on DuckDB.

Writes (create/alter/apply/ack) are serialised by one lock: DuckDB would abort
concurrent writers on the same table with a transaction conflict, which a client
could only retry; queueing them here turns that into a short wait. Being the one
door for writes also lets the pool keep checksum answers of a file remote until
the next write (:mod:`ducksync.server.read_cache`).

A request that outlives ``DUCKSYNC_REQUEST_TIMEOUT`` gets its cursor interrupted
(DuckDB stops the statement) and answers 504.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any, TypeVar

import anyio.to_thread

from ducksync.engine.store import RemoteStore
from ducksync.errors import DucksyncError
from ducksync.server.errors import RequestTimeoutError
from ducksync.server.read_cache import Carry, ReadCache
from ducksync.server.remote import RemoteDatabase
from ducksync.stores.scope import Scopes
from ducksync.stores.sql_remote import CatalogMemory, SqlRemoteStore

T = TypeVar("T")
# Row hashes kept for a descent: 16 B a row, so tables up to 4M rows (bigger ones are
# hashed at every level, as without the cache).
HASHES_MAX_BYTES = 64 << 20
HASHES_MAX_ROWS = HASHES_MAX_BYTES // 16


def _run(main: Awaitable[T]) -> T:
    """A short-lived event loop on this worker thread, closed afterwards (no leaks)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()


def run_coroutine(factory: Callable[[], Awaitable[T]]) -> T:
    """Run one store coroutine to completion on this (worker) thread."""
    async def main() -> T:
        return await factory()

    return _run(main())


def collect(factory: Callable[[], AsyncIterator[bytes]]) -> list[bytes]:
    """Drain one store async generator on this (worker) thread."""
    async def main() -> list[bytes]:
        return [chunk async for chunk in factory()]

    return _run(main())


class StorePool:
    """``size`` native remote stores over cursors of one :class:`RemoteDatabase`."""

    def __init__(self, *, database: RemoteDatabase, size: int, timeout_s: float,
                 store_factory: Callable[[Any], Any] | None = None) -> None:
        """``store_factory(cursor)``: the remote store of one pooled cursor (default:
        ``NativeRemoteStore``; tests pass the SQL store over a cloud stand-in). The store
        keeps the cursor as ``con`` (a timeout interrupts it)."""
        self.database = database
        self.store_factory = store_factory
        self.size = size
        self.timeout_s = timeout_s
        # Last in, first out: the next call gets the store used last, which knows the
        # catalog (a survey in one round trip, docs/remote-store.md); in turn, each
        # store of a pool that concurrent calls grew would read it again.
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        # One catalog memory for all: a store the pool grows for a concurrent call
        # knows the shapes the others read or wrote (no round trips to re-read them).
        self.catalog = CatalogMemory()
        self._created = 0
        self._create_lock = threading.Lock()
        self._slots = anyio.Semaphore(size)
        self.write_lock = threading.Lock()
        # Only a file remote has this process as its only writer (see read_cache).
        self.reads = ReadCache(enabled=database.kind == "duckdb-file")
        # A table's row hashes while a descent asks level after level (same rules).
        self.hashes = ReadCache(enabled=database.kind == "duckdb-file",
                                max_bytes=HASHES_MAX_BYTES)

    def _take(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        from ducksync.stores.native import NativeRemoteStore

        with self._create_lock:
            self._created += 1
        if self.store_factory is not None:
            store = self.store_factory(self.database.cursor())
        else:  # inline (threaded=False): the pool already runs each call on a worker thread
            store = NativeRemoteStore(spec=self.database.spec, con=self.database.cursor(),
                                      threaded=False)
        if isinstance(store, SqlRemoteStore):
            store.share(self.catalog)
        return store

    async def call(self, work: Callable[[RemoteStore], T], *, write: bool = False,
                   carry: Callable[[T], Carry] | None = None,
                   scopes: Scopes | None = None) -> T:
        """Run ``work(store)`` (blocking) on a worker thread with a pooled store.

        ``write``: serialised, and the read cache forgets every answer unless
        ``carry(result)`` says which stay true (see :mod:`ducksync.server.read_cache`).
        ``scopes``: the caller's rows (sync rules), the store's for this call only.
        """
        async with self._slots:
            store = await anyio.to_thread.run_sync(self._take)
            timed_out = threading.Event()

            def interrupt() -> None:
                timed_out.set()
                store.con.interrupt()

            def scoped() -> T:
                store.scopes = scopes
                try:
                    return work(store)
                finally:
                    store.scopes = None

            def job() -> T:
                if write:
                    with self.write_lock:
                        held, carried = self.reads.begin_write(), {}
                        held_hashes, carried_hashes = self.hashes.begin_write(), {}
                        try:
                            result = scoped()
                            if carry is not None:  # the same account holds for both
                                carried = carry(result)(held)
                                carried_hashes = carry(result)(held_hashes)
                            return result
                        finally:
                            self.reads.end_write(carried)
                            self.hashes.end_write(carried_hashes)
                return scoped()

            handle = asyncio.get_running_loop().call_later(self.timeout_s, interrupt)
            try:
                result = await anyio.to_thread.run_sync(job)
            except DucksyncError as exc:
                if timed_out.is_set():
                    raise RequestTimeoutError(
                        f"the remote did not answer within {self.timeout_s:g} s",
                        hint="retry with smaller batches, or raise DUCKSYNC_REQUEST_TIMEOUT",
                    ) from exc
                raise
            except BaseException:
                # A non-ducksync failure may leave the cursor mid-transaction: drop it.
                store = None
                raise
            finally:
                handle.cancel()
                if store is not None:
                    self._idle.put(store)
            return result

    async def cached_read(self, key: Hashable, work: Callable[[RemoteStore], bytes], *,
                          scopes: Scopes | None = None) -> tuple[bytes, bool]:
        """``call(work)`` for a read whose answer holds until the next write call;
        returns ``(answer, from_cache)``. ``key`` must name the caller's scope when
        the answer depends on it."""
        found = self.reads.get(key)
        if found is not None:
            return found, True
        generation = self.reads.generation  # before the read: see ReadCache.put
        answer = await self.call(work, scopes=scopes)
        self.reads.put(key, generation, answer)
        return answer, False

    def close(self) -> None:
        while True:
            try:
                store = self._idle.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(Exception):  # best effort at shutdown
                store.close()
