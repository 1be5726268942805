"""Native stores: duckdb + pyarrow in CPython (a DuckDB file, ``:memory:`` or ``md:DB``).

:class:`NativeLocalStore` runs the engine's SQL on the local database.
:class:`NativeRemoteStore` is the one remote store
(:class:`~ducksync.stores.sql_remote.SqlRemoteStore`: structured operations, SQL
built from identifiers checked against the catalog, so the proxy server can expose
it to clients without running their SQL) on a :class:`NativeConnector`.
duckdb is imported lazily so that ``ducksync --help`` and Pyodide never load it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from ducksync.engine import sqlbuild as sb
from ducksync.engine.store import Survey
from ducksync.errors import AuthError, QueryError
from ducksync.motherduck_versions import check_client_version
from ducksync.stores import remote_sql as rs
from ducksync.stores.sql_remote import SqlRemoteStore

__all__ = ["NativeConnector", "NativeLocalStore", "NativeRemoteStore", "connect",
           "known_without_pandas"]

T = TypeVar("T")
LEDGER_KEEP_DAYS = rs.LEDGER_KEEP_DAYS  # unacknowledged results older than this are pruned


def known_without_pandas() -> None:
    """Record pandas as absent when it is not installed, before duckdb binds parameters.

    Why: duckdb's Python client, converting a list parameter, tries to import pandas
    for every element (to recognise its NA values); a failed import is not remembered,
    so each attempt searches ``sys.path`` again, which made a bound list of a thousand
    keys or buckets cost more than the statement using it (docs/benchmarks.md, session
    12). ``sys.modules["pandas"] = None`` is Python's record of a module that cannot be
    imported: the attempts then fail at once. An installed pandas is left alone."""
    if "pandas" not in sys.modules and importlib.util.find_spec("pandas") is None:
        sys.modules["pandas"] = None  # type: ignore[assignment]  # "cannot be imported"


def connect(spec: str) -> Any:
    """Open a duckdb connection for a path, ``:memory:`` or ``md:DB`` (token from env)."""
    import duckdb

    check_client_version(spec)
    known_without_pandas()
    if spec.startswith("md:") and not os.environ.get("MOTHERDUCK_TOKEN"):
        raise AuthError(f"cannot open {spec}: MOTHERDUCK_TOKEN is not set",
                        hint="export MOTHERDUCK_TOKEN=<token from app.motherduck.com>")
    try:
        con = duckdb.connect(spec)
    except duckdb.Error as exc:
        raise QueryError(f"cannot open {spec}: {exc}",
                         hint="check the path, and that no other process holds the file") from exc
    con.execute("SET arrow_lossless_conversion = true")
    return con


class _Native:
    """One duckdb connection; duckdb errors become :class:`QueryError`.

    Every public method runs its duckdb work off the event loop
    (:func:`asyncio.to_thread`; duckdb releases the GIL), under a per-store lock so
    the connection is never used by two threads at once. So a local and a remote
    store work *concurrently* when the engine overlaps them (the remote applies
    batch n while the local side records n-1 and exports n+1; both sides hash
    their tables at once in a no-op sync). ``threaded=False`` runs inline.
    """

    def __init__(self, *, spec: str, con: Any = None, threaded: bool = True) -> None:
        self.spec = spec
        self.con = con if con is not None else connect(spec)
        self.threaded = threaded
        self._lock = threading.Lock()
        self._aside_lock = threading.Lock()  # NativeLocalStore.query_arrow's connection

    async def _call(self, fn: Callable[[], T]) -> T:
        """``fn()`` (blocking duckdb work) under the store's lock, on a worker thread.

        A cancelled caller does not stop the thread; the lock keeps the next call
        waiting until it is done, so the connection is still never shared.
        """
        def locked() -> T:
            with self._lock:
                return fn()

        if not self.threaded:
            return locked()
        return await asyncio.to_thread(locked)

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        import duckdb

        try:
            return self.con.execute(sql, list(params))
        except duckdb.Error as exc:
            raise QueryError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                             hint=f"while running: {sql[:200]}") from exc

    def close(self) -> None:
        self.con.close()


class NativeLocalStore(_Native):
    """:class:`ducksync.engine.store.LocalStore` over a native duckdb connection; also
    :class:`~ducksync.engine.store.ArrowAside`, on a second connection (a cursor) to the
    same database: it reads only the Arrow it is given, so it never waits for nor
    conflicts with what runs on the first."""

    _aside: Any = None  # that connection, opened on first use (under ``_aside_lock``)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._call(lambda: self._run(sql, params))

    async def fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = await self._call(lambda: self._run(sql, params).fetchall())
        return rows

    async def export_arrow(
        self, sql: str, params: Sequence[Any] = (), *, batch_rows: int, batch_bytes: int
    ) -> AsyncIterator[bytes]:
        import duckdb

        from ducksync.stores._arrow import chunks

        def run() -> list[bytes]:
            # drained in one go: no cursor stays open between the engine's statements
            try:
                # With parameters, ``con.sql(…).to_arrow_reader`` ran a page of 368k rows
                # 15-20x slower than ``execute`` does (duckdb 1.5.6: 12 s vs 0.6 s).
                rel = (self.con.execute(sql, list(params)) if params else self.con.sql(sql))
                reader = rel.to_arrow_reader(batch_rows)
            except duckdb.Error as exc:
                raise QueryError(str(exc).splitlines()[0],
                                 hint=f"while running: {sql[:200]}") from exc
            return list(chunks(reader, batch_bytes, batch_rows))

        for chunk in await self._call(run):
            yield chunk

    async def ingest_arrow(self, table: str, ipc: bytes, *, append: bool = False) -> None:
        await self._call(lambda: self._ingest_arrow(table, ipc, append=append))

    def _ingest_arrow(self, table: str, ipc: bytes, *, append: bool) -> None:
        from ducksync.stores._arrow import from_ipc

        data = from_ipc(ipc)
        self.con.register("__ds_ingest", data)
        try:
            if append:
                self._run(f"INSERT INTO {sb.quote_ident(table)} BY NAME SELECT * FROM __ds_ingest")
            else:
                self._run(f"CREATE OR REPLACE TEMP TABLE {sb.quote_ident(table)} AS "
                          "SELECT * FROM __ds_ingest")
        finally:
            self.con.unregister("__ds_ingest")

    async def query_arrow(self, sql: str, name: str,
                          chunks: Sequence[bytes]) -> list[tuple[Any, ...]]:
        """Off the store's lock and connection: it runs while a statement runs there."""
        if not self.threaded:
            return self._query_arrow(sql, name, chunks)
        return await asyncio.to_thread(self._query_arrow, sql, name, chunks)

    def _query_arrow(self, sql: str, name: str,
                     chunks: Sequence[bytes]) -> list[tuple[Any, ...]]:
        import duckdb
        import pyarrow as pa  # type: ignore[import-untyped]

        from ducksync.stores._arrow import from_ipc

        tables = [from_ipc(c) for c in chunks]  # views of the chunks' buffers: no copy
        data = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        with self._aside_lock:
            if self._aside is None:  # a cursor: far cheaper than a new in-memory duckdb;
                # over md: a private one, so that reading the chunks stays in this process
                self._aside = (duckdb.connect() if self.spec.startswith("md:")
                               else self.con.cursor())
            self._aside.register(name, data)
            try:
                rows: list[tuple[Any, ...]] = self._aside.execute(sql).fetchall()
                return rows
            except duckdb.Error as exc:
                raise QueryError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                                 hint=f"while running: {sql[:200]}") from exc
            finally:
                self._aside.unregister(name)

    def close(self) -> None:
        if self._aside is not None:
            self._aside.close()
            self._aside = None
        super().close()

    async def copy_out(self, sql: str) -> bytes:
        return await self._call(lambda: self._copy_out(sql))

    def _copy_out(self, sql: str) -> bytes:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="ducksync-") as tmp:
            path = os.path.join(tmp, "scratch")
            self._run(sql.replace("{file}", "'" + path.replace("'", "''") + "'"))
            with open(path, "rb") as fh:
                return fh.read()

    async def copy_in(self, sql: str, data: bytes) -> None:
        await self._call(lambda: self._copy_in(sql, data))

    def _copy_in(self, sql: str, data: bytes) -> None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="ducksync-") as tmp:
            path = os.path.join(tmp, "scratch")
            with open(path, "wb") as fh:
                fh.write(data)
            self._run(sql.replace("{file}", "'" + path.replace("'", "''") + "'"))


