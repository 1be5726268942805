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
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ducksync.engine import sqlbuild as sb
from ducksync.engine.store import ApplyResult, ArrowAside, ColumnInfo, PageEnd, Survey, TableInfo
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
from ducksync.stores.connector import ScriptConnector, SqlConnector, StagingConnector, Step

__all__ = ["CatalogMemory", "SqlConnector", "SqlRemoteStore"]

_WHOLE: Final = 1 << 30  # "one chunk" for answers the protocol sends as one IPC stream
_META: Final = ("__ds_op", "__ds_expect", "__ds_lh")
_IN: Final = "__ds_in_raw"
_KEPT: Final = "__ds_kept"  # the batch's rows its scope accepts (when it refuses some)
_TEMPS: Final = ("__ds_res", "__ds_in", "__ds_chk", "__ds_chk2")  # of a write
_APPLIED_MAX: Final = 10_000  # batch ids remembered (with their table) until acknowledged
PRUNE_EVERY_S: Final = 3600.0  # a store prunes the ledger on its first ack, then hourly


@dataclass(frozen=True, kw_only=True)
class _Batch:
    """A staged batch, as inspected: its columns, rows, and how many are not an upsert
    expected absent."""

    present: list[str]
    rows: int
    odd: int


class _Reshaped(Exception):
    """A write's ``reshaped`` guard failed: the table is no longer the shape it used."""


def _raw(data: Any) -> bytes:
    """Python bytes of an answer (a JS ``Uint8Array`` proxy has ``to_bytes``)."""
    to_bytes = getattr(data, "to_bytes", None)
    return bytes(to_bytes() if callable(to_bytes) else data)


