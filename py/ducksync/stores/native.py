"""Native stores: duckdb + pyarrow in CPython (a DuckDB file, ``:memory:`` or ``md:DB``).

:class:`NativeLocalStore` runs the engine's SQL on the local database.
:class:`NativeRemoteStore` implements the structured :class:`RemoteStore`
operations, building its own SQL from identifiers it checked against the catalog,
so the proxy server can expose it to clients without running their SQL.
duckdb is imported lazily so that ``ducksync --help`` and Pyodide never load it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ducksync.engine import sqlbuild as sb
from ducksync.engine.store import ApplyResult, ColumnInfo, Survey, TableInfo
from ducksync.errors import AuthError, ProtocolError, QueryError, SchemaMismatchError
from ducksync.faults import reached
from ducksync.motherduck_versions import check_client_version
from ducksync.stores import remote_sql as rs

__all__ = ["NativeLocalStore", "NativeRemoteStore", "connect"]

T = TypeVar("T")
LEDGER_KEEP_DAYS = rs.LEDGER_KEEP_DAYS  # unacknowledged results older than this are pruned


def connect(spec: str) -> Any:
    """Open a duckdb connection for a path, ``:memory:`` or ``md:DB`` (token from env)."""
    import duckdb

    check_client_version(spec)
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
    """:class:`ducksync.engine.store.LocalStore` over a native duckdb connection."""

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
                reader = self.con.sql(sql, params=list(params)).to_arrow_reader(batch_rows)
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


@dataclass(frozen=True)
class _Answer:
    """An apply's answer: the per-row IPC (``rows``: the same as an Arrow table, kept as
    rows of the ledger for a bulk batch) or, when ``verified`` holds the checksum, the
    compact one (empty ``result``; only the checksum is kept)."""

    result: bytes
    rows: Any = None
    verified: int | None = None


class NativeRemoteStore(_Native):
    """:class:`ducksync.engine.store.RemoteStore` over a native duckdb connection."""

    _ready = False

    def _setup(self) -> None:
        if self._ready:
            return
        # The ledger tables and their SQL are shared with SqlRemoteStore (remote_sql.py):
        # either store reads the other's entries. A bulk answer is kept as rows of
        # ducksync."ledger_rows__<table>" (a BLOB goes through the WAL and a checkpoint:
        # ~2x the cost); a verified (compact) answer only as its checksum.
        for ddl in rs.LEDGER_DDL:
            self._run(ddl)
        self._ready = True

    async def remote_id(self) -> str:
        return await self._call(self._remote_id)

    def _remote_id(self) -> str:
        self._setup()
        read, create = rs.IDENTITY
        found = str(self._run(read).fetchall()[0][0])
        if not found:
            self._run(create)
            found = str(self._run(read).fetchall()[0][0])
        return found

    # -- catalog -----------------------------------------------------------------------
    def _tables(self, name: str | None = None) -> list[TableInfo]:
        params = [name] if name is not None else []
        cols = self._run(rs.columns_sql(name is not None), params).fetchall()
        pks = self._run(rs.primary_keys_sql(name is not None), params).fetchall()
        return rs.tables_from_catalog(cols, pks)

    def _info(self, table: str) -> TableInfo:
        found = self._tables(table)
        if not found:
            raise rs.no_table(table)
        return found[0]

    def _checked(self, table: str, key: Sequence[str]) -> TableInfo:
        return rs.check_key(self._info(table), key)

    async def list_tables(self) -> list[TableInfo]:
        return await self._call(self._tables)

    async def describe_table(self, table: str) -> TableInfo | None:
        found = await self._call(lambda: self._tables(table))
        return found[0] if found else None

    async def survey(self, tables: list[str] | None, key: list[str] | None) -> Survey:
        return await self._call(lambda: self._survey(tables, key))

    def _survey(self, tables: list[str] | None, key: list[str] | None) -> Survey:
        remote_id = self._remote_id()
        infos = self._tables()
        if tables is not None:
            wanted = set(tables)
            infos = [i for i in infos if i["name"] in wanted]
        keyed = rs.survey_keys(infos, key)
        entries = [(i, k) for i, k in keyed if k]
        tops = (self._run(rs.tops_sql(entries), [i["name"] for i, _ in entries]).fetchall()
                if entries else [])
        return rs.survey_answer(remote_id, keyed, tops)

    async def create_table(
        self, table: str, columns: list[ColumnInfo], primary_key: list[str]
    ) -> None:
        await self._call(lambda: self._create_table(table, columns, primary_key))

    def _create_table(self, table: str, columns: list[ColumnInfo], primary_key: list[str]) -> None:
        if not self._tables(table):
            self._run(rs.create_table_sql(table, columns, primary_key))

    async def add_columns(self, table: str, columns: list[ColumnInfo]) -> None:
        await self._call(lambda: self._add_columns(table, columns))

    async def drop_table(self, table: str) -> bool:
        return bool(await self._call(lambda: self._drop_table(table)))

    def _drop_table(self, table: str) -> bool:
        if not self._tables(table):
            return False
        self._run(rs.drop_table_sql(table))
        return True

    def _add_columns(self, table: str, columns: list[ColumnInfo]) -> None:
        have = {c["name"] for c in self._info(table)["columns"]}
        for c in columns:
            if c["name"] not in have:
                self._run(rs.add_column_sql(table, c))

    # -- change detection ------------------------------------------------------------
    @staticmethod
    def _hashed(info: TableInfo, key: Sequence[str], modulus: int,
                buckets: Sequence[int]) -> tuple[str, list[Any]]:
        """:func:`rs.hashed_sql` and its parameters (all rows when ``buckets`` is empty)."""
        params = [int(modulus), [int(b) for b in buckets]] if buckets else []
        return rs.hashed_sql(info, key, bool(buckets)), params

    async def bucket_checksums(
        self, table: str, key: list[str], modulus: int, parent_modulus: int, parents: list[int]
    ) -> bytes:
        return await self._call(
            lambda: self._bucket_checksums(table, key, modulus, parent_modulus, parents))

    def _bucket_checksums(
        self, table: str, key: list[str], modulus: int, parent_modulus: int, parents: list[int]
    ) -> bytes:
        from ducksync.stores._arrow import to_ipc

        info = self._checked(table, key)
        hashed, params = self._hashed(info, key, parent_modulus, parents)
        sql = rs.checksums_sql(hashed, modulus)
        return to_ipc(self.con.sql(sql, params=[int(modulus), *params]).to_arrow_table())

    # -- the descent's hashes, for a caller that keeps them between levels ---------------
    async def table_hashes(self, table: str, key: list[str], max_rows: int) -> bytes | None:
        """IPC ``(__ds_rk, __ds_rh)`` of every row (16 B a row), None above ``max_rows``.

        Each level of a descent otherwise reads and hashes the whole table again (1M
        rows: 60-95 ms natively, most of a level); a caller that knows the table did
        not change since (the server's read cache) answers the next levels with
        :meth:`checksums_of` instead, the same answer from these hashes.
        """
        return await self._call(lambda: self._table_hashes(table, key, max_rows))

    def _table_hashes(self, table: str, key: list[str], max_rows: int) -> bytes | None:
        from ducksync.stores._arrow import to_ipc

        info = self._checked(table, key)
        rows = self._run(f"SELECT count(*) FROM {sb.quote_ident(info['name'])}").fetchall()
        if rows[0][0] > max_rows:
            return None
        hashed, _ = self._hashed(info, key, 1, [])
        return to_ipc(self.con.sql(f"SELECT __ds_rk, __ds_rh FROM ({hashed})").to_arrow_table())

    async def checksums_of(self, hashes: bytes, modulus: int, parent_modulus: int,
                           parents: list[int]) -> bytes:
        """:meth:`bucket_checksums`, computed from :meth:`table_hashes`' answer."""
        return await self._call(
            lambda: self._checksums_of(hashes, modulus, parent_modulus, parents))

    def _checksums_of(self, hashes: bytes, modulus: int, parent_modulus: int,
                      parents: list[int]) -> bytes:
        from ducksync.stores._arrow import from_ipc, to_ipc

        source, params = "SELECT __ds_rk, __ds_rh FROM __ds_hashes", list[Any]()
        if parents:
            source += " WHERE __ds_rk % ?::UBIGINT IN (SELECT unnest(?::UBIGINT[]))"
            params = [int(parent_modulus), [int(p) for p in parents]]
        self.con.register("__ds_hashes", from_ipc(hashes))
        try:
            sql = rs.checksums_sql(source, modulus)
            return to_ipc(self.con.sql(sql, params=[int(modulus), *params]).to_arrow_table())
        finally:
            self.con.unregister("__ds_hashes")

    async def bucket_hashes(
        self, table: str, key: list[str], modulus: int, buckets: list[int]
    ) -> bytes:
        return await self._call(lambda: self._bucket_hashes(table, key, modulus, buckets))

    def _bucket_hashes(
        self, table: str, key: list[str], modulus: int, buckets: list[int]
    ) -> bytes:
        from ducksync.stores._arrow import to_ipc

        info = self._checked(table, key)
        sql, params = self._hashed(info, key, modulus, buckets)
        return to_ipc(self.con.sql(sql, params=params).to_arrow_table())

    async def fetch_rows(
        self, table: str, key: list[str], keys_ipc: bytes, *, batch_rows: int
    ) -> AsyncIterator[bytes]:
        for chunk in await self._call(lambda: self._fetch_rows(table, key, keys_ipc, batch_rows)):
            yield chunk

    def _fetch_rows(self, table: str, key: list[str], keys_ipc: bytes,
                    batch_rows: int) -> list[bytes]:
        from ducksync.stores._arrow import chunks, from_ipc

        info = self._checked(table, key)
        self.con.register("__ds_keys_raw", from_ipc(keys_ipc))
        try:
            self._run(rs.keys_table_sql(info, key, "__ds_keys_raw"))
        finally:
            self.con.unregister("__ds_keys_raw")
        sql = rs.rows_by_key_sql(info, key)
        return list(chunks(self.con.sql(sql).to_arrow_reader(batch_rows), 64 << 20))

    async def fetch_rows_after(
        self, table: str, column: str, after: str | None, *, batch_rows: int
    ) -> AsyncIterator[bytes]:
        for chunk in await self._call(
                lambda: self._fetch_rows_after(table, column, after, batch_rows)):
            yield chunk

    def _fetch_rows_after(self, table: str, column: str, after: str | None,
                          batch_rows: int) -> list[bytes]:
        from ducksync.stores._arrow import chunks

        info = self._info(table)
        if column not in {c["name"] for c in info["columns"]}:
            raise SchemaMismatchError(f"watermark column {column!r} not in remote {table!r}")
        key = info["primary_key"] or [column]
        sql = rs.rows_after_sql(info, key, column, after is not None)
        params = [after] if after is not None else []
        reader = self.con.sql(sql, params=params).to_arrow_reader(batch_rows)
        return list(chunks(reader, 64 << 20))

    # -- writes ------------------------------------------------------------------------
    async def apply_batch(
        self, table: str, key: list[str], batch_id: str, ipc: bytes, *,
        checksum: str | None = None,
    ) -> ApplyResult:
        expected = sb.parse_checksum(checksum)
        return await self._call(lambda: self._apply_batch(table, key, batch_id, ipc, expected))

    def _apply_batch(self, table: str, key: list[str], batch_id: str, ipc: bytes,
                     expected: int | None) -> ApplyResult:
        from ducksync.stores._arrow import from_ipc

        self._setup()
        info = self._checked(table, key)
        data = from_ipc(ipc)
        present = set(data.schema.names)
        if not {"__ds_op", "__ds_expect", "__ds_lh"} <= present or not set(key) <= present:
            raise ProtocolError("batch lacks __ds_op/__ds_expect/__ds_lh or key columns")
        self.con.register("__ds_in_raw", data)
        try:
            casts = rs.casts_sql(info, present)
            if self._all_inserts(data):
                out = self._in_transaction(batch_id, table, data.num_rows,
                                           lambda: self._apply_bulk(info, key, casts, expected))
                if out is not None:
                    return out
            out = self._in_transaction(batch_id, table, data.num_rows,
                                       lambda: self._apply(info, key, casts))
            assert out is not None
            return out
        finally:
            self.con.unregister("__ds_in_raw")

    def _in_transaction(self, batch_id: str, table: str, n_rows: int,
                        work: Callable[[], _Answer | None]) -> ApplyResult | None:
        """Ledger lookup, ``work`` and the ledger entry in ONE transaction.

        ``work`` returns the answer (see :class:`_Answer`); ``None`` means "not
        applicable here": rolled back, nothing written.
        """
        self._run("BEGIN TRANSACTION")
        try:
            stored = self._stored(batch_id)
            if stored is not None:
                self._run("ROLLBACK")
                return stored
            out = work()
            if out is None:
                self._run("ROLLBACK")
                return None
            self._run("INSERT INTO ducksync.ledger VALUES (?, ?, now(), ?)",
                      [batch_id, table, n_rows])
            if out.verified is not None:
                self._run("INSERT INTO ducksync.ledger_verified VALUES (?, now(), ?)",
                          [batch_id, out.verified])
            elif out.rows is None or not self._store_rows(table, batch_id, out.rows):
                self._run("INSERT INTO ducksync.ledger_results VALUES (?, now(), ?)",
                          [batch_id, out.result])
            self._prune()
            reached("remote.commit")
            self._run("COMMIT")
        except BaseException:
            self._run("ROLLBACK")
            raise
        reached("remote.committed")
        return {"batch_id": batch_id, "replayed": False, "result": out.result,
                "verified": out.verified is not None}

    def _stored(self, batch_id: str) -> ApplyResult | None:
        """The stored answer of a ledger entry (result b"" once acknowledged), as a
        replay; None: never applied."""
        found = self._run(rs.LOOKUP, [batch_id]).fetchall()
        if not found:
            return None
        blob, rows_table, verified = found[0]
        return {"batch_id": batch_id, "replayed": True, "verified": bool(verified),
                "result": self._stored_rows(batch_id, rows_table, blob)}

    def _stored_rows(self, batch_id: str, rows_table: str, blob: bytes) -> bytes:
        from ducksync.stores._arrow import to_ipc

        if not rows_table:
            return bytes(blob or b"")
        target = rs.rows_table(rows_table)
        rows = self.con.sql(f"SELECT * EXCLUDE (__ds_batch, __ds_at) FROM {target} "
                            "WHERE __ds_batch = ?", params=[batch_id]).to_arrow_table()
        return to_ipc(rows)

    def _rows_tables(self) -> list[str]:
        found = self._run(rs.ROWS_TABLES, [rs.ROWS]).fetchall()
        return [r[0] for r in found]

    def _store_rows(self, table: str, batch_id: str, rows: Any) -> bool:
        """Keep a bulk answer as rows of ``ducksync."ledger_rows__<table>"`` (columnar,
        written once, compressed) in the caller's transaction. False when that table
        exists with other columns (the table's key changed): the caller stores a BLOB."""
        target = rs.rows_table(table)
        self.con.register("__ds_answer", rows)
        try:
            shape = rs.answer_shape_sql("__ds_answer")
            self._run(f"CREATE TABLE IF NOT EXISTS {target} AS {shape} LIMIT 0", [batch_id])
            want = self._run(f"DESCRIBE {shape}", [batch_id]).fetchall()
            have = self._run(f"DESCRIBE {target}").fetchall()
            if [r[:2] for r in want] != [r[:2] for r in have]:
                return False
            self._run(f"INSERT INTO {target} {shape}", [batch_id])
            self._run("INSERT INTO ducksync.ledger_rowsets VALUES (?, now(), ?)",
                      [batch_id, table])
            return True
        finally:
            self.con.unregister("__ds_answer")

    def _prune(self) -> None:
        """Drop answers unacknowledged for LEDGER_KEEP_DAYS (the ids stay in the ledger)."""
        for sql in rs.prune_sql(self._rows_tables()):
            self._run(sql)

    @staticmethod
    def _all_inserts(data: Any) -> bool:
        """Every row is an upsert expected absent (``__ds_expect`` NULL): an initial push."""
        import pyarrow.compute as pc  # type: ignore[import-untyped]

        op = data.column("__ds_op")
        return bool(data.num_rows and data.column("__ds_expect").null_count == data.num_rows
                    and op.null_count == 0 and pc.all(pc.equal(op.cast("string"), "U")).as_py())

    def _apply_bulk(self, info: TableInfo, key: list[str], casts: str,
                    expected: int | None) -> _Answer | None:
        """Bulk path for a batch of inserts expected absent: no CAS joins, no temp copy.

        Runs inside the caller's transaction. Still safe against a concurrent writer:
        the "must be absent" expectation is checked by the database at the INSERT
        itself. With ``key`` = the table's primary key, an existing (or repeated) key
        fails the INSERT, the caller rolls the transaction back and takes the CAS
        path; without that primary key only an empty table (checked inside the
        transaction) qualifies. ``None`` = not applicable, caller rolls back.
        With ``expected`` (the client's predicted checksum of the written rows' hashes)
        equal to ours, the answer is the compact ``verified`` one.
        """
        import duckdb

        from ducksync.stores._arrow import to_ipc

        t = sb.quote_ident(info["name"])
        cols = [c["name"] for c in info["columns"]]
        if list(info["primary_key"]) != list(key):
            if self._run(f"SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT 1)").fetchall()[0][0]:
                return None
            if self._run(rs.dup_sql(key, "__ds_in_raw")).fetchall()[0][0]:
                return None
        try:
            self.con.execute(f"INSERT INTO {t} ({sb.cols_sql(cols)}) SELECT {casts} "
                             "FROM __ds_in_raw r")
        except duckdb.ConstraintException:
            return None  # a key exists (or repeats): roll back, then the CAS path decides
        # Hashes from the input cast to the table's types: the same values the table
        # now holds, without reading it back.
        if expected is not None:
            got = self._run(rs.bulk_checksum_sql(info, key, casts, "__ds_in_raw")).fetchall()
            if got[0][0] is not None and int(got[0][0]) == expected:
                return _Answer(b"", verified=expected)
        res = self.con.sql(rs.bulk_result_sql(info, key, casts, "__ds_in_raw")).to_arrow_table()
        return _Answer(to_ipc(res), rows=res)

    def _apply(self, info: TableInfo, key: list[str], casts: str) -> _Answer:
        from ducksync.stores._arrow import to_ipc

        load, (check, *writes), answer = rs.cas_statements(info, key, casts, "__ds_in_raw")
        self._run(load)
        rs.refuse_repeated_keys(info["name"], key, self._run(
            rs.repeated_keys_sql(key, "__ds_in")).fetchall()[0], in_batch=True)
        self._run(check)
        rs.refuse_repeated_keys(info["name"], key, self._run(
            rs.repeated_keys_sql(key, "__ds_chk")).fetchall()[0], in_batch=False)
        for sql in writes:
            self._run(sql)
        res = self.con.sql(answer).to_arrow_table()
        self._run("DROP TABLE __ds_in; DROP TABLE __ds_chk; DROP TABLE __ds_chk2")
        return _Answer(to_ipc(res))

    async def batch_result(self, batch_id: str) -> ApplyResult | None:
        return await self._call(lambda: self._batch_result(batch_id))

    def _batch_result(self, batch_id: str) -> ApplyResult | None:
        self._setup()
        return self._stored(batch_id)

    async def ack_batches(self, batch_ids: list[str]) -> None:
        await self._call(lambda: self._ack_batches(batch_ids))

    def _ack_batches(self, batch_ids: list[str]) -> None:
        self._setup()
        ids = [list(batch_ids)]
        self._run("BEGIN TRANSACTION")
        try:
            self._run("DELETE FROM ducksync.ledger_results WHERE batch_id IN "
                      "(SELECT unnest(?::VARCHAR[]))", ids)
            tables = self._run("SELECT DISTINCT table_name FROM ducksync.ledger_rowsets WHERE "
                               "batch_id IN (SELECT unnest(?::VARCHAR[]))", ids).fetchall()
            have = set(self._rows_tables())
            for (table,) in tables:
                if rs.ROWS + table in have:
                    self._run(f"DELETE FROM {rs.rows_table(table)} WHERE "
                              "__ds_batch IN (SELECT unnest(?::VARCHAR[]))", ids)
            self._run("DELETE FROM ducksync.ledger_rowsets WHERE batch_id IN "
                      "(SELECT unnest(?::VARCHAR[]))", ids)
            self._run("DELETE FROM ducksync.ledger_verified WHERE batch_id IN "
                      "(SELECT unnest(?::VARCHAR[]))", ids)
            self._run("COMMIT")
        except BaseException:
            self._run("ROLLBACK")
            raise