class NativeConnector(NativeLocalStore):
    """A native connection as the remote store's connector, plus the native-only
    acceleration: an Arrow payload is *registered* (a view over the pyarrow table,
    no copy) instead of copied into a temp table
    (:class:`~ducksync.stores.connector.StagingConnector`)."""

    @property
    def one_engine(self) -> bool:
        """A file or ``:memory:`` runs every statement itself; ``md:`` runs temp tables
        and registered views on this client, the rest on MotherDuck's servers."""
        return not self.spec.startswith("md:")

    async def script(self, steps: Sequence[tuple[str, Sequence[Any]]]) -> list[tuple[Any, ...]]:
        """Every step in one hop to the connection's thread; the last one's rows.
        (Each statement is still its own ``execute``: multi-statement text cannot
        bind parameters.)"""
        def run() -> list[tuple[Any, ...]]:
            for sql, params in steps[:-1]:
                self._run(sql, params)
            sql, params = steps[-1]
            rows: list[tuple[Any, ...]] = self._run(sql, params).fetchall()
            return rows

        return await self._call(run)

    async def script_arrow(self, steps: Sequence[tuple[str, Sequence[Any]]], *,
                           batch_rows: int, batch_bytes: int) -> list[bytes]:
        import duckdb

        from ducksync.stores._arrow import chunks

        def run() -> list[bytes]:
            for sql, params in steps[:-1]:
                self._run(sql, params)
            sql, params = steps[-1]
            try:
                reader = self.con.sql(sql, params=list(params)).to_arrow_reader(batch_rows)
            except duckdb.Error as exc:
                raise QueryError(str(exc).splitlines()[0],
                                 hint=f"while running: {sql[:200]}") from exc
            return list(chunks(reader, batch_bytes, batch_rows))

        return await self._call(run)

    async def stage_arrow(self, name: str, ipc: bytes) -> None:
        from ducksync.stores._arrow import from_ipc

        data = from_ipc(ipc)  # decoded off the lock: the connection is not needed yet
        await self._call(lambda: self.con.register(name, data))

    async def unstage(self, name: str) -> None:
        await self._call(lambda: self.con.unregister(name))


