"""A RemoteStore over any async SQL connector: the remote's DuckDB speaks SQL to us.

Why: the browser can reach MotherDuck directly (its WASM client runs DuckDB with
the remote attached), without our proxy server. Then nothing runs
:class:`~ducksync.stores.native.NativeRemoteStore` (duckdb + pyarrow, CPython
only), but the engine must not see a difference. This store implements the same
structured operations with the same semantics (catalog-checked names, one
transaction per batch with the shared ledger, compare-and-swap, bulk path) by
sending SQL from :mod:`ducksync.stores.remote_sql` to a *connector*: anything with
the :class:`~ducksync.engine.store.LocalStore` shape (``execute``, ``fetch_rows``,
``export_arrow``, ``ingest_arrow`` into a temp table). In CPython that is
``NativeLocalStore`` (the contract tests); in the browser, the remote worker's
MotherDuck connector (``workers/md_connector.py``).

Pure Python, no duckdb/pyarrow: IPC payloads are handed to the connector and
answers come back from it as opaque objects (in Pyodide: JS ``Uint8Array``s that
are never decoded here). Parameters are scalars only (``str``, ``int``, ``None``):
a browser connector binds them as JSON, so lists travel as a string cast in SQL.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from ducksync.engine import sqlbuild as sb
from ducksync.engine.store import ApplyResult, ColumnInfo, Survey, TableInfo
from ducksync.errors import ProtocolError, QueryError, SchemaMismatchError
from ducksync.stores import remote_sql as rs

__all__ = ["SqlConnector", "SqlRemoteStore"]

_WHOLE: Final = 1 << 30  # "one chunk" for answers the protocol sends as one IPC stream
_META: Final = ("__ds_op", "__ds_expect", "__ds_lh")


class SqlConnector(Protocol):
    """The part of :class:`~ducksync.engine.store.LocalStore` this store needs.

    One connection: ``BEGIN``/``COMMIT`` delimit a transaction and temp tables
    persist between calls. Errors are :class:`~ducksync.errors.DucksyncError` types
    (``QueryError`` for SQL, ``RemoteUnavailableError`` for the network).
    """

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    async def fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def export_arrow(self, sql: str, params: Sequence[Any] = (), *, batch_rows: int,
                     batch_bytes: int) -> AsyncIterator[bytes]: ...

    async def ingest_arrow(self, table: str, ipc: bytes, *, append: bool = False) -> None: ...


def _int_list(values: Sequence[int]) -> str:
    """A UBIGINT list as the text DuckDB casts (``'[1, 2]'::UBIGINT[]``): validated ints."""
    return "[" + ", ".join(str(int(v)) for v in values) + "]"


@dataclass(frozen=True)
class _Done:
    """A write applied: the answer is in temp ``__ds_res``, or, when ``verified`` holds
    the checksum, it is the compact one (nothing to send or keep but the checksum)."""

    verified: int | None = None


def _raw(data: Any) -> bytes:
    """Python bytes of an answer (a JS ``Uint8Array`` proxy has ``to_bytes``)."""
    to_bytes = getattr(data, "to_bytes", None)
    return bytes(to_bytes() if callable(to_bytes) else data)


class SqlRemoteStore:
    """:class:`ducksync.engine.store.RemoteStore` over a :class:`SqlConnector`.

    ``database``: run ``USE`` on it first (e.g. the MotherDuck database), so every
    table, the catalog queries and the ``ducksync`` ledger schema resolve there
    while temp tables stay on the client. Calls are serialised: the connector is
    one connection, and a batch's transaction must not interleave with anything.
    ``chunk_bytes``: the soft cap of a ``fetch_rows*`` chunk.
    """

    def __init__(self, *, connector: SqlConnector, database: str | None = None,
                 chunk_bytes: int = 64 << 20) -> None:
        self.connector = connector
        self.database = database
        self.chunk_bytes = chunk_bytes  # soft cap of a fetch chunk (a worker wants one)
        self._lock = asyncio.Lock()
        self._ready = False

    # -- helpers ---------------------------------------------------------------------
    async def _setup(self) -> None:
        if self._ready:
            return
        if self.database:
            await self.connector.execute(f"USE {sb.quote_ident(self.database)}")
        try:
            for ddl in rs.LEDGER_DDL:
                await self.connector.execute(ddl)
        except QueryError as exc:
            raise rs.refused_write(exc) from exc
        self._ready = True

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> bytes:
        """The whole result as one IPC stream (the protocol's single-answer methods)."""
        out = [c async for c in self.connector.export_arrow(sql, params, batch_rows=_WHOLE,
                                                            batch_bytes=_WHOLE)]
        if len(out) != 1:
            raise ProtocolError(f"the connector split a single answer into {len(out)} chunks",
                                hint="connectors must honour batch_rows/batch_bytes")
        return out[0]

    async def _chunks(self, sql: str, params: Sequence[Any], batch_rows: int) -> list[bytes]:
        return [c async for c in self.connector.export_arrow(sql, params, batch_rows=batch_rows,
                                                             batch_bytes=self.chunk_bytes)]

    async def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self.connector.fetch_rows(sql, params)
        return rows[0][0] if rows else None

    async def _tables(self, name: str | None = None) -> list[TableInfo]:
        params = [name] if name is not None else []
        cols = await self.connector.fetch_rows(rs.columns_sql(name is not None), params)
        pks = await self.connector.fetch_rows(rs.primary_keys_sql(name is not None), params)
        return rs.tables_from_catalog(cols, pks)

    async def _info(self, table: str) -> TableInfo:
        found = await self._tables(table)
        if not found:
            raise rs.no_table(table)
        return found[0]

    async def _checked(self, table: str, key: Sequence[str]) -> TableInfo:
        return rs.check_key(await self._info(table), key)

    # -- catalog ---------------------------------------------------------------------
    async def remote_id(self) -> str:
        async with self._lock:
            await self._setup()
            return await self._identity(str(await self._scalar(rs.IDENTITY[0])))

    async def _identity(self, found: str) -> str:
        """``found`` (the id read), or the id made now when the database had none."""
        if not found:
            read, create = rs.IDENTITY
            await self.connector.execute(create)
            found = str(await self._scalar(read))
        return found

    async def list_tables(self) -> list[TableInfo]:
        async with self._lock:
            await self._setup()
            return await self._tables()

    async def describe_table(self, table: str) -> TableInfo | None:
        async with self._lock:
            await self._setup()
            found = await self._tables(table)
            return found[0] if found else None

    async def survey(self, tables: list[str] | None, key: list[str] | None) -> Survey:
        async with self._lock:
            await self._setup()
            found, infos = rs.split_catalog(await self.connector.fetch_rows(rs.catalog_sql()))
            remote_id = await self._identity(found)
            if tables is not None:
                wanted = set(tables)
                infos = [i for i in infos if i["name"] in wanted]
            keyed = rs.survey_keys(infos, key)
            entries = [(i, k) for i, k in keyed if k]
            tops = (await self.connector.fetch_rows(rs.tops_sql(entries),
                                                    [i["name"] for i, _ in entries])
                    if entries else [])
            return rs.survey_answer(remote_id, keyed, tops)

    async def create_table(self, table: str, columns: list[ColumnInfo],
                           primary_key: list[str]) -> None:
        async with self._lock:
            await self._setup()
            if not await self._tables(table):
                await self.connector.execute(rs.create_table_sql(table, columns, primary_key))

    async def drop_table(self, table: str) -> bool:
        async with self._lock:
            await self._setup()
            if not await self._tables(table):
                return False
            await self.connector.execute(rs.drop_table_sql(table))
            return True

    async def add_columns(self, table: str, columns: list[ColumnInfo]) -> None:
        async with self._lock:
            await self._setup()
            have = {c["name"] for c in (await self._info(table))["columns"]}
            for c in columns:
                if c["name"] not in have:
                    await self.connector.execute(rs.add_column_sql(table, c))

    # -- change detection ------------------------------------------------------------
    async def bucket_checksums(self, table: str, key: list[str], modulus: int,
                               parent_modulus: int, parents: list[int]) -> bytes:
        async with self._lock:
            await self._setup()
            info = await self._checked(table, key)
            params: list[Any] = [int(modulus)]
            if parents:
                params += [int(parent_modulus), _int_list(parents)]
            hashed = rs.hashed_sql(info, key, bool(parents))
            return await self._one(rs.checksums_sql(hashed, modulus), params)

    async def bucket_hashes(self, table: str, key: list[str], modulus: int,
                            buckets: list[int]) -> bytes:
        async with self._lock:
            await self._setup()
            info = await self._checked(table, key)
            params = [int(modulus), _int_list(buckets)] if buckets else []
            return await self._one(rs.hashed_sql(info, key, bool(buckets)), params)

    async def fetch_rows(self, table: str, key: list[str], keys_ipc: bytes, *,
                         batch_rows: int) -> AsyncIterator[bytes]:
        async with self._lock:
            await self._setup()
            info = await self._checked(table, key)
            await self.connector.ingest_arrow("__ds_keys_raw", keys_ipc)
            await self.connector.execute(rs.keys_table_sql(info, key, "__ds_keys_raw"))
            out = await self._chunks(rs.rows_by_key_sql(info, key), [], batch_rows)
            await self.connector.execute("DROP TABLE IF EXISTS __ds_keys_raw")
        for chunk in out:
            yield chunk

    async def fetch_rows_after(self, table: str, column: str, after: str | None, *,
                               batch_rows: int) -> AsyncIterator[bytes]:
        async with self._lock:
            await self._setup()
            info = await self._info(table)
            if column not in {c["name"] for c in info["columns"]}:
                raise SchemaMismatchError(
                    f"watermark column {column!r} not in remote {table!r}")
            key = info["primary_key"] or [column]
            sql = rs.rows_after_sql(info, key, column, after is not None)
            out = await self._chunks(sql, [after] if after is not None else [], batch_rows)
        for chunk in out:
            yield chunk

    # -- writes ----------------------------------------------------------------------
    async def apply_batch(self, table: str, key: list[str], batch_id: str, ipc: bytes, *,
                          checksum: str | None = None) -> ApplyResult:
        """Like the native store, compact (``verified``) answer included."""
        expected = sb.parse_checksum(checksum)
        async with self._lock:
            await self._setup()
            info = await self._checked(table, key)
            await self.connector.ingest_arrow("__ds_in_raw", ipc)
            try:
                return await self._apply_ingested(info, table, key, batch_id, expected)
            finally:
                for temp in ("__ds_in_raw", "__ds_res"):
                    await self.connector.execute(f"DROP TABLE IF EXISTS {temp}")

    async def _apply_ingested(self, info: TableInfo, table: str, key: list[str],
                              batch_id: str, expected: int | None) -> ApplyResult:
        present = {str(r[0]) for r in await self.connector.fetch_rows("DESCRIBE __ds_in_raw")}
        if not set(_META) <= present or not set(key) <= present:
            raise ProtocolError("batch lacks __ds_op/__ds_expect/__ds_lh or key columns")
        # The bulk test in SQL (the native store asks pyarrow): every row an upsert
        # expected absent.
        n_rows, odd = (await self.connector.fetch_rows(
            "SELECT count(*), count(*) FILTER (WHERE __ds_expect IS NOT NULL OR "
            "__ds_op IS NULL OR __ds_op::VARCHAR <> 'U') FROM __ds_in_raw"))[0]
        casts = rs.casts_sql(info, present)
        if n_rows and not odd:
            out = await self._in_transaction(batch_id, table, int(n_rows),
                                             lambda: self._bulk(info, key, casts, expected))
            if out is not None:
                return out
        out = await self._in_transaction(batch_id, table, int(n_rows),
                                         lambda: self._cas(info, key, casts))
        assert out is not None
        return out

    async def _in_transaction(self, batch_id: str, table: str, n_rows: int,
                              work: Callable[[], Awaitable[_Done | None]]) -> ApplyResult | None:
        """Ledger lookup, ``work`` and the ledger entry in ONE transaction.

        ``work`` fills temp ``__ds_res`` with the answer, or returns the verified
        checksum (compact answer: nothing to fill); ``None``: not applicable, roll back.
        """
        run = self.connector.execute
        await run("BEGIN TRANSACTION")
        try:
            stored = await self._stored(batch_id)
            if stored is not None:
                await run("ROLLBACK")
                return stored
            done = await work()
            if done is None:
                await run("ROLLBACK")
                return None
            await run("INSERT INTO ducksync.ledger VALUES (?, ?, now(), ?)",
                      [batch_id, table, n_rows])
            result = b""
            if done.verified is not None:
                await run("INSERT INTO ducksync.ledger_verified VALUES (?, now(), ?::UBIGINT)",
                          [batch_id, str(done.verified)])
            else:
                result = await self._one("SELECT * FROM __ds_res")
                if not await self._store_rows(table, batch_id):
                    await run("INSERT INTO ducksync.ledger_results VALUES "
                              "(?, now(), from_base64(?))",
                              [batch_id, base64.b64encode(_raw(result)).decode()])
            for sql in rs.prune_sql(await self._rows_tables()):
                await run(sql)
            await run("COMMIT")
        except BaseException:
            await run("ROLLBACK")
            raise
        return {"batch_id": batch_id, "replayed": False, "result": result,
                "verified": done.verified is not None}

    async def _bulk(self, info: TableInfo, key: list[str], casts: str,
                    expected: int | None) -> _Done | None:
        """Inserts expected absent, without CAS joins; see ``NativeRemoteStore._apply_bulk``.

        The "must be absent" check is the database's: the primary key fails the
        INSERT (then the caller rolls back and takes the CAS path); without that key
        only an empty table qualifies. With ``expected`` (the client's predicted
        checksum) equal to ours, the answer is the compact ``verified`` one.
        """
        t = sb.quote_ident(info["name"])
        cols = [c["name"] for c in info["columns"]]
        if list(info["primary_key"]) != list(key):
            if await self._scalar(f"SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT 1)"):
                return None
            if await self._scalar(rs.dup_sql(key, "__ds_in_raw")):
                return None
        try:
            await self.connector.execute(
                f"INSERT INTO {t} ({sb.cols_sql(cols)}) SELECT {casts} FROM __ds_in_raw r")
        except QueryError as exc:
            if "constraint" in str(exc).lower():
                return None  # a key exists (or repeats): the CAS path decides
            raise
        if expected is not None:
            got = await self._scalar(rs.bulk_checksum_sql(info, key, casts, "__ds_in_raw"))
            if got is not None and int(got) == expected:
                return _Done(verified=expected)
        await self.connector.execute("CREATE OR REPLACE TEMP TABLE __ds_res AS "
                                     + rs.bulk_result_sql(info, key, casts, "__ds_in_raw"))
        return _Done()

    async def _cas(self, info: TableInfo, key: list[str], casts: str) -> _Done:
        run = self.connector.execute
        load, (check, *writes), answer = rs.cas_statements(info, key, casts, "__ds_in_raw")
        await run(load)
        rs.refuse_repeated_keys(info["name"], key, (await self.connector.fetch_rows(
            rs.repeated_keys_sql(key, "__ds_in")))[0], in_batch=True)
        await run(check)
        rs.refuse_repeated_keys(info["name"], key, (await self.connector.fetch_rows(
            rs.repeated_keys_sql(key, "__ds_chk")))[0], in_batch=False)
        for sql in writes:
            await run(sql)
        await run("CREATE OR REPLACE TEMP TABLE __ds_res AS " + answer)
        for temp in ("__ds_in", "__ds_chk", "__ds_chk2"):
            await run(f"DROP TABLE {temp}")
        return _Done()

    async def _rows_tables(self) -> list[str]:
        return [str(r[0]) for r in await self.connector.fetch_rows(rs.ROWS_TABLES, [rs.ROWS])]

    async def _store_rows(self, table: str, batch_id: str) -> bool:
        """Keep the answer (``__ds_res``) as rows of ``ducksync."ledger_rows__<table>"``,
        the native store's format for bulk answers (here for every answer: no BLOB to
        bind). False when that table has other columns (the key changed): the caller
        stores a BLOB."""
        target = rs.rows_table(table)
        shape = rs.answer_shape_sql("__ds_res")
        await self.connector.execute(f"CREATE TABLE IF NOT EXISTS {target} AS {shape} LIMIT 0",
                                     [batch_id])
        want = await self.connector.fetch_rows(f"DESCRIBE {shape}", [batch_id])
        have = await self.connector.fetch_rows(f"DESCRIBE {target}")
        if [tuple(r[:2]) for r in want] != [tuple(r[:2]) for r in have]:
            return False
        await self.connector.execute(f"INSERT INTO {target} {shape}", [batch_id])
        await self.connector.execute("INSERT INTO ducksync.ledger_rowsets VALUES (?, now(), ?)",
                                     [batch_id, table])
        return True

    async def _stored(self, batch_id: str) -> ApplyResult | None:
        """The stored answer of a ledger entry (result b"" once acknowledged or
        verified), as a replay; None: never applied."""
        found = await self.connector.fetch_rows(rs.LOOKUP, [batch_id])
        if not found:
            return None
        blob, rows_table, verified = found[0][0], found[0][1], found[0][2]
        if not rows_table:
            result = _raw(blob)
        else:
            result = await self._one(f"SELECT * EXCLUDE (__ds_batch, __ds_at) FROM "
                                     f"{rs.rows_table(str(rows_table))} WHERE __ds_batch = ?",
                                     [batch_id])
        return {"batch_id": batch_id, "replayed": True, "verified": bool(verified),
                "result": result}

    async def batch_result(self, batch_id: str) -> ApplyResult | None:
        async with self._lock:
            await self._setup()
            return await self._stored(batch_id)

    async def ack_batches(self, batch_ids: list[str]) -> None:
        if not batch_ids:
            return
        ids = [str(b) for b in batch_ids]
        listed = "IN (SELECT * FROM (VALUES " + ", ".join("(?)" for _ in ids) + "))"
        among = f"batch_id {listed}"
        run = self.connector.execute
        async with self._lock:
            await self._setup()
            await run("BEGIN TRANSACTION")
            try:
                await run(f"DELETE FROM ducksync.ledger_results WHERE {among}", ids)
                tables = await self.connector.fetch_rows(
                    f"SELECT DISTINCT table_name FROM ducksync.ledger_rowsets WHERE {among}", ids)
                have = set(await self._rows_tables())
                for (name,) in tables:
                    if rs.ROWS + str(name) in have:
                        await run(f"DELETE FROM {rs.rows_table(str(name))} WHERE "
                                  f"__ds_batch {listed}", ids)
                await run(f"DELETE FROM ducksync.ledger_rowsets WHERE {among}", ids)
                await run(f"DELETE FROM ducksync.ledger_verified WHERE {among}", ids)
                await run("COMMIT")
            except BaseException:
                await run("ROLLBACK")
                raise
