"""The connector the one remote store (:mod:`ducksync.stores.sql_remote`) runs on.

Why a connector: the remote's operations (catalog checks, descent hashes, the
ledger, compare-and-swap, the bulk path) are the same whatever carries the SQL to
the remote's DuckDB: a native duckdb connection (the proxy server, the CLI), the
browser's SQL service worker (DuckDB-WASM, or MotherDuck's WASM client), or any
future SQL remote. They are written once, over this small interface; what differs
per runtime is only *how* a statement or an Arrow payload travels.

One connector is one connection: ``BEGIN TRANSACTION`` / ``COMMIT`` / ``ROLLBACK``
sent through :meth:`SqlConnector.execute` delimit a transaction, and temp tables
persist between calls. The shape is :class:`~ducksync.engine.store.LocalStore`'s,
so the browser's ``WasmLocalStore`` and the native ``NativeLocalStore`` are
connectors as they are.

Rules for an implementation:

* Parameters are JSON scalars only (``str``, ``int``, ``float``, ``None``): the
  store casts lists from text in SQL (a browser connector binds literals).
* Errors are :mod:`ducksync.errors` types: ``QueryError`` carrying DuckDB's message
  (the store classifies transaction conflicts by it, see
  :func:`ducksync.stores.remote_sql.is_conflict`), ``RemoteUnavailableError`` for
  a transport failure.
* A failed ``COMMIT`` must be reported as an error (DuckDB has then already rolled
  the transaction back; the store's ``ROLLBACK`` after it is allowed to fail).
* ``export_arrow`` honours ``batch_rows``/``batch_bytes`` (the store asks for one
  chunk for single answers); ``ingest_arrow`` creates a TEMP table. The store never
  ingests inside a transaction (the browser's ingest goes through a scratch
  database, and a DuckDB transaction writes one database).
* ``one_engine`` (optional, default False): True only when every statement runs on
  the engine that holds the remote tables (a native file). Leave it False for
  MotherDuck (temp tables on the client): the store then never computes a remote
  hash in a statement that reads a temp table.

Optional: :class:`ScriptConnector` (``script``/``script_arrow``) sends several
statements in one call, one round trip to a remote DuckDB: a write's transaction then
costs a few round trips instead of one per statement (``docs/engine.md``, "Round
trips"). Without it the store sends the same statements one by one: the same
algorithm, more round trips.

Optional: :class:`StagingConnector` (``stage_arrow``/``unstage``) lets a connector
expose an Arrow payload to SQL without copying it into a temp table (native duckdb
registers the pyarrow table as a view); the store falls back to ``ingest_arrow``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["ScriptConnector", "SqlConnector", "StagingConnector", "Step"]

Step = tuple[str, Sequence[Any]]  # one statement of a script and its parameters


class SqlConnector(Protocol):
    """One connection to the remote's DuckDB (see the module docstring)."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    async def fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def export_arrow(self, sql: str, params: Sequence[Any] = (), *, batch_rows: int,
                     batch_bytes: int) -> AsyncIterator[bytes]: ...

    async def ingest_arrow(self, table: str, ipc: bytes, *, append: bool = False) -> None: ...


@runtime_checkable
class ScriptConnector(Protocol):
    """A connector that runs ``steps`` in order, in one round trip, stopping at the
    first error (raised as for :meth:`SqlConnector.execute`)."""

    async def script(self, steps: Sequence[Step]) -> list[tuple[Any, ...]]:
        """The rows of the last step."""
        ...

    async def script_arrow(self, steps: Sequence[Step], *, batch_rows: int,
                           batch_bytes: int) -> list[bytes]:
        """The last step's result as IPC chunks (as :meth:`SqlConnector.export_arrow`)."""
        ...


@runtime_checkable
class StagingConnector(Protocol):
    """A connector that can show an IPC payload to SQL as ``name`` without a copy."""

    async def stage_arrow(self, name: str, ipc: bytes) -> None: ...

    async def unstage(self, name: str) -> None: ...
