"""The two store interfaces the sync engine drives; the engine itself does no I/O.

Why two shapes:

* :class:`LocalStore` is the engine's *own* database (native duckdb in the CLI,
  DuckDB-WASM in the browser). The engine keeps its state there (schema
  ``ducksync``) and does all row-level work there as SQL, so it may run SQL.
* :class:`RemoteStore` is the other side (a file, MotherDuck, or our proxy server
  over HTTP). A server must never run client-supplied SQL, so the remote offers
  *structured* operations only. Every argument is plain data (``str``, ``int``,
  ``list``, ``dict``, ``bytes``) and every result is plain data or Arrow IPC, so a
  transport can expose each method 1:1 as an endpoint. Implementations validate
  table and column names against the catalog and build their own SQL.

Both are ``async`` because in the browser the remote sits behind a MessagePort or
HTTP, and the local DuckDB-WASM answers asynchronously too.

Conventions shared by all implementations:

* **Arrow IPC**: ``bytes`` arguments and results marked *IPC* are one complete
  Arrow IPC *stream* (schema + batches + end marker), so every chunk can be read
  on its own. Producers must export lossless types (duckdb: ``SET
  arrow_lossless_conversion = true``); consumers ``CAST`` columns to the target
  table's types, so HUGEINT, UUID, ENUM… survive. Payloads may be wrapped by
  :mod:`ducksync.engine.codec` (gzip/zstd); consumers accept both.
* **Hashes** (remote side): ``__ds_rk`` is the remote's hash of the key columns
  and ``__ds_rh`` the remote's row hash, both ``UBIGINT`` from
  :func:`ducksync.engine.sqlbuild.row_hash_sql` / ``key_hash_sql``. The engine
  never compares them with local hashes, only with earlier remote hashes.
* **Buckets**: bucket of a row at modulus ``m`` is ``__ds_rk % m``.
  ``checksum`` of a bucket is ``bit_xor(mix(mix(rk) XOR rh))`` over its rows (see
  :func:`ducksync.engine.sqlbuild.checksum_sql`): pure integer arithmetic, so
  the local side recomputes it from its stored remote hashes exactly. A remote
  running an older formula makes every bucket differ: extra transfer, never a
  wrong merge.
* **Bulk batches**: a batch whose rows are all ``'U'`` with ``__ds_expect`` NULL
  (the engine's initial push into an empty remote table) may be applied by a
  faster path (no CAS joins), but the "must be absent" check still happens inside
  the same transaction (native: the table's primary key at the INSERT, or an
  empty table): a key that exists by then is a ``'conflict'``, as always.
* **Optional methods**: none. The engine uses only the methods below, and
  ``max_body_bytes`` of a store that is :class:`BodyLimited`.
* **Errors**: raise :mod:`ducksync.errors` types. ``RemoteUnavailableError``
  means "nothing happened or unknown, retry later"; the engine is safe either
  way because batches are idempotent (ledger) and state advances only after an
  acknowledged result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, Protocol, TypedDict, runtime_checkable

__all__ = ["ApplyResult", "ArrowAside", "BodyLimited", "CleanMark", "ColumnInfo", "LocalStore",
           "PageEnd", "RemoteStore", "Survey", "SurveyedTable", "TableInfo", "WriteTracked"]


class ColumnInfo(TypedDict):
    """One column: DuckDB type string as the catalog prints it (``DECIMAL(18,3)``)."""

    name: str
    type: str
    nullable: bool


class TableInfo(TypedDict):
    """A table's shape: columns in order and the declared primary key (maybe empty)."""

    name: str
    columns: list[ColumnInfo]
    primary_key: list[str]


class SurveyedTable(TypedDict):
    """One table in a :class:`Survey`: its shape and its whole-table checksum.

    ``key`` is the key the checksum was computed with (the one asked for, else the
    table's primary key); empty, with ``checksum`` ``"0"`` and ``rows`` 0, when the
    table has no usable key. ``checksum`` is decimal text: a UBIGINT does not survive
    JSON in JavaScript.
    """

    info: TableInfo
    key: list[str]
    checksum: str
    rows: int


