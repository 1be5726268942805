"""A cloud stand-in: a connector wrapper that holds a local DuckDB to the cloud remote's
documented rules.

Why: the cloud remote cannot be reached from CI, and a plain local DuckDB is kinder than
it: no latency, one engine, every account may write, any client version. Code that
passes only there can fail on the real service. :class:`CloudStandIn` wraps any
:class:`~ducksync.stores.sql_remote.SqlConnector` (native duckdb in tests and the
bench, whatever the remote store runs on) and enforces only behaviour the service
*documents*, each rule with its source (listed again in ``docs/transports.md``, "The
cloud stand-in"):

* **Client version window** (`version lifecycle
  <https://motherduck.com/docs/troubleshooting/version-lifecycle-schedules/>`_): a
  client outside :data:`ducksync.motherduck_versions.ACCEPTED_CLIENTS` is refused at its
  first statement, with the error the ``md:`` path gives
  (:func:`~ducksync.motherduck_versions.check_client_version`).
* **Temporary tables run on the client** (`TEMPORARY TABLES
  <https://motherduck.com/docs/sql-reference/motherduck-sql-reference/temporary-tables>`_:
  "persist locally, not on the server"): every statement that creates or reads a temp
  object is evaluated as another engine would, with a different ``hash`` (the worst
  case of where dual execution may place a hash); statements over remote tables only
  run unchanged. A comparison that mixes the two engines' hashes then shows.
* **One writer per database, readers are read-only** (`How reads and writes work
  <https://motherduck.com/docs/concepts/compute/reads-and-writes/>`_: "Only the
  Read-Write Duckling of the account that owns a database writes to it"; shares "never
  write"): with ``owner=False`` every statement that would change a non-temp object is
  refused with DuckDB's own message for a database attached read-only (a share is
  attached as a read-only clone, `Sharing data
  <https://motherduck.com/docs/key-tasks/sharing-a-motherduck-database>`_). DuckDB
  refuses even ``CREATE ... IF NOT EXISTS`` of an existing object there.
* **Latency**: the service is a network away; each call that reaches it (a statement,
  or a script of several sent at once, that touches anything but the client's temp
  tables: those "persist locally") waits ``delay_s`` and is counted in
  :attr:`round_trips`; :attr:`calls` counts every call, :attr:`statements` keeps every
  statement. So tests hold the store to a round-trip budget and the bench times it at
  a realistic distance. (Whether the service's client sends a script's statements in
  one exchange is not documented: a script is counted as one round trip, which is
  what the store controls.)

Optimistic transaction conflicts are not simulated: they are DuckDB's own (the service
follows DuckDB's model, `Concurrency <https://duckdb.org/docs/stable/connect/concurrency>`_),
so two stand-ins over two connections to one database file conflict exactly as DuckDB
does. What only the real service can show (the share's ~1 minute lag, its real error
texts, its real latency) stays in the token-gated live tests.

Pure Python (no duckdb import): usable wherever the remote store runs, and by the bench.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ducksync.errors import QueryError
from ducksync.motherduck_versions import check_client_version
from ducksync.stores.connector import ScriptConnector, Step
from ducksync.stores.sql_remote import SqlConnector

__all__ = ["CloudStandIn", "read_only_message"]

_HASH: Final = re.compile(r"\bhash\(", re.IGNORECASE)
_CREATES_TEMP: Final = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TEMP(?:ORARY)?\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
# The relations a statement names (to tell a statement over temp tables only).
_RELATION: Final = re.compile(
    r"\b(?:FROM|JOIN|DESCRIBE|INTO|UPDATE|TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?)\s+"
    r'((?:"[^"]*"|[A-Za-z_]\w*)(?:\.(?:"[^"]*"|[A-Za-z_]\w*))*)', re.IGNORECASE)
# A statement that changes the database, and the object it changes (when it names one).
_WRITES: Final = re.compile(
    r"^\s*(?P<kind>INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|COPY|TRUNCATE|MERGE)\b"
    r"(?:\s+OR\s+\w+)?(?:\s+INTO|\s+FROM)?"
    r"(?:\s+(?:TABLE|SCHEMA|VIEW|SEQUENCE|INDEX|MACRO|TYPE))?(?:\s+IF\s+(?:NOT\s+)?EXISTS)?"
    r"\s+(?P<target>[\"A-Za-z_][\w\".]*)?", re.IGNORECASE)


def read_only_message(kind: str, database: str) -> str:
    """DuckDB's refusal of a write to a database attached read-only (a share)."""
    return (f'Invalid Input Error: Cannot execute statement of type "{kind.upper()}" on '
            f'database "{database}" which is attached in read-only mode!')


