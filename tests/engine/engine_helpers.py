"""Shared helpers: in-memory native stores, a run() for coroutines, fault injection."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from ducksync.engine.sqlbuild import quote_ident
from ducksync.engine.sync import SyncOptions, SyncReport, sync
from ducksync.errors import RemoteUnavailableError
from ducksync.stores.native import NativeLocalStore, NativeRemoteStore

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def local_db(spec: str = ":memory:") -> NativeLocalStore:
    return NativeLocalStore(spec=spec)


def remote_db(spec: str = ":memory:") -> NativeRemoteStore:
    return NativeRemoteStore(spec=spec)


def do_sync(local: Any, remote: Any, mode: str = "sync", **kw: Any) -> SyncReport:
    return run(sync(local, remote, SyncOptions(**kw), mode))  # type: ignore[arg-type]


def rows(store: Any, table: str = "t") -> list[tuple[Any, ...]]:
    return list(store.con.execute(f"SELECT * FROM {quote_ident(table)} ORDER BY ALL").fetchall())


class Crash(RemoteUnavailableError):
    """An injected failure (a dropped connection or a killed process)."""

    def __init__(self) -> None:
        super().__init__("injected crash")


class FlakyRemote:
    """Wraps a RemoteStore: the ``fail_at``-th call fails, before or *after* it ran.

    "after" is the nasty case: the remote committed but the client never heard.
    """

    def __init__(self, inner: Any, *, fail_at: int | None, after: bool) -> None:
        self.inner, self.fail_at, self.after, self.calls = inner, fail_at, after, 0

    def _tick(self) -> bool:
        self.calls += 1
        return self.fail_at is not None and self.calls == self.fail_at

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if name == "fetch_rows" or name == "fetch_rows_after":
            async def gen(*a: Any, **kw: Any) -> Any:
                boom = self._tick()
                if boom and not self.after:
                    raise Crash()
                async for chunk in target(*a, **kw):
                    yield chunk
                if boom:
                    raise Crash()
            return gen

        async def call(*a: Any, **kw: Any) -> Any:
            boom = self._tick()
            if boom and not self.after:
                raise Crash()
            out = await target(*a, **kw)
            if boom:
                raise Crash()
            return out
        return call


class FlakyLocal:
    """Wraps a LocalStore: the ``fail_at``-th statement raises instead of running.

    The engine then rolls back its open transaction, as a killed process would lose it.
    """

    def __init__(self, inner: Any, *, fail_at: int | None) -> None:
        self.inner, self.fail_at, self.calls = inner, fail_at, 0
        self.con = inner.con

    def _tick(self, sql: str) -> None:
        if sql.strip().upper() == "ROLLBACK":
            return
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise Crash()

    async def execute(self, sql: str, params: Any = ()) -> None:
        self._tick(sql)
        await self.inner.execute(sql, params)

    async def fetch_rows(self, sql: str, params: Any = ()) -> Any:
        self._tick(sql)
        return await self.inner.fetch_rows(sql, params)

    async def ingest_arrow(self, table: str, ipc: bytes, *, append: bool = False) -> None:
        self._tick("ingest")
        await self.inner.ingest_arrow(table, ipc, append=append)

    def export_arrow(self, sql: str, params: Any = (), **kw: Any) -> Any:
        self._tick(sql)
        return self.inner.export_arrow(sql, params, **kw)
