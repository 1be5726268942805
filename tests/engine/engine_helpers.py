"""Shared helpers: in-memory native stores, a run() for coroutines, fault injection."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ducksync.engine import detect
from ducksync.engine.sqlbuild import quote_ident
from ducksync.engine.sync import SyncOptions, SyncReport, sync
from ducksync.errors import QueryError, RemoteUnavailableError
from ducksync.stores.native import NativeLocalStore, NativeRemoteStore
from ducksync.stores.sql_remote import SqlRemoteStore

T = TypeVar("T")
# Which RemoteStore remote_db() builds: "native", or "sql" (SqlRemoteStore over a native
# connection: the browser's direct transport, run on a real DuckDB). Switched by
# remote_kind() (tests/engine/test_sql_contract.py), so one contract test covers both.
REMOTE_KIND = "native"


@contextlib.contextmanager
def remote_kind(kind: str) -> Iterator[None]:
    """remote_db() builds ``kind`` ("native" | "sql" | "two-engines") stores inside the
    block."""
    global REMOTE_KIND
    before, REMOTE_KIND = REMOTE_KIND, kind
    try:
        yield
    finally:
        REMOTE_KIND = before


def load_engine_module(name: str, prefix: str) -> Any:
    """tests/engine/<name>.py by path, as ``<prefix>_<name>`` (tests/e2e has a test_sync.py
    too): how a file collects another file's contract tests once more."""
    spec = importlib.util.spec_from_file_location(f"{prefix}_{name}",
                                                  Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def local_db(spec: str = ":memory:") -> NativeLocalStore:
    return NativeLocalStore(spec=spec)


class ScalarConnector(NativeLocalStore):
    """A native connection that accepts only what a browser connector can bind (JSON
    scalars): proves SqlRemoteStore never sends a list or BLOB parameter. Like the
    browser's connector (whose ingest writes a scratch database, and a transaction may
    write only one database), it refuses to ingest inside a transaction."""

    in_transaction = False

    @staticmethod
    def _check(params: Any) -> None:
        bad = [p for p in params if p is not None and not isinstance(p, str | int | float)]
        assert not bad, f"non-scalar SQL parameters: {bad!r}"

    async def execute(self, sql: str, params: Any = ()) -> None:
        self._check(params)
        word = sql.strip().split()[0].upper() if sql.strip() else ""
        if word in ("COMMIT", "ROLLBACK"):  # ended, even when they fail
            self.in_transaction = False
        await super().execute(sql, params)
        if word == "BEGIN":
            self.in_transaction = True

    async def ingest_arrow(self, table: str, ipc: bytes, *, append: bool = False) -> None:
        if self.in_transaction:
            raise QueryError("TransactionContext Error: Current transaction is aborted "
                             "(please ROLLBACK)", hint=f"while running: ingest {table}")
        await super().ingest_arrow(table, ipc, append=append)

    async def fetch_rows(self, sql: str, params: Any = ()) -> Any:
        self._check(params)
        return await super().fetch_rows(sql, params)

    def export_arrow(self, sql: str, params: Any = (), **kw: Any) -> Any:
        self._check(params)
        return super().export_arrow(sql, params, **kw)


class SqlRemote(SqlRemoteStore):
    """SqlRemoteStore whose connector is a native connection; ``con`` lets a test write
    the remote directly (another writer), as with NativeRemoteStore."""

    def __init__(self, spec: str) -> None:
        super().__init__(connector=ScalarConnector(spec=spec))
        self.con = self.connector.con  # type: ignore[attr-defined]


class ProbedRemote(NativeRemoteStore):
    """A file remote whose survey carries its engine's hash probe, as our server's does:
    a bootstrap from it computes the remote's hashes instead of receiving them."""

    async def survey(self, tables: Any, key: Any) -> Any:
        answer = await super().survey(tables, key)
        answer["hash_probe"] = await self.hash_probe()
        return answer


def remote_db(spec: str = ":memory:") -> NativeRemoteStore | SqlRemote:
    if REMOTE_KIND == "two-engines":  # temp tables on "the client" (tests/engine/two_engines.py)
        from two_engines import TwoEngineRemote

        return TwoEngineRemote(spec)  # type: ignore[return-value]
    return SqlRemote(spec) if REMOTE_KIND == "sql" else NativeRemoteStore(spec=spec)


def do_sync(local: Any, remote: Any, mode: str = "sync", **kw: Any) -> SyncReport:
    try:
        return run(sync(local, remote, SyncOptions(**kw), mode))  # type: ignore[arg-type]
    finally:
        assert_kept_sums_hold(local)


def assert_kept_sums_hold(local: Any) -> None:
    """The base sums kept in ``ducksync.tables`` (when not NULL) equal a fresh
    computation: checked after every sync of every engine test, crashes included,
    so a write to a base that forgot to drop them first fails somewhere."""
    con = getattr(local, "con", None) or getattr(getattr(local, "inner", None), "con", None)
    if con is None or not con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'ducksync' AND "
            "table_name = 'tables' AND column_name = 'base_n'").fetchall()[0][0]:
        return
    for name, key, n, x, total in con.execute(
            "SELECT name, key_cols, base_n, base_x, base_sum FROM ducksync.tables "
            "WHERE base_n IS NOT NULL").fetchall():
        fresh = con.execute(detect._base_sums_sql(name, list(key))).fetchall()[0]
        assert (n, x, total) == tuple(fresh), f"kept base sums of {name!r} are stale"


def rows(store: Any, table: str = "t") -> list[tuple[Any, ...]]:
    return list(store.con.execute(f"SELECT * FROM {quote_ident(table)} ORDER BY ALL").fetchall())


def prune_answers(remote: Any) -> None:
    """What the remote's pruning of answers unacknowledged for days leaves: every stored
    answer gone, the ids kept (``batch_result`` then answers an empty result).
    ``remote``: a store on a duckdb connection, or the connection."""
    con = getattr(remote, "con", remote)
    for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'ducksync' AND "
            "(table_name IN ('ledger_results', 'ledger_rowsets', 'ledger_verified') OR "
            "starts_with(table_name, 'ledger_rows__'))").fetchall():
        con.execute(f"DELETE FROM ducksync.{quote_ident(name)}")


class Crash(RemoteUnavailableError):
    """An injected failure (a dropped connection or a killed process)."""

    def __init__(self) -> None:
        super().__init__("injected crash")


def lose_next_answer(remote: Any) -> None:
    """The remote's next ``apply_batch`` commits, then its answer is lost (a dropped
    connection after the commit: the client never hears); later calls run as usual."""
    inner = remote.apply_batch

    async def committed_then_lost(*args: Any, **kw: Any) -> Any:
        await inner(*args, **kw)
        remote.apply_batch = inner
        raise Crash()

    remote.apply_batch = committed_then_lost


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
