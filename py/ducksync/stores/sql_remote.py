"""The one :class:`~ducksync.engine.store.RemoteStore`: structured operations as SQL.

Why one: the ledger, compare-and-swap, the bulk path and the answers are the
remote's half of the engine's exactly-once and never-overwrite promises. They were
written twice (a native store and this one for the browser), so every fix had to
be made twice; now they are written once, here, over a
:class:`~ducksync.stores.connector.SqlConnector` (native duckdb, the browser's SQL
service worker over DuckDB-WASM or MotherDuck's WASM client, any future SQL remote).
:class:`~ducksync.stores.native.NativeRemoteStore` is this store on a native
connector, with native-only accelerations as overrides (an Arrow payload
registered instead of copied, the server's kept row hashes).

Pure Python, no duckdb/pyarrow: IPC payloads are handed to the connector and
answers come back from it as opaque objects (in Pyodide: JS ``Uint8Array``s that
are never decoded here). Parameters are scalars only (see the connector's rules).

**Optimistic concurrency** (DuckDB's model, and MotherDuck's; other writers exist:
other servers, notebooks, the MotherDuck UI). Every write transaction first claims
the table's row in ``ducksync.table_writes``, so two ducksync writers of one table
conflict at once; a transaction that loses to any writer (a conflict at a statement
or only at ``COMMIT``) is retried on a fresh snapshot through the compare-and-swap
path, where the other writer's rows become ``'conflict'`` answers: the engine's
``cas_retries``. Never a duplicate, never an error masked by a failing ``ROLLBACK``.
The ledger's DDL runs once, outside any data transaction, and never on a read path.
Design: ``docs/remote-store.md``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ducksync.engine import sqlbuild as sb
from ducksync.engine.store import ApplyResult, ColumnInfo, Survey, TableInfo
from ducksync.errors import (
    DucksyncError,
    ForbiddenError,
    ProtocolError,
    QueryError,
    RemoteUnavailableError,
    SchemaMismatchError,
)
from ducksync.faults import reached
from ducksync.stores import remote_sql as rs
from ducksync.stores import scope as sc
from ducksync.stores.connector import SqlConnector, StagingConnector

__all__ = ["SqlConnector", "SqlRemoteStore"]

_WHOLE: Final = 1 << 30  # "one chunk" for answers the protocol sends as one IPC stream
_META: Final = ("__ds_op", "__ds_expect", "__ds_lh")
_IN: Final = "__ds_in_raw"
_KEPT: Final = "__ds_kept"  # the batch's rows its scope accepts (when it refuses some)


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
    ``chunk_bytes``: the soft cap of a ``fetch_rows*`` chunk. ``attempts``: how
    many transactions a write tries when concurrent writers keep winning, waiting
    ``backoff_s`` · 2^n (with jitter) between them; then ``RemoteUnavailableError``.

    ``scopes``: None, every row of every table (one user, or a trusted caller); else
    the caller's slice of each table (:mod:`ducksync.stores.scope`), set by the server
    for the duration of one request: reads see only those rows, a batch's rows outside
    them are answered ``rejected:*`` and not applied, a table without one is refused.
    """

    def __init__(self, *, connector: SqlConnector, database: str | None = None,
                 chunk_bytes: int = 64 << 20, attempts: int = 6,
                 backoff_s: float = 0.02) -> None:
        self.connector = connector
        self.database = database
        self.chunk_bytes = chunk_bytes  # soft cap of a fetch chunk (a worker wants one)
        self.attempts = attempts
        self.backoff_s = backoff_s
        # One engine runs every statement (a native file): hashes may be computed in
        # statements that read temp tables. Otherwise (MotherDuck: temp tables live
        # on the client) only statements over remote tables compute hashes.
        self.one_engine = bool(getattr(connector, "one_engine", False))
        self._locks: tuple[Any, asyncio.Lock] | None = None
        self._used = False
        self._ledger = False
        self._rows_ok: dict[tuple[str, tuple[tuple[str, str], ...]], bool] = {}
        self.scopes: sc.Scopes | None = None

    # -- the caller's rows (the only place reads are scoped) ----------------------------
    def _scope(self, table: str) -> sc.TableScope | None:
        """The caller's scope of ``table``; None: every row. Refused when scoped
        callers have no rules for it."""
        if self.scopes is None:
            return None
        found = self.scopes.get(table)
        if found is None:
            raise ForbiddenError(f"table {table!r} is not synced for you (no sync rule)",
                                 hint="ask the operator to add it to the sync rules")
        return found

    def _read(self, tables: Sequence[str], sql: str,
              params: Sequence[Any] = ()) -> tuple[str, list[Any]]:
        """A read of ``tables`` over the caller's rows only (see :mod:`.scope`)."""
        if self.scopes is None:
            return sql, list(params)
        for table in tables:
            self._scope(table)
        return sc.scoped_sql(self.scopes, tables, sql, params)

    # -- the connection --------------------------------------------------------------
    @property
    def _lock(self) -> asyncio.Lock:
        """The store's lock for the running event loop: a store outlives a loop (the
        CLI's and the tests' ``asyncio.run`` per call, the server's loop per request),
        and an asyncio lock is bound to the loop that first waited on it."""
        loop = asyncio.get_running_loop()
        if self._locks is None or self._locks[0] is not loop:
            self._locks = (loop, asyncio.Lock())
        return self._locks[1]

    async def _setup(self) -> None:
        if self._used:
            return
        if self.database:
            await self.connector.execute(f"USE {sb.quote_ident(self.database)}")
        self._used = True

    async def _stage(self, name: str, ipc: bytes) -> None:
        """Show ``ipc`` to SQL as ``name``: registered without a copy when the connector
        can (native), else ingested into a temp table."""
        if isinstance(self.connector, StagingConnector):
            await self.connector.stage_arrow(name, ipc)
        else:
            await self.connector.ingest_arrow(name, ipc)

    async def _unstage(self, name: str) -> None:
        if isinstance(self.connector, StagingConnector):
            await self.connector.unstage(name)
        else:
            await self._drop(name)

    async def _drop(self, *temps: str) -> None:
        for name in temps:  # temp.: never a user's table of the same name
            await self.connector.execute(f"DROP TABLE IF EXISTS temp.main.{name}")

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

    async def _rollback(self) -> None:
        """``ROLLBACK``, whose own failure never hides the error being raised: after a
        failed ``COMMIT`` DuckDB has no transaction left ("cannot rollback - no
        transaction is active")."""
        with contextlib.suppress(DucksyncError):
            await self.connector.execute("ROLLBACK")

    async def _pause(self, attempt: int) -> None:
        """Back off before retry ``attempt`` (1, 2, …) so the winner can commit."""
        await asyncio.sleep(self.backoff_s * (2 ** (attempt - 1)) * (0.5 + random.random()))

    def _busy(self, table: str, exc: QueryError) -> RemoteUnavailableError:
        return RemoteUnavailableError(
            f"remote table {table!r} kept being written by another client "
            f"({self.attempts} attempts; last: {exc.message})",
            hint="nothing was written; sync again")

    # -- the ledger: DDL once, outside data transactions -------------------------------
    async def _ensure_ledger(self) -> None:
        """Create the ledger's tables if any is missing: each DDL in its own
        transaction (a concurrent first contact conflicts on the catalog: retried)."""
        if self._ledger:
            return
        if int(await self._scalar(rs.LEDGER_PRESENT) or 0) < len(rs.LEDGER_TABLES):
            for ddl in rs.LEDGER_DDL:
                await self._ddl(ddl)
        self._ledger = True

    async def _ddl(self, ddl: str) -> None:
        for attempt in range(self.attempts):
            try:
                await self.connector.execute(ddl)
                return
            except QueryError as exc:
                if not rs.is_conflict(exc.message) or attempt + 1 == self.attempts:
                    refused = rs.refused_write(exc)
                    if refused is exc:
                        raise
                    raise refused from exc
            await self._pause(attempt + 1)

    async def _rows_table(self, info: TableInfo, key: list[str]) -> bool:
        """Whether answers for ``(table, key)`` can be kept as rows of
        ``ducksync."ledger_rows__<table>"`` (created here when missing, outside the
        write transaction); False when it exists with other columns (the table's key
        changed): those answers are kept as a BLOB."""
        want = tuple(rs.answer_columns(info, key))
        slot = (info["name"], want)
        if slot not in self._rows_ok:
            have = await self._describe(rs.rows_table(info["name"]))
            if have is None:
                await self._ddl(rs.rows_table_sql(info, key))
                have = await self._describe(rs.rows_table(info["name"]))
            self._rows_ok[slot] = have == [(n, t.upper()) for n, t in want]
        return self._rows_ok[slot]

    async def _describe(self, target: str) -> list[tuple[str, str]] | None:
        try:
            rows = await self.connector.fetch_rows(f"DESCRIBE {target}")
        except QueryError as exc:
            if rs.is_missing(exc.message):
                return None
            raise
        return [(str(r[0]), str(r[1]).upper()) for r in rows]

    async def _rows_tables(self) -> list[str]:
        return [str(r[0]) for r in await self.connector.fetch_rows(rs.ROWS_TABLES, [rs.ROWS])]

    # -- catalog ---------------------------------------------------------------------
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

    async def remote_id(self) -> str:
        """The database's id: read (one statement); created only on first contact."""
        read, create = rs.IDENTITY
        async with self._lock:
            await self._setup()
            try:
                found = str(await self._scalar(read))
            except QueryError as exc:
                if not rs.is_missing(exc.message):
                    raise
                found = ""
            if not found:
                await self._ensure_ledger()
                await self._ddl(create)
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
        """Two statements: the catalog with the database's id (``rs.catalog_sql``), then
        every table's checksum (``rs.tops_sql``). On first contact (no id yet) the id is
        made first, as :meth:`remote_id` does, and the catalog read again."""
        async with self._lock:
            await self._setup()
            found, infos = await self._catalog()
        if not found:
            found = await self.remote_id()
            async with self._lock:
                _, infos = await self._catalog()
        async with self._lock:
            if tables is not None:
                wanted = set(tables)
                infos = [i for i in infos if i["name"] in wanted]
            keyed = rs.survey_keys(infos, key)
            entries = [(i, k) for i, k in keyed if k]
            tops = (await self.connector.fetch_rows(*self._read(
                [i["name"] for i, _ in entries], rs.tops_sql(entries),
                [i["name"] for i, _ in entries])) if entries else [])
            return rs.survey_answer(found, keyed, tops)

    async def _catalog(self) -> tuple[str, list[TableInfo]]:
        """``(the database's id or "" when it has none yet, its tables)``."""
        try:
            return rs.split_catalog(await self.connector.fetch_rows(rs.catalog_sql()))
        except QueryError as exc:
            if not rs.is_missing(exc.message):  # the ledger's tables do not exist yet
                raise
            return "", await self._tables()

    async def create_table(self, table: str, columns: list[ColumnInfo],
                           primary_key: list[str]) -> None:
        async with self._lock:
            await self._setup()
            if not await self._tables(table):
                await self._ddl(rs.create_table_sql(table, columns, primary_key))

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
            return await self._one(*self._read([table], rs.checksums_sql(hashed, modulus),
                                               params))

    async def bucket_hashes(self, table: str, key: list[str], modulus: int,
                            buckets: list[int]) -> bytes:
        async with self._lock:
            await self._setup()
            info = await self._checked(table, key)
            params = [int(modulus), _int_list(buckets)] if buckets else []
            return await self._one(*self._read([table], rs.hashed_sql(info, key, bool(buckets)),
                                               params))

    async def fetch_rows(self, table: str, key: list[str], keys_ipc: bytes, *,
                         batch_rows: int) -> AsyncIterator[bytes]:
        async with self._lock:
            await self._setup()
            info = await self._checked(table, key)
            await self._stage("__ds_keys_raw", keys_ipc)
            try:
                if self.one_engine:
                    await self.connector.execute(
                        rs.keys_table_sql(info, key, "__ds_keys_raw"))
                    out = await self._chunks(*self._read([table], rs.rows_by_key_sql(info, key)),
                                             batch_rows)
                    await self._drop("__ds_keys")
                else:  # rows and hashes from statements over the remote table only
                    out = []
                    for params, n in await self._keys(key, "__ds_keys_raw"):
                        out += await self._chunks(
                            *self._read([table], rs.keyed_rows_sql(info, key, n), params),
                            batch_rows)
            finally:
                await self._unstage("__ds_keys_raw")
        for chunk in out:
            yield chunk

    async def _keys(self, key: list[str], source: str) -> list[tuple[list[Any], int]]:
        """The distinct keys of temp ``source`` as bound text parameters, in chunks of
        at most ``KEY_CHUNK`` keys: ``(params, n_keys)`` for :func:`rs.keyed_sql`."""
        rows = await self.connector.fetch_rows(rs.keys_text_sql(key, source))
        out = []
        for start in range(0, len(rows), rs.KEY_CHUNK):
            chunk = rows[start:start + rs.KEY_CHUNK]
            out.append(([None if v is None else str(v) for row in chunk for v in row],
                        len(chunk)))
        return out

    async def _remote_hashes(self, info: TableInfo, key: list[str], source: str,
                             target: str) -> None:
        """Temp ``target`` ``(key…, __ds_rk, __ds_rh)``: the remote's hashes of the rows
        whose keys are in temp ``source``, computed by statements that read the
        remote table only (on MotherDuck: by the server, like the checksums); no
        statement that reads a temp table hashes anything.

        The numbers travel as rows and come back as bound values, not as IPC: this
        runs inside the write transaction, where a connector may not ingest (the
        browser's ingest writes a scratch database, and a transaction writes one
        database). At most a batch's keys, ``KEY_CHUNK`` per statement.
        """
        run = self.connector.execute
        await run(rs.hashes_shape_sql(info, key, target))
        for params, n in await self._keys(key, source):
            found = await self.connector.fetch_rows(rs.keyed_hashes_sql(info, key, n), params)
            if found:
                await run(rs.insert_hashes_sql(info, key, target, len(found)),
                          [None if v is None else str(v) for row in found for v in row])

    async def fetch_rows_after(self, table: str, column: str, after: str | None, *,
                               batch_rows: int, limit: int | None = None
                               ) -> AsyncIterator[bytes]:
        async with self._lock:
            await self._setup()
            info = await self._info(table)
            if column not in {c["name"] for c in info["columns"]}:
                raise SchemaMismatchError(
                    f"watermark column {column!r} not in remote {table!r}")
            key = info["primary_key"] or [column]
            sql = rs.rows_after_sql(info, key, column, after is not None, limit)
            out = await self._chunks(
                *self._read([table], sql, [after] if after is not None else []), batch_rows)
        for chunk in out:
            yield chunk

    # -- writes ----------------------------------------------------------------------
    async def apply_batch(self, table: str, key: list[str], batch_id: str, ipc: bytes, *,
                          checksum: str | None = None) -> ApplyResult:
        """One transaction: claim, ledger lookup, bulk or compare-and-swap, ledger entry.

        A batch of inserts expected absent tries the bulk path first; anything that
        makes it inapplicable (a key exists) or a lost transaction retries through
        compare-and-swap, on a fresh snapshot.
        """
        expected = sb.parse_checksum(checksum)
        async with self._lock:
            await self._setup()
            info = await self._checked(table, key)
            await self._ensure_ledger()
            as_rows = await self._rows_table(info, key)
            await self._stage(_IN, ipc)
            try:
                return await self._apply_staged(info, key, batch_id, expected, as_rows)
            except QueryError as exc:
                refused = rs.refused_write(exc)
                if refused is exc:
                    raise
                raise refused from exc
            finally:
                await self._unstage(_IN)
                await self._drop("__ds_res", "__ds_now", "__ds_rej", _KEPT)

    async def _apply_staged(self, info: TableInfo, key: list[str], batch_id: str,
                            expected: int | None, as_rows: bool) -> ApplyResult:
        present = {str(r[0]) for r in await self.connector.fetch_rows(f"DESCRIBE {_IN}")}
        if not set(_META) <= present or not set(key) <= present:
            raise ProtocolError("batch lacks __ds_op/__ds_expect/__ds_lh or key columns")
        # every row an upsert expected absent: the bulk path may apply
        n_rows, odd = (await self.connector.fetch_rows(
            "SELECT count(*), count(*) FILTER (WHERE __ds_expect IS NOT NULL OR "
            f"__ds_op IS NULL OR __ds_op::VARCHAR <> 'U') FROM {_IN}"))[0]
        casts = rs.casts_sql(info, present)
        source = await self._screen(info, key, casts)
        bulk = bool(n_rows) and not odd and source == _IN
        for attempt in range(self.attempts):
            if attempt:
                await self._pause(attempt)
            try:
                out = await self._attempt(info, key, batch_id, int(n_rows), casts,
                                          expected, as_rows, bulk, source)
                if out is None:  # the bulk path did not apply: compare-and-swap decides
                    bulk = False
                    out = await self._attempt(info, key, batch_id, int(n_rows), casts,
                                              expected, as_rows, bulk, source)
                assert out is not None
                return out
            except QueryError as exc:
                if not rs.is_conflict(exc.message):
                    raise
                if attempt + 1 == self.attempts:
                    raise self._busy(info["name"], exc) from exc
                bulk = False  # lost to another writer: its rows are CAS answers now
        raise AssertionError("unreachable")

    async def _screen(self, info: TableInfo, key: list[str], casts: str) -> str:
        """The staged batch's rows the caller's scope accepts: ``_IN`` (all of them, or
        no scope), else temp ``_KEPT``, with the refused ones in temp ``__ds_rej``
        (their answers). Before the write transaction, and atomic enough: a refused
        row is judged on its current remote row and its new values; an accepted one
        is still written only if its remote row's hash is the one the client
        expected (compare-and-swap), so a row moved out of scope meanwhile (its hash
        moved with it) is a conflict, never a write."""
        scope = self._scope(info["name"])
        if scope is None:
            return _IN
        run = self.connector.execute
        sql, params = sc.rejections_sql(info, key, scope, _IN, casts)
        await run("CREATE OR REPLACE TEMP TABLE __ds_rej AS " + sql, params)
        if not int(await self._scalar("SELECT count(*) FROM __ds_rej") or 0):
            return _IN
        types = {c["name"]: c["type"] for c in info["columns"]}
        same = " AND ".join(f"CAST(r.{sb.quote_ident(k)} AS {types[k]}) = j.{sb.quote_ident(k)}"
                            for k in key)
        await run(f"CREATE OR REPLACE TEMP TABLE {_KEPT} AS SELECT r.* FROM {_IN} r "
                  f"ANTI JOIN __ds_rej j ON {same}")
        return _KEPT

    async def _attempt(self, info: TableInfo, key: list[str], batch_id: str, n_rows: int,
                       casts: str, expected: int | None, as_rows: bool,
                       bulk: bool, source: str = _IN) -> ApplyResult | None:
        """One write transaction; None: the bulk path did not apply (rolled back).
        ``source``: the batch's rows to apply (see :meth:`_screen`); the refused ones
        join the answer."""
        run, table = self.connector.execute, info["name"]
        await run("BEGIN TRANSACTION")
        try:
            await run(rs.CLAIM, [table])  # first: the snapshot starts here
            stored = await self._stored(batch_id)
            if stored is not None:
                await self._rollback()
                return stored
            done = await (self._bulk(info, key, casts, expected) if bulk
                          else self._cas(info, key, casts, source))
            if done is None:
                await self._rollback()
                return None
            await run("INSERT INTO ducksync.ledger VALUES (?, ?, now(), ?)",
                      [batch_id, table, n_rows])
            result = b""
            if done.verified is not None:
                await run("INSERT INTO ducksync.ledger_verified VALUES (?, now(), ?::UBIGINT)",
                          [batch_id, str(done.verified)])
            else:
                if source != _IN:
                    await run("INSERT INTO __ds_res BY NAME SELECT * FROM __ds_rej")
                result = await self._one("SELECT * FROM __ds_res")
                await self._keep_answer(table, batch_id, result, as_rows)
            reached("remote.commit")
            await run("COMMIT")
        except BaseException:
            await self._rollback()
            raise
        reached("remote.committed")
        return {"batch_id": batch_id, "replayed": False, "result": result,
                "verified": done.verified is not None}

    async def _keep_answer(self, table: str, batch_id: str, result: Any, as_rows: bool) -> None:
        """The answer's durable copy, in the caller's transaction: rows of
        ``ducksync."ledger_rows__<table>"`` (columnar; a BLOB goes through the WAL and
        a checkpoint: ~2x the cost), or a BLOB when the rows table has another shape."""
        run = self.connector.execute
        if as_rows:
            await run(f"INSERT INTO {rs.rows_table(table)} "
                      f"{rs.answer_shape_sql('__ds_res')}", [batch_id])
            await run("INSERT INTO ducksync.ledger_rowsets VALUES (?, now(), ?)",
                      [batch_id, table])
        else:
            await run("INSERT INTO ducksync.ledger_results VALUES (?, now(), from_base64(?))",
                      [batch_id, base64.b64encode(_raw(result)).decode()])

    async def _bulk(self, info: TableInfo, key: list[str], casts: str,
                    expected: int | None) -> _Done | None:
        """Inserts expected absent, without CAS joins; None: not applicable here.

        The "must be absent" check is the database's: the primary key fails the
        INSERT (then the caller rolls back and takes the CAS path); without that key
        only an empty table qualifies (two writers cannot both see it empty: the
        claim serialises them). With ``expected`` (the client's predicted checksum)
        equal to ours, the answer is the compact ``verified`` one.
        """
        t = sb.quote_ident(info["name"])
        cols = [c["name"] for c in info["columns"]]
        if list(info["primary_key"]) != list(key):
            if await self._scalar(f"SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT 1)"):
                return None
            if await self._scalar(rs.dup_sql(key, _IN)):
                return None
        before = 0
        if expected is not None and not self.one_engine:
            before = int(await self._scalar(rs.table_checksum_sql(info, key)))
        try:
            await self.connector.execute(
                f"INSERT INTO {t} ({sb.cols_sql(cols)}) SELECT {casts} FROM {_IN} r")
        except QueryError as exc:
            if rs.is_constraint(exc.message):
                return None  # a key exists (or repeats): the CAS path decides
            raise
        if expected is not None:
            if self.one_engine:  # hashes from the input cast to the table's types
                got = await self._scalar(rs.bulk_checksum_sql(info, key, casts, _IN))
            else:  # the table's checksum after XOR before: the remote's own hashes
                got = int(await self._scalar(rs.table_checksum_sql(info, key))) ^ before
            if got is not None and int(got) == expected:
                return _Done(verified=expected)
        if self.one_engine:
            answer = rs.bulk_result_sql(info, key, casts, _IN)
        else:
            await self._remote_hashes(info, key, _IN, "__ds_now")
            answer = rs.bulk_answer_sql(info, key, casts, _IN, "__ds_now")
        await self.connector.execute("CREATE OR REPLACE TEMP TABLE __ds_res AS " + answer)
        return _Done()

    async def _cas(self, info: TableInfo, key: list[str], casts: str,
                   source: str = _IN) -> _Done:
        run = self.connector.execute
        hashes = None if self.one_engine else "__ds_now"
        load, (check, *writes), answer = rs.cas_statements(info, key, casts, source, hashes)
        await run(load)
        rs.refuse_repeated_keys(info["name"], key, (await self.connector.fetch_rows(
            rs.repeated_keys_sql(key, "__ds_in")))[0], in_batch=True)
        if hashes:  # the current hashes, from the remote (see _remote_hashes)
            await self._remote_hashes(info, key, "__ds_in", hashes)
        await run(check)
        rs.refuse_repeated_keys(info["name"], key, (await self.connector.fetch_rows(
            rs.repeated_keys_sql(key, "__ds_chk")))[0], in_batch=False)
        for sql in writes:
            await run(sql)
        if hashes:  # and again after the writes, for the answer
            await self._remote_hashes(info, key, "__ds_in", hashes)
        await run("CREATE OR REPLACE TEMP TABLE __ds_res AS " + answer)
        await self._drop("__ds_in", "__ds_chk", "__ds_chk2")
        return _Done()

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
        """A read: no ledger yet means the batch was never applied."""
        async with self._lock:
            await self._setup()
            try:
                return await self._stored(batch_id)
            except QueryError as exc:
                if rs.is_missing(exc.message):
                    return None
                raise

    async def ack_batches(self, batch_ids: list[str]) -> None:
        """Drop the acknowledged answers (the ids stay) and prune answers nobody
        acknowledged for ``LEDGER_KEEP_DAYS``: once per push, not per batch."""
        if not batch_ids:
            return
        ids = [str(b) for b in batch_ids]
        async with self._lock:
            await self._setup()
            await self._ensure_ledger()
            for attempt in range(self.attempts):
                if attempt:
                    await self._pause(attempt)
                try:
                    await self._ack(ids)
                    return
                except QueryError as exc:
                    if not rs.is_conflict(exc.message):
                        raise
                    if attempt + 1 == self.attempts:
                        raise self._busy("ducksync.ledger", exc) from exc

    async def _ack(self, ids: list[str]) -> None:
        listed = "IN (SELECT * FROM (VALUES " + ", ".join("(?)" for _ in ids) + "))"
        among = f"batch_id {listed}"
        run = self.connector.execute
        await run("BEGIN TRANSACTION")
        try:
            await run(f"DELETE FROM ducksync.ledger_results WHERE {among}", ids)
            tables = await self.connector.fetch_rows(
                f"SELECT DISTINCT table_name FROM ducksync.ledger_rowsets WHERE {among}", ids)
            have = await self._rows_tables()
            for (name,) in tables:
                if rs.ROWS + str(name) in have:
                    await run(f"DELETE FROM {rs.rows_table(str(name))} WHERE "
                              f"__ds_batch {listed}", ids)
            await run(f"DELETE FROM ducksync.ledger_rowsets WHERE {among}", ids)
            await run(f"DELETE FROM ducksync.ledger_verified WHERE {among}", ids)
            for sql in rs.prune_sql(have):
                await run(sql)
            await run("COMMIT")
        except BaseException:
            await self._rollback()
            raise