@dataclass
class CatalogMemory:
    """What a store knows of the remote's catalog, so a write does not read it again
    (docs/engine.md, "Round trips"): the database's id (from the last catalog read),
    the ledger's tables (None: not read yet) and the user tables' shapes, all from the
    survey or the first need. Only a guess: a write checks the shape it relied on
    inside its transaction (the ``reshaped`` guard) and reads it afresh when it
    changed; a survey's statement returns the catalog too.

    Why an object of its own: a server's pooled stores share one (:meth:`SqlRemoteStore.share`),
    so a store the pool grew for a concurrent request does not read the shape of a
    table another store of the pool just created or wrote (round trips each, on a
    remote far away). Replaced, never cleared in place: a store on another thread
    sees the old shapes or the new ones, not an empty catalog in between."""

    remote_id: str | None = None
    infos: dict[str, TableInfo] = field(default_factory=dict)
    ledger_cols: dict[str, list[tuple[str, str]]] | None = None


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
        self.catalog = CatalogMemory()  # what it knows of the catalog (see there)
        self._applied: dict[str, str] = {}  # batch id → table, until acknowledged
        self._litter: set[str] = set()  # temp tables to drop with the next script
        self._dropped_in = False  # the staged batch was dropped by its write's last script
        self._pruned_at: float | None = None
        self._hash_probe: str | None = None  # asked once (see hash_probe)
        self.scopes: sc.Scopes | None = None

    def share(self, catalog: CatalogMemory) -> None:
        """Know the catalog through ``catalog``, shared with other stores of the same
        database (a server's pool): what one reads or writes, the others know."""
        self.catalog = catalog

    @property
    def _remote_id(self) -> str | None:
        return self.catalog.remote_id

    @_remote_id.setter
    def _remote_id(self, found: str | None) -> None:
        self.catalog.remote_id = found

    @property
    def _ledger_cols(self) -> dict[str, list[tuple[str, str]]] | None:
        return self.catalog.ledger_cols

    @_ledger_cols.setter
    def _ledger_cols(self, cols: dict[str, list[tuple[str, str]]] | None) -> None:
        self.catalog.ledger_cols = cols

    @property
    def _infos(self) -> dict[str, TableInfo]:
        return self.catalog.infos

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
        self._litter.discard(name)  # replaced, not dropped
        if isinstance(self.connector, StagingConnector):
            await self.connector.stage_arrow(name, ipc)
        else:
            await self.connector.ingest_arrow(name, ipc)

    async def _unstage(self, name: str) -> None:
        """Unregister ``name``, or drop its temp table with the next script."""
        if isinstance(self.connector, StagingConnector):
            await self.connector.unstage(name)
        else:
            self._litter.add(name)

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

    # -- scripts: a transaction's statements in as few round trips as possible -------
    def _with_litter(self, steps: list[Step]) -> list[Step]:
        """``steps`` after the drops of temp tables a previous call left (dropped with
        the next script instead of costing round trips of their own)."""
        drops: list[Step] = [(f"DROP TABLE IF EXISTS temp.main.{name}", ())
                             for name in sorted(self._litter)]
        self._litter.clear()
        return drops + steps

    async def _script(self, steps: list[Step], *, rows: bool = True) -> list[tuple[Any, ...]]:
        """Run ``steps`` in one round trip when the connector can (the rows of the
        last, a query when ``rows``), else one by one: the same statements either way."""
        steps = self._with_litter(steps)
        if isinstance(self.connector, ScriptConnector):
            return await self.connector.script(steps)
        for sql, params in steps[:-1] if rows else steps:
            await self.connector.execute(sql, params)
        return await self.connector.fetch_rows(*steps[-1]) if rows else []

    async def _script_one(self, steps: list[Step]) -> bytes:
        """:meth:`_script` whose last step's result comes back as one IPC stream."""
        steps = self._with_litter(steps)
        if isinstance(self.connector, ScriptConnector):
            out = await self.connector.script_arrow(steps, batch_rows=_WHOLE,
                                                    batch_bytes=_WHOLE)
        else:
            for sql, params in steps[:-1]:
                await self.connector.execute(sql, params)
            out = [c async for c in self.connector.export_arrow(
                *steps[-1], batch_rows=_WHOLE, batch_bytes=_WHOLE)]
        if len(out) != 1:
            raise ProtocolError(f"the connector split a single answer into {len(out)} chunks",
                                hint="connectors must honour batch_rows/batch_bytes")
        return out[0]

    # -- the ledger: DDL once, outside data transactions -------------------------------
    async def _ensure_ledger(self) -> None:
        """Create the ledger's tables if any is missing: each DDL in its own
        transaction (a concurrent first contact conflicts on the catalog: retried).
        What exists is known from the survey's catalog, else read here once."""
        if self._ledger_cols is None:
            self._ledger_cols = rs.ledger_from_catalog(
                await self.connector.fetch_rows(rs.LEDGER_CATALOG))
        if not set(rs.LEDGER_TABLES) <= set(self._ledger_cols):
            for ddl in rs.LEDGER_DDL:
                await self._ddl(ddl)
            self._ledger_cols.update({t: [] for t in rs.LEDGER_TABLES})

    async def _ddl(self, ddl: str, then: Step | None = None) -> list[tuple[Any, ...]]:
        """``ddl`` (retried when a concurrent writer conflicts); ``then``: a read of what
        it made, sent in the same round trip, whose rows are returned."""
        attempt = 0
        while True:
            try:
                if then is None:
                    await self.connector.execute(ddl)
                    return []
                return await self._script([(ddl, ()), then])
            except QueryError as exc:
                attempt += 1
                if not rs.is_conflict(exc.message) or attempt >= self.attempts:
                    refused = rs.refused_write(exc)
                    if refused is exc:
                        raise
                    raise refused from exc
            await self._pause(attempt)

    async def _rows_table(self, info: TableInfo, key: list[str]) -> bool:
        """Whether answers for ``(table, key)`` can be kept as rows of
        ``ducksync."ledger_rows__<table>"`` (created here when missing, outside the
        write transaction); False when it exists with other columns (the table's key
        changed): those answers are kept as a BLOB."""
        await self._ensure_ledger()
        assert self._ledger_cols is not None
        want = [(n, t.upper()) for n, t in rs.answer_columns(info, key)]
        name = rs.ROWS + info["name"]
        if not self._ledger_cols.get(name):  # created, and read in the same round trip
            self._ledger_cols[name] = [(str(r[0]), str(r[1]).upper()) for r in await self._ddl(
                rs.rows_table_sql(info, key), then=(f"DESCRIBE {rs.rows_table(info['name'])}", ()))]
        return self._ledger_cols[name] == want

    # -- catalog ---------------------------------------------------------------------
    async def _tables(self, name: str | None = None) -> list[TableInfo]:
        params = [name, name] if name is not None else []
        _, found = rs.split_catalog(
            await self.connector.fetch_rows(rs.tables_sql(name is not None), params))
        self._known(found, everything=name is None)
        if name is not None and not found:
            self._infos.pop(name, None)
        return found

    def prime(self, remote_id: str, infos: list[TableInfo]) -> None:
        """What a previous run learnt of this remote (its id, the shapes of the tables it
        synced), for a store that has read nothing yet: its first survey then takes one
        round trip instead of two (:meth:`_survey_known`). Only a guess: the survey's
        statement returns the catalog too, and a wrong shape costs the second trip."""
        if self._remote_id is None and remote_id and infos:
            self._remote_id = remote_id
            self._known(infos, everything=False)

    def _known(self, infos: list[TableInfo], *, everything: bool) -> None:
        """Remember tables' shapes just read (``everything``: the whole catalog)."""
        self.catalog.infos = {**({} if everything else self.catalog.infos),
                              **{i["name"]: i for i in infos}}

    async def _info(self, table: str) -> TableInfo:
        """The table's shape: as last read (the survey's), else read now."""
        known = self._infos.get(table)
        if known is not None:
            return known
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
        """One statement when the store knows the catalog (:meth:`_survey_known`), else
        two: the catalog with the database's id (``rs.catalog_sql``), then every
        table's checksum (``rs.tops_sql``). On first contact (no id yet) the id is made
        first, as :meth:`remote_id` does, and the catalog read again."""
        async with self._lock:
            await self._setup()
            known = await self._survey_known(tables, key)
            if known is not None:
                return known
            found, infos = await self._catalog()
        if not found:
            found = await self.remote_id()
            async with self._lock:
                _, infos = await self._catalog()
        async with self._lock:
            keyed = self._keyed(infos, tables, key)
            return rs.survey_answer(found, keyed, await self._tops(keyed))

    async def hash_probe(self) -> str | None:
        """This engine's answer to ``sqlbuild.hash_probe_sql`` (``Survey.hash_probe``:
        our server adds it to its survey), when one engine runs every statement (a
        file); None for MotherDuck, where a constant statement may run on the client,
        and when the probe fails. Asked once in the store's life (planning it is not
        free: not for every survey of a short-lived store)."""
        if not self.one_engine:
            return None
        if self._hash_probe is None:
            async with self._lock:
                try:
                    rows = await self.connector.fetch_rows(sb.hash_probe_sql())
                except QueryError:
                    return None
            self._hash_probe = str(rows[0][0])
        return self._hash_probe

    @staticmethod
    def _keyed(infos: list[TableInfo], tables: list[str] | None,
               key: list[str] | None) -> list[tuple[TableInfo, list[str]]]:
        """The wanted tables of ``infos``, each with the key a survey checksums it by."""
        if tables is not None:
            wanted = set(tables)
            infos = [i for i in infos if i["name"] in wanted]
        return rs.survey_keys(infos, key)

    async def _tops(self, keyed: list[tuple[TableInfo, list[str]]],
                    catalog: bool = False) -> list[tuple[Any, ...]]:
        """The rows of ``rs.tops_sql`` for the keyed tables, in one statement
        (``catalog``: inside ``rs.catalog_sql``'s, whose rows are returned)."""
        entries = [(i, k) for i, k in keyed if k]
        names = [i["name"] for i, _ in entries]
        if catalog:
            return await self.connector.fetch_rows(*self._read(
                names, rs.catalog_sql(rs.tops_sql(entries) if entries else ""), names))
        return (await self.connector.fetch_rows(*self._read(names, rs.tops_sql(entries), names))
                if entries else [])

    async def _survey_known(self, tables: list[str] | None,
                            key: list[str] | None) -> Survey | None:
        """The survey in one round trip, for a store that has read the catalog before (a
        server's pooled store, a page's, a long sync): the checksums of the tables as
        last seen, in the catalog's own statement. That statement's catalog says whether
        they still are: if a wanted table changed shape (or appeared), its checksums
        are asked again (a second round trip); if one vanished, the statement fails and
        the survey starts afresh. None: the store has not seen the catalog yet."""
        if self._remote_id is None:
            return None
        guess = self._keyed(list(self._infos.values()), tables, key)
        try:
            rows = await self._tops(guess, catalog=True)
        except QueryError:  # a table or column it checksums is gone (or no ledger)
            self._remote_id = None
            return None
        found, infos = rs.split_catalog(rows)
        if not found:
            self._remote_id = None
            return None
        self._ledger_cols = rs.ledger_from_catalog(rows)
        self._known(infos, everything=True)
        keyed = self._keyed(infos, tables, key)
        same = [(i, k) for i, k in keyed if k] == [(i, k) for i, k in guess if k]
        tops = rs.split_tops(rows) if same else await self._tops(keyed)
        return rs.survey_answer(found, keyed, tops)

    async def _catalog(self) -> tuple[str, list[TableInfo]]:
        """``(the database's id or "" when it has none yet, its tables)``; the tables'
        shapes and the ledger's are remembered for the writes that follow."""
        try:
            rows = await self.connector.fetch_rows(rs.catalog_sql())
        except QueryError as exc:
            if not rs.is_missing(exc.message):  # the ledger's tables do not exist yet
                raise
            return "", await self._tables()
        found, infos = rs.split_catalog(rows)
        self._ledger_cols = rs.ledger_from_catalog(rows)
        self._known(infos, everything=True)
        self._remote_id = found or None
        return found, infos

    async def create_table(self, table: str, columns: list[ColumnInfo],
                           primary_key: list[str]) -> None:
        async with self._lock:
            await self._setup()
            if not await self._tables(table):
                await self._ddl(rs.create_table_sql(table, columns, primary_key))
            self._infos.pop(table, None)

    async def drop_table(self, table: str) -> bool:
        async with self._lock:
            await self._setup()
            if not await self._tables(table):
                return False
            await self.connector.execute(rs.drop_table_sql(table))
            self._infos.pop(table, None)
            return True

    async def add_columns(self, table: str, columns: list[ColumnInfo]) -> None:
        async with self._lock:
            await self._setup()
            self._infos.pop(table, None)  # the columns as they are now
            have = {c["name"] for c in (await self._info(table))["columns"]}
            for c in columns:
                if c["name"] not in have:
                    await self.connector.execute(rs.add_column_sql(table, c))
            self._infos.pop(table, None)

    # -- change detection ------------------------------------------------------------
    async def bucket_checksums(self, table: str, key: list[str], modulus: int,
                               parent_modulus: int, parents: list[int]) -> bytes:
        async with self._lock:
            await self._setup()
            info = await self._checked(table, key)
            params: list[Any] = [int(modulus)]
            if parents:
                params += [int(parent_modulus), sb.bucket_list(parents)]
            hashed = rs.hashed_sql(info, key, bool(parents))
            return await self._one(*self._read([table], rs.checksums_sql(hashed, modulus),
                                               params))

    async def bucket_hashes(self, table: str, key: list[str], modulus: int,
                            buckets: list[int]) -> bytes:
        async with self._lock:
            await self._setup()
            info = await self._checked(table, key)
            params = [int(modulus), sb.bucket_list(buckets)] if buckets else []
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

    async def fetch_rows_after(self, table: str, column: str | list[str],
                               after: str | list[str] | None, *, batch_rows: int,
                               limit: int | None = None, hashes: bool = True,
                               told: PageEnd | None = None) -> AsyncIterator[bytes]:
        cols = [column] if isinstance(column, str) else list(column)
        async with self._lock:
            await self._setup()
            info = await self._info(table)
            missing = [c for c in cols if c not in {c["name"] for c in info["columns"]}]
            if missing or (after is not None and not isinstance(after, str)
                           and len(after) != len(cols)):
                raise SchemaMismatchError(
                    f"watermark column(s) {missing or cols!r} not in remote {table!r} "
                    "(or a cursor of another width)")
            key = info["primary_key"] or cols
            sql = rs.rows_after_sql(info, key, column, after is not None, limit, hashes)
            out = await self._chunks(
                *self._read([table], sql, rs.rows_after_params(after, limit)), batch_rows)
        if told is not None and isinstance(self.connector, ArrowAside):
            told.update(await self._page_end(info, cols, out))
        for chunk in out:
            yield chunk

    async def _page_end(self, info: TableInfo, cols: list[str],
                        chunks: list[bytes]) -> PageEnd:
        """The page's end read from its chunks beside the connection (in this process:
        no statement on the remote, so no round trip to MotherDuck), by the statement
        the bootstrap would run on them (``sqlbuild.page_end_sql``: the same text)."""
        assert isinstance(self.connector, ArrowAside)
        types = {c["name"]: c["type"] for c in info["columns"]}
        n, last = sb.page_end(await self.connector.query_arrow(
            sb.page_end_sql(cols, types, "__ds_page"), "__ds_page", chunks))
        return {"rows": n, "last": last}

    # -- writes ----------------------------------------------------------------------
    async def apply_batch(self, table: str, key: list[str], batch_id: str, ipc: bytes, *,
                          checksum: str | None = None) -> ApplyResult:
        """One transaction: claim, checks, bulk or compare-and-swap, ledger entry, sent
        as few scripts as the data allows (docs/engine.md, "Round trips").

        A batch of inserts expected absent tries the bulk path first; anything that
        makes it inapplicable (a key exists) or a lost transaction retries through
        compare-and-swap, on a fresh snapshot.
        """
        expected = sb.parse_checksum(checksum)
        async with self._lock:
            await self._setup()
            info = await self._checked(table, key)
            await self._ensure_ledger()
            self._dropped_in = False
            await self._stage(_IN, ipc)
            try:
                return await self._apply_staged(info, key, batch_id, expected)
            except QueryError as exc:
                refused = rs.refused_write(exc)
                if refused is exc:
                    raise
                raise refused from exc
            finally:
                if isinstance(self.connector, StagingConnector):
                    await self.connector.unstage(_IN)
                elif not self._dropped_in:  # else with the next script
                    self._litter.add(_IN)

    def _temps(self, *, batch: bool = True) -> list[str]:
        """A write's temp tables (``batch``: with the batch's, when it was ingested)."""
        ingested = batch and not isinstance(self.connector, StagingConnector)
        screened = ("__ds_rej", _KEPT) if self.scopes is not None else ()
        return [*_TEMPS, *screened, *((_IN,) if ingested else ())]

    def _done_with_temps(self) -> list[Step]:
        """Drop a write's temp tables but its answer (``__ds_res``, read last): steps of
        its last script; the answer's goes with the next script (``_litter``)."""
        self._litter.add("__ds_res")
        self._dropped_in = True
        return [(f"DROP TABLE IF EXISTS temp.main.{name}", ())
                for name in self._temps() if name != "__ds_res"]

    async def _inspect(self, key: list[str]) -> _Batch:
        """The staged batch's columns, size and kind, in one statement."""
        try:
            found = await self.connector.fetch_rows(rs.inspect_sql(_IN))
        except QueryError as exc:
            if "binder error" not in exc.message.lower():
                raise
            raise ProtocolError("batch lacks __ds_op/__ds_expect/__ds_lh or key columns",
                                hint=exc.message) from exc
        present = [str(r[0]) for r in found]
        if not set(_META) <= set(present) or not set(key) <= set(present):
            raise ProtocolError("batch lacks __ds_op/__ds_expect/__ds_lh or key columns")
        return _Batch(present=present, rows=int(found[0][1]), odd=int(found[0][2]))

    async def _apply_staged(self, info: TableInfo, key: list[str], batch_id: str,
                            expected: int | None) -> ApplyResult:
        batch = await self._inspect(key)
        source = await self._screen(info, key, rs.casts_sql(info, batch.present))
        # all upserts expected absent (and none refused by the caller's scope)
        bulk = bool(batch.rows) and not batch.odd and source == _IN
        table = info["name"]
        for attempt in range(self.attempts):
            if attempt:
                await self._pause(attempt)
            try:
                out = await self._attempt(info, key, batch_id, batch, expected, bulk, source)
                if out is None:  # the bulk path did not apply: compare-and-swap decides
                    bulk = False
                    out = await self._attempt(info, key, batch_id, batch, expected, bulk, source)
                assert out is not None
                return out
            except _Reshaped:  # the table changed since its shape was read: read it again
                self._infos.pop(table, None)
                info = await self._checked(table, key)
            except QueryError as exc:
                if not rs.is_conflict(exc.message):
                    raise
                if attempt + 1 == self.attempts:
                    raise self._busy(table, exc) from exc
                bulk = False  # lost to another writer: its rows are CAS answers now
        raise RemoteUnavailableError(
            f"remote table {table!r} kept changing shape while a batch was written",
            hint="nothing was written; sync again")

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

    async def _attempt(self, info: TableInfo, key: list[str], batch_id: str, batch: _Batch,
                       expected: int | None, bulk: bool, source: str = _IN
                       ) -> ApplyResult | None:
        """One write transaction; None: the bulk path did not apply (rolled back).
        ``source``: the batch's rows to apply (see :meth:`_screen`); the refused ones
        join the answer."""
        as_rows = await self._rows_table(info, key)  # before: DDL never inside
        table = info["name"]
        casts = rs.casts_sql(info, batch.present)
        begin: list[Step] = [
            ("BEGIN TRANSACTION", ()),
            (rs.CLAIM, [table]),  # first: the snapshot starts here
            (rs.write_guard_sql(), [batch_id, table, table, rs.shape_signature(info)])]
        try:
            out = await (self._bulk(info, key, batch_id, batch, casts, expected, as_rows, begin)
                         if bulk else self._cas(info, key, batch_id, batch, casts, as_rows, begin,
                                       source))
        except QueryError as exc:
            await self._rollback()
            self._litter.update(self._temps(batch=False))  # the batch may be tried again
            self._dropped_in = False
            return await self._failed_check(exc, info, key, batch_id, bulk)
        except BaseException:
            await self._rollback()
            self._litter.update(self._temps(batch=False))
            self._dropped_in = False
            raise
        reached("remote.committed")
        if len(self._applied) > _APPLIED_MAX:
            self._applied.clear()  # acks then clear every rows table (see _ack)
        self._applied[batch_id] = table
        return out

    async def _failed_check(self, exc: QueryError, info: TableInfo, key: list[str],
                            batch_id: str, bulk: bool) -> ApplyResult | None:
        """What a transaction that stopped with ``exc`` means (it is rolled back): a
        guard's verdict (see ``rs.guard_marker``), the bulk path not applying, or an
        error for the caller."""
        marker, detail = rs.guard_marker(exc.message) or ("", "")
        if marker == "replayed":  # applied before: its answer, as stored
            self._litter.update(self._temps())  # dropped with the lookup
            stored = await self._stored(batch_id)
            if stored is not None:
                return stored
        if marker == "reshaped":
            raise _Reshaped
        if marker == "not-bulk" or (bulk and rs.is_constraint(exc.message)):
            return None  # a key exists (or repeats): the CAS path decides
        if marker.startswith("repeated-"):
            n, _, sample = detail.partition(":")
            rs.refuse_repeated_keys(info["name"], key, (int(n), sample),
                                    in_batch=marker == "repeated-batch")
        raise exc

    async def _finish(self, info: TableInfo, batch_id: str, n_rows: int, as_rows: bool,
                      steps: list[Step], *, verified: int | None = None) -> ApplyResult:
        """``steps`` (the rest of the write, leaving the answer in temp ``__ds_res``
        unless ``verified``), the ledger entry and its answer, ``COMMIT``: one script,
        whose last statement reads the answer back."""
        table = info["name"]
        steps = [*steps, ("INSERT INTO ducksync.ledger VALUES (?, ?, now(), ?)",
                          [batch_id, table, n_rows])]
        result = b""
        reached("remote.commit")
        if verified is not None:
            await self._script([*steps, ("INSERT INTO ducksync.ledger_verified VALUES "
                                         "(?, now(), ?::UBIGINT)", [batch_id, str(verified)]),
                                ("COMMIT", ()), *self._done_with_temps()], rows=False)
        elif as_rows:
            result = await self._script_one([
                *steps,
                (f"INSERT INTO {rs.rows_table(table)} {rs.answer_shape_sql('__ds_res')}",
                 [batch_id]),
                ("INSERT INTO ducksync.ledger_rowsets VALUES (?, now(), ?)", [batch_id, table]),
                ("COMMIT", ()), *self._done_with_temps(), ("SELECT * FROM __ds_res", ())])
        else:  # a BLOB (the rows table has another shape): the answer first
            result = await self._script_one([*steps, ("SELECT * FROM __ds_res", ())])
            await self._script([
                ("INSERT INTO ducksync.ledger_results VALUES (?, now(), from_base64(?))",
                 [batch_id, base64.b64encode(_raw(result)).decode()]), ("COMMIT", ()),
                *self._done_with_temps()], rows=False)
        return {"batch_id": batch_id, "replayed": False, "result": result,
                "verified": verified is not None}

    async def _bulk(self, info: TableInfo, key: list[str], batch_id: str, batch: _Batch,
                    casts: str, expected: int | None, as_rows: bool,
                    begin: list[Step]) -> ApplyResult:
        """Inserts expected absent, without CAS joins; a ``not-bulk`` guard or a key
        violation stops it (then the caller takes the CAS path).

        The "must be absent" check is the database's: the primary key fails the
        INSERT; without that key only an empty table qualifies (two writers cannot
        both see it empty: the claim serialises them). With ``expected`` (the
        client's predicted checksum) equal to ours, the answer is the compact
        ``verified`` one.
        """
        t = sb.quote_ident(info["name"])
        cols = [c["name"] for c in info["columns"]]
        steps = list(begin)
        if list(info["primary_key"]) != list(key):
            steps.append((rs.not_bulk_sql(info, key, _IN), ()))
        insert: Step = (f"INSERT INTO {t} ({sb.cols_sql(cols)}) SELECT {casts} FROM {_IN} r", ())
        if self.one_engine:  # hashes from the input cast to the table's types
            if expected is not None:
                got = await self._script([*steps, insert,
                                          (rs.bulk_checksum_sql(info, key, casts, _IN), ())])
                if got and got[0][0] is not None and int(got[0][0]) == expected:
                    return await self._finish(info, batch_id, batch.rows, as_rows, [],
                                              verified=expected)
                steps = []
            else:
                steps.append(insert)
            answer = rs.bulk_result_sql(info, key, casts, _IN)
            return await self._finish(info, batch_id, batch.rows, as_rows, [
                *steps, ("CREATE OR REPLACE TEMP TABLE __ds_res AS " + answer, ())])
        # two engines: the table's checksum after XOR before is the remote's own hashes
        if expected is not None:
            before = await self._script([*steps, (rs.table_checksum_sql(info, key), ())])
            after = await self._script([insert, (rs.table_checksum_sql(info, key), ())])
            if int(after[0][0]) ^ int(before[0][0]) == expected:
                return await self._finish(info, batch_id, batch.rows, as_rows, [],
                                          verified=expected)
            steps = []
        else:
            steps.append(insert)
        answer = rs.bulk_answer_sql(info, key, casts, _IN, rs.scratch_now_sql(info, key))
        return await self._finish(info, batch_id, batch.rows, as_rows, [
            *steps, *self._remote_hashes(info, key, rs.written_sql(casts, _IN)),
            ("CREATE OR REPLACE TEMP TABLE __ds_res AS " + answer, ()),
            (rs.SCRATCH_CLEAR, ())])

    async def _cas(self, info: TableInfo, key: list[str], batch_id: str, batch: _Batch,
                   casts: str, as_rows: bool, begin: list[Step],
                   source: str = _IN) -> ApplyResult:
        """Compare-and-swap, in one script (two engines: with the remote's hashes taken
        before and after the writes, see :meth:`_remote_hashes`)."""
        hashes = None if self.one_engine else rs.scratch_now_sql(info, key)
        load, (check, *writes), answer = rs.cas_statements(info, key, casts, source, hashes)
        steps: list[Step] = [*begin, (load, ()),
                             (rs.repeated_guard_sql(key, "__ds_in", in_batch=True), ())]
        if hashes is not None:  # the current hashes
            steps += self._remote_hashes(info, key, "__ds_in")
        steps += [(check, ()), (rs.repeated_guard_sql(key, "__ds_chk", in_batch=False), ()),
                  *((sql, ()) for sql in writes)]
        if hashes is not None:  # and again after the writes, for the answer
            steps += [(rs.SCRATCH_NOW_CLEAR, ()), (rs.scratch_hashes_sql(info, key), ())]
        steps.append(("CREATE OR REPLACE TEMP TABLE __ds_res AS " + answer, ()))
        if source != _IN:  # the rows the caller's scope refused answer too
            steps.append(("INSERT INTO __ds_res BY NAME SELECT * FROM __ds_rej", ()))
        if hashes is not None:
            steps.append((rs.SCRATCH_CLEAR, ()))
        return await self._finish(info, batch_id, batch.rows, as_rows, steps)

    @staticmethod
    def _remote_hashes(info: TableInfo, key: list[str], source: str) -> list[Step]:
        """Steps that leave the remote's hashes of the rows keyed as in ``source`` in
        the scratch (``rs.scratch_now_sql``): the keys go up as text, then a statement
        over remote tables only hashes the rows (on MotherDuck: on the server, like the
        checksums), so no statement that reads a temp table hashes anything, and the
        numbers never cross the client."""
        return [(rs.scratch_keys_sql(key, source), ()), (rs.scratch_hashes_sql(info, key), ())]

    async def _stored(self, batch_id: str) -> ApplyResult | None:
        """The stored answer of a ledger entry (result b"" once acknowledged or
        verified), as a replay; None: never applied."""
        found = await self._script([(rs.LOOKUP, [batch_id])])
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
        """Drop the acknowledged answers (the ids stay): one script. Answers nobody
        acknowledged for ``LEDGER_KEEP_DAYS`` are pruned in the same transaction, at
        most every ``PRUNE_EVERY_S`` per store (``docs/engine.md``, "Round trips")."""
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
        assert self._ledger_cols is not None
        rows_tables = sorted(n for n in self._ledger_cols if n.startswith(rs.ROWS))
        applied = {self._applied.get(b) for b in ids}
        # the rows tables of the batches this store applied, else every one
        targets = rows_tables if None in applied else sorted(
            rs.ROWS + str(t) for t in applied if rs.ROWS + str(t) in self._ledger_cols)
        prune = (self._pruned_at is None
                 or time.monotonic() - self._pruned_at >= PRUNE_EVERY_S)
        steps: list[Step] = [
            ("BEGIN TRANSACTION", ()),
            (f"DELETE FROM ducksync.ledger_results WHERE {among}", ids),
            *((f"DELETE FROM ducksync.{sb.quote_ident(name)} WHERE __ds_batch {listed}", ids)
              for name in targets),
            (f"DELETE FROM ducksync.ledger_rowsets WHERE {among}", ids),
            (f"DELETE FROM ducksync.ledger_verified WHERE {among}", ids),
            *((sql, ()) for sql in (rs.prune_sql(rows_tables) if prune else [])),
            ("COMMIT", ())]
        try:
            await self._script(steps, rows=False)
        except BaseException:
            await self._rollback()
            raise
        for b in ids:
            self._applied.pop(b, None)
        if prune:
            self._pruned_at = time.monotonic()

    # -- the change feed's read --------------------------------------------------------
    async def table_versions(self) -> dict[str, int]:
        """Each table's version: how many write transactions committed to it through any
        ducksync writer (the claim's count, ``rs.TABLE_VERSIONS``); ``{}`` before the
        first write made the ledger. One statement, whatever the number of tables: the
        change feed asks it every poll (docs/change-feed.md)."""
        async with self._lock:
            await self._setup()
            try:
                rows = await self.connector.fetch_rows(rs.TABLE_VERSIONS)
            except QueryError as exc:
                if rs.is_missing(exc.message):
                    return {}
                raise
        return {str(name): int(n) for name, n in rows}

    async def versions_and_fingerprints(self, synced: Callable[[str], bool] = lambda _: True,
                                        ) -> tuple[dict[str, int], dict[str, str]]:
        """Each table's version (:meth:`table_versions`) and content fingerprint (whole-
        table checksum and rows), from one snapshot: one catalog read, one statement.
        Only tables ``synced`` names, with a primary key (others are not synced)."""
        async with self._lock:
            await self._setup()
            infos = [i for i in await self._tables() if synced(i["name"])]
            entries = [(i, k) for i, k in rs.survey_keys(infos, None) if k]
            names = [i["name"] for i, _ in entries]
            try:
                rows = await self.connector.fetch_rows(rs.fingerprints_sql(entries), names)
            except QueryError as exc:
                if not rs.is_missing(exc.message):
                    raise
                rows = [("f", t, c + ":" + str(n)) for t, c, n in
                        await self.connector.fetch_rows(rs.tops_sql(entries), names)] \
                    if entries else []
        versions = {str(t): int(v) for kind, t, v in rows if kind == "v"}
        return versions, {str(t): str(v) for kind, t, v in rows if kind == "f"}

    async def bump_version(self, table: str) -> None:
        """Count a write nobody announced (another tool's) as one of ``table``'s writes:
        the change feed of every server process then announces it (the claim's own
        statement, alone in its transaction)."""
        async with self._lock:
            await self._setup()
            await self._ensure_ledger()
            await self.connector.execute(rs.CLAIM, [table])