class NativeRemoteStore(SqlRemoteStore):
    """:class:`ducksync.engine.store.RemoteStore` over a native duckdb connection: the
    one remote store (:class:`~ducksync.stores.sql_remote.SqlRemoteStore`) on a
    :class:`NativeConnector`, plus the server's kept row hashes
    (:meth:`table_hashes`, :meth:`checksums_of`)."""

    def __init__(self, *, spec: str, con: Any = None, threaded: bool = True) -> None:
        connector = NativeConnector(spec=spec, con=con, threaded=threaded)
        super().__init__(connector=connector)
        self.native = connector
        self.spec = spec
        self.con = connector.con

    def close(self) -> None:
        self.native.close()

    async def survey(self, tables: list[str] | None, key: list[str] | None) -> Survey:
        """With this engine's :meth:`hash_probe` (None over ``md:``), as our server's
        survey of the same store carries it: a CLI pull from a file then bootstraps as
        one through the server does, its pages without the remote's hashes (computed
        here instead of computed there and shipped)."""
        answer = await super().survey(tables, key)
        probe = await self.hash_probe()
        if probe is not None:
            answer["hash_probe"] = probe
        return answer

    # -- the descent's hashes, for a caller that keeps them between levels ---------------
    async def table_hashes(self, table: str, key: list[str], max_rows: int) -> bytes | None:
        """IPC ``(__ds_rk, __ds_rh)`` of every row (16 B a row), None above ``max_rows``.

        Each level of a descent otherwise reads and hashes the whole table again (1M
        rows: 60-95 ms natively, most of a level); a caller that knows the table did
        not change since (the server's read cache) answers the next levels with
        :meth:`checksums_of` instead, the same answer from these hashes.

        One statement, limited to ``max_rows`` + 1 rows (too many: None), rather than a
        count first: under sync rules each read of a slice scans the table's filter
        column, so a second statement would scan it twice.
        """
        from ducksync.stores._arrow import from_ipc

        async with self._lock:
            await self._setup()
            info = await self._checked(table, key)
            hashes = await self._one(*self._read(
                [table], f"SELECT __ds_rk, __ds_rh FROM ({rs.hashed_sql(info, key, False)}) "
                f"LIMIT {int(max_rows) + 1}"))
            return None if from_ipc(hashes).num_rows > max_rows else hashes

    async def checksums_of(self, hashes: bytes, modulus: int, parent_modulus: int,
                           parents: list[int]) -> bytes:
        """:meth:`bucket_checksums`, computed from :meth:`table_hashes`' answer."""
        source, params = "SELECT __ds_rk, __ds_rh FROM __ds_hashes", list[Any]()
        if parents:
            source += f" WHERE {sb.in_buckets_sql('__ds_rk')}"
            params = [int(parent_modulus), sb.bucket_list(parents)]
        async with self._lock:
            await self._stage("__ds_hashes", hashes)
            try:
                return await self._one(rs.checksums_sql(source, modulus),
                                       [int(modulus), *params])
            finally:
                await self._unstage("__ds_hashes")