@dataclass(kw_only=True)
class CloudStandIn:
    """``inner`` (one connection to the stand-in's DuckDB) under the documented rules.

    ``delay_s``: latency added before each statement. ``owner``: False for an account
    that reads a share (writes refused). ``client_version``: the client's duckdb
    version (None: not checked, e.g. a browser connector whose version is its own).
    ``database``: the name errors give the database.
    """

    inner: SqlConnector
    delay_s: float = 0.0
    owner: bool = True
    client_version: str | None = None
    database: str = "remote"
    client_engine: bool = True  # False: one engine (to measure the store without the split)
    statements: list[str] = field(default_factory=list)
    client_statements: int = 0  # statements run "on the client's engine"
    calls: int = 0  # statements and scripts sent
    server_calls: int = 0  # of those, the ones that reach the service: round trips
    _temps: set[str] = field(default_factory=set)
    _checked: bool = False

    @property
    def round_trips(self) -> int:
        return self.server_calls

    def reset(self) -> None:
        self.statements.clear()
        self.client_statements = 0
        self.calls = self.server_calls = 0

    def _is_temp(self, name: str) -> bool:
        return name.strip('"').split(".")[-1].strip('"') in self._temps

    def _local(self, sql: str) -> bool:
        """Whether ``sql`` names temp tables only (then it runs on the client alone);
        a statement that names none (``BEGIN``, ``COMMIT``, ``SELECT 1``) is not."""
        named = _RELATION.findall(sql)
        return bool(named) and all(self._is_temp(n) for n in named)

    def _admit(self, sql: str) -> str:
        """Count ``sql``, check it against the rules, and return what the engine runs."""
        if not self._checked and self.client_version is not None:
            check_client_version("md:", installed=self.client_version)
        self._checked = True
        self.statements.append(sql)
        created = _CREATES_TEMP.match(sql)
        if created:
            self._temps.add(created.group(1))
        elif not self.owner:
            write = _WRITES.match(sql)
            if write and not self._is_temp(write.group("target") or ""):
                raise QueryError(read_only_message(write.group("kind"), self.database))
        if not self.client_engine:
            return sql
        if created or any(re.search(rf"\b{re.escape(t)}\b", sql) for t in self._temps):
            self.client_statements += 1
            return _HASH.sub("hash('client-engine', ", sql)
        return sql

    async def _wait(self, *sqls: str) -> None:
        """One call: a round trip (and ``delay_s``) unless it names temp tables only."""
        self.calls += 1
        if all(self._local(sql) for sql in sqls):
            return
        self.server_calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        run = self._admit(sql)
        await self._wait(sql)
        await self.inner.execute(run, params)

    async def fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        run = self._admit(sql)
        await self._wait(sql)
        return await self.inner.fetch_rows(run, params)

    async def export_arrow(self, sql: str, params: Sequence[Any] = (), *, batch_rows: int,
                           batch_bytes: int) -> AsyncIterator[bytes]:
        run = self._admit(sql)
        await self._wait(sql)
        async for chunk in self.inner.export_arrow(run, params, batch_rows=batch_rows,
                                                   batch_bytes=batch_bytes):
            yield chunk

    async def script(self, steps: Sequence[Step]) -> list[tuple[Any, ...]]:
        """Several statements, one round trip (each under the rules)."""
        run = [(self._admit(sql), params) for sql, params in steps]
        await self._wait(*(sql for sql, _ in steps))
        if isinstance(self.inner, ScriptConnector):
            return await self.inner.script(run)
        for sql, params in run[:-1]:
            await self.inner.execute(sql, params)
        return await self.inner.fetch_rows(*run[-1])

    async def script_arrow(self, steps: Sequence[Step], *, batch_rows: int,
                           batch_bytes: int) -> list[bytes]:
        run = [(self._admit(sql), params) for sql, params in steps]
        await self._wait(*(sql for sql, _ in steps))
        if isinstance(self.inner, ScriptConnector):
            return await self.inner.script_arrow(run, batch_rows=batch_rows,
                                                 batch_bytes=batch_bytes)
        for sql, params in run[:-1]:
            await self.inner.execute(sql, params)
        return [c async for c in self.inner.export_arrow(*run[-1], batch_rows=batch_rows,
                                                         batch_bytes=batch_bytes)]

    async def ingest_arrow(self, table: str, ipc: bytes, *, append: bool = False) -> None:
        self._admit(f"CREATE TEMP TABLE {table} AS FROM ipc")
        self.calls += 1  # into a temp table, on the client: no round trip
        await self.inner.ingest_arrow(table, ipc, append=append)