class Survey(TypedDict):
    """What a sync needs to know of the remote before touching any table, in one answer.

    ``max_body_bytes``: the request body limit of a remote that has one (our server),
    so that :class:`BodyLimited` needs no call of its own.

    ``hash_probe``: the remote engine's answer to
    :func:`ducksync.engine.sqlbuild.hash_probe_sql`, from our server over a file (a
    long-lived process asks its engine once; not over MotherDuck, which may run a
    constant statement on the client). Equal to the local engine's answer, both hash
    the probed types alike: a bootstrap then computes the remote's hashes of the rows
    it receives instead of receiving them (``fetch_rows_after(hashes=False)``)."""

    remote_id: str
    tables: list[SurveyedTable]
    max_body_bytes: NotRequired[int | None]
    hash_probe: NotRequired[str | None]


class ApplyResult(TypedDict):
    """What the remote answers to :meth:`RemoteStore.apply_batch`.

    ``result`` is IPC with one row per input row: the key columns, ``__ds_lh``
    (echoed from the input), ``__ds_status`` (``'ok'`` applied, ``'conflict'``
    compare-and-swap failed, nothing written), ``__ds_rk`` and ``__ds_rh`` (the
    remote's hashes after the write; NULL for deletes and conflicts; for a
    conflict ``__ds_rh`` is the *current* remote hash or NULL if absent).
    ``replayed`` is true when the batch id was already in the ledger: nothing was
    written now and ``result`` is the stored answer of the first application.

    ``verified`` (the *compact* answer, see :meth:`RemoteStore.apply_batch`'s
    ``checksum``): every row was applied and the remote's hashes of the written rows
    have exactly the checksum the client predicted, so ``result`` is empty and the
    client records its own predicted hashes. Absent or false: ``result`` is the full
    per-row answer (or empty once acknowledged).
    """

    batch_id: str
    replayed: bool
    result: bytes
    verified: NotRequired[bool]


class PageEnd(TypedDict, total=False):
    """What a remote tells of a keyset page with it (:meth:`RemoteStore.fetch_rows_after`'s
    ``told``): ``rows`` in the page and ``last``, its largest key as the cursor's text
    (:func:`ducksync.engine.sqlbuild.page_end`; None when the page is empty). Empty: the
    remote cannot tell (an older server, MotherDuck straight from the page), and the
    caller reads the page itself."""

    rows: int
    last: str | None


class LocalStore(Protocol):
    """The engine's own database. SQL is allowed; results are small or Arrow.

    All statements run on one connection, so ``BEGIN``/``COMMIT`` given to
    :meth:`execute` delimit a transaction and temp tables persist between calls.
    """

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement with bound ``?`` parameters; results are discarded."""
        ...

    async def fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query and return its rows as tuples (SQL NULL as None). Small metadata only."""
        ...

    def export_arrow(
        self, sql: str, params: Sequence[Any] = (), *, batch_rows: int, batch_bytes: int
    ) -> AsyncIterator[bytes]:
        """Yield the query result as IPC chunks of at most ``batch_rows`` rows.

        ``batch_bytes`` is a soft cap: a chunk is closed once it exceeds it.
        Always yields at least one chunk (an empty result still carries its schema).
        """
        ...

    async def ingest_arrow(self, table: str, ipc: bytes, *, append: bool = False) -> None:
        """Load IPC into the *temp* table ``table`` (created or replaced, or appended to)."""
        ...

    # -- files for DuckDB's own readers and writers (backup: CSV bundles) -------------
    # ``{file}`` in ``sql`` stands for a scratch file, replaced by its path as a quoted
    # SQL string. The store owns the file (native: a temp file; DuckDB-WASM: a name
    # used with ``registerFileBuffer`` / ``copyFileToBuffer``) and removes it after.

    async def copy_out(self, sql: str) -> bytes:
        """Run ``sql`` (which writes ``{file}``, e.g. ``COPY (…) TO {file} (FORMAT csv)``);
        return the file's bytes."""
        ...

    async def copy_in(self, sql: str, data: bytes) -> None:
        """Expose ``data`` as ``{file}`` and run ``sql`` (which reads it, e.g.
        ``INSERT INTO t SELECT * FROM read_csv({file}, …)``)."""
        ...


@dataclass(frozen=True)
class CleanMark:
    """What the engine proved about a table at the end of a sync (see WriteTracked)."""

    token: str  # the write token read when the sync started
    # The base's remote-hash checksum ``(checksum, rows)`` when that sync left the base
    # untouched (it compared it with the remote's and changed nothing), else None.
    base_top: tuple[int, int] | None = None


@runtime_checkable
class WriteTracked(Protocol):
    """Optional, on a :class:`LocalStore` that is told of every write but the engine's
    own (the browser's local worker: ``ducksync.worker.write_clock``).

    ``write_token()`` changes whenever such a write starts or ends and is None while
    one runs; ``clean[table]`` is where the engine keeps the token at which it last
    proved ``table`` equal to its base (:class:`CleanMark`). The same token later proves
    that nothing but the engine wrote since, so the table need not be hashed (nor the
    base, when the mark carries its checksum). A native file has other writers the
    engine never hears of: its store is not ``WriteTracked``.
    """

    clean: dict[str, CleanMark]

    def write_token(self) -> str | None:
        ...


@runtime_checkable
class ArrowAside(Protocol):
    """Optional, on a :class:`LocalStore` that can query IPC chunks away from its database
    connection (native: a second connection, a cursor, to the same database), so the
    query waits for no statement running there. A bootstrap reads a page's last key this
    way as the page arrives and asks for the next page at once, instead of after the page
    before it has committed and this one has been loaded into the database
    (engine/bootstrap.py), when the remote did not tell it with the page. A store
    without it (DuckDB-WASM: one connection) then loads the page first.
    """

    async def query_arrow(self, sql: str, name: str,
                          chunks: Sequence[bytes]) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` (small: an aggregate), which reads ``chunks`` (IPC
        streams of one schema) as the relation ``name``."""
        ...


@runtime_checkable
class BodyLimited(Protocol):
    """Optional, on a :class:`RemoteStore` that refuses requests above a size (our
    server over HTTP: ``DUCKSYNC_MAX_BODY_BYTES``); see :mod:`ducksync.engine.limits`.

    ``max_body_bytes()`` is that limit in bytes (None: none). The store refuses a
    larger body itself, before sending it, with a ``PayloadTooLargeError``.
    """

    async def max_body_bytes(self) -> int | None:
        ...


class RemoteStore(Protocol):
    """The other side, as structured operations. Names are validated by the store."""

    async def remote_id(self) -> str:
        """A stable id of the remote *database* (a UUID the store keeps in it, made on
        first use), whichever way it is reached (proxy or direct).

        The engine keeps each table's base for one remote database: a base built
        against another one would read that database's rows as deletions here.
        """
        ...

    async def list_tables(self) -> list[TableInfo]:
        """Every user table (schema ``main``) with its columns and primary key."""
        ...

    async def survey(self, tables: list[str] | None, key: list[str] | None) -> Survey:
        """:meth:`remote_id`, then the shape and whole-table checksum (``bucket_checksums``
        at modulus 1) of ``tables`` (None: every table of :meth:`list_tables`), in ONE
        call: a no-op sync of any number of tables is this call alone, where a call per
        table and per question cost a round trip each (a cloud remote is tens of ms away).

        ``key``: the key to checksum every table with (``--key``); None: each table's
        primary key. Tables that do not exist are absent from the answer.
        """
        ...

    async def describe_table(self, table: str) -> TableInfo | None:
        """The table's shape, or ``None`` when it does not exist."""
        ...

    async def create_table(
        self, table: str, columns: list[ColumnInfo], primary_key: list[str]
    ) -> None:
        """Create the table (no-op if it exists with the same shape). Types are validated."""
        ...

    async def add_columns(self, table: str, columns: list[ColumnInfo]) -> None:
        """Add nullable columns (existing ones with the same type are skipped)."""
        ...

    async def drop_table(self, table: str) -> bool:
        """Drop the table; False when it did not exist. Only the explicit "drop
        everywhere" (``engine/drop.py``) calls it: a sync never drops anything."""
        ...

    async def bucket_checksums(
        self, table: str, key: list[str], modulus: int, parent_modulus: int, parents: list[int]
    ) -> bytes:
        """IPC ``(bucket UBIGINT, checksum UBIGINT, n BIGINT)`` of non-empty buckets.

        ``bucket`` and ``n`` may be sent as narrower integer types (the native store
        uses UINTEGER: 16 bytes per bucket instead of 24); consumers cast.
        ``modulus == 1`` is the whole-table checksum the engine asks first.

        Buckets are ``__ds_rk % modulus``; only rows whose ``__ds_rk %
        parent_modulus`` is in ``parents`` count (``parents == []``: all rows).
        """
        ...

    async def bucket_hashes(
        self, table: str, key: list[str], modulus: int, buckets: list[int]
    ) -> bytes:
        """IPC ``(key columns…, __ds_rk, __ds_rh)`` of the rows in ``buckets``.

        A row is in bucket ``__ds_rk % modulus``; ``buckets == []`` means every row
        (used when most buckets differ).
        """
        ...

    def fetch_rows(
        self, table: str, key: list[str], keys_ipc: bytes, *, batch_rows: int
    ) -> AsyncIterator[bytes]:
        """Yield IPC chunks of full rows (all columns, then ``__ds_rk``, ``__ds_rh``).

        ``keys_ipc`` holds the wanted key columns; absent keys are simply missing.
        """
        ...

    def fetch_rows_after(
        self, table: str, column: str | list[str], after: str | list[str] | None, *,
        batch_rows: int, limit: int | None = None, hashes: bool = True,
        told: PageEnd | None = None,
    ) -> AsyncIterator[bytes]:
        """Rows with ``column > CAST(after AS column's type)`` (the append-only fast path).

        ``after is None`` means every row. Same columns as :meth:`fetch_rows`;
        ``hashes=False``: the table's columns only, no ``__ds_rk``/``__ds_rh`` (16
        bytes a row that do not compress, for a caller that computes them).
        ``limit``: only the ``limit`` rows with the smallest ``column`` values (keyset
        pages: the bootstrap asks for the next page after the last key it holds).
        A list of columns (a composite key's pages) orders by all of them and
        ``after`` is then the tuple's text, one per column: rows above it.

        ``told``: filled, by a store that can, with the page's :class:`PageEnd` before
        its last chunk is yielded, read from the rows it is about to send (no other
        statement, no other round trip): the bootstrap then asks for the next page the
        moment this one arrives, without loading it first. Left empty by one that
        cannot; the caller must work either way.
        """
        ...

    async def apply_batch(
        self, table: str, key: list[str], batch_id: str, ipc: bytes, *,
        checksum: str | None = None,
    ) -> ApplyResult:
        """Apply one batch atomically, exactly once, with compare-and-swap.

        ``ipc`` columns: every column of the table (by name, any order),
        ``__ds_op`` (``'U'`` upsert, ``'D'`` delete),
        ``__ds_expect`` (UBIGINT remote row hash the row must still have, NULL
        = the row must be absent), ``__ds_lh`` (opaque UBIGINT, echoed back).
        In ONE transaction: skip if ``batch_id`` is in the ledger (return the
        stored result); else write every row whose current hash matches
        ``__ds_expect``, mark the others ``'conflict'``, record the ledger entry.

        ``checksum`` (decimal text of a UBIGINT): the client's prediction of
        ``checksum_sql(__ds_rk, __ds_rh)`` over the batch's rows once written (its own
        engine's hashes of the values it sent). A store *may* then answer compactly:
        when every row was applied and its own checksum is equal, it returns
        ``verified=True`` with an empty ``result`` and keeps only that in the ledger
        (no per-row answer to build, send, store or read back: the bulk push's
        biggest cost after the insert itself). Otherwise, or if it does not
        implement the shortcut, it returns the full answer as usual — so a remote
        engine that hashes differently costs the usual answer, never a wrong base.
        """
        ...

    async def batch_result(self, batch_id: str) -> ApplyResult | None:
        """The stored result of an applied batch, or ``None`` if it never committed."""
        ...

    async def ack_batches(self, batch_ids: list[str]) -> None:
        """The client has recorded these results: drop their stored rows (keep the ids)."""
        ...
