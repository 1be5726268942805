"""MotherDuck's two engines, on one native DuckDB: temp tables run on "the client".

MotherDuck documents that "temporary tables in MotherDuck persist locally, not on
the server": a statement that reads a temp table (the remote store's ``__ds_*``
scratch) runs, in part or in whole, on the client's DuckDB, while a statement over
remote tables only runs on MotherDuck's. Whichever engine evaluates ``hash()``
decides the hashes a store answers with. Two engines of different DuckDB versions
may hash differently (2.0.1 and 1.5.6 differ on BIT), and the engine then compares
hashes from two functions as if they were one.

:class:`ClientTempConnector` makes that split observable and deterministic: every
statement that reads or creates a temp object it knows of (ingested IPC, ``CREATE
TEMP TABLE``) is run as the *client's* engine would run it, with a different
``hash`` (``hash('client-engine', …)``: same arity everywhere, different values);
statements over remote tables only run unchanged, as "the server". Worst case of
where dual execution may place a hash: every hash of such a statement runs on the
client. Data stays in one database (the client's temp catalog is not the remote's
``main``), which is all the remote store can observe besides the hashes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from engine_helpers import ScalarConnector

from ducksync.stores.sql_remote import SqlRemoteStore

_HASH = re.compile(r"\bhash\(", re.IGNORECASE)
_CREATES_TEMP = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TEMP(?:ORARY)?\s+TABLE\s+"
                           r"(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)


class ClientTempConnector(ScalarConnector):
    """A scalar-parameter connector whose temp-table statements hash like another engine."""

    def __init__(self, *, spec: str) -> None:
        super().__init__(spec=spec)
        self.temps: set[str] = set()
        self.client_statements = 0  # statements run "on the client"

    def _route(self, sql: str) -> str:
        created = _CREATES_TEMP.match(sql)
        if created:
            self.temps.add(created.group(1))
        if created or any(re.search(rf"\b{re.escape(t)}\b", sql) for t in self.temps):
            self.client_statements += 1
            return _HASH.sub("hash('client-engine', ", sql)
        return sql

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await super().execute(self._route(sql), params)

    async def fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await super().fetch_rows(self._route(sql), params)

    def export_arrow(self, sql: str, params: Sequence[Any] = (), **kw: Any) -> Any:
        return super().export_arrow(self._route(sql), params, **kw)

    async def ingest_arrow(self, table: str, ipc: bytes, *, append: bool = False) -> None:
        self.temps.add(table)
        await super().ingest_arrow(table, ipc, append=append)


class TwoEngineRemote(SqlRemoteStore):
    """The one remote store on a :class:`ClientTempConnector`; ``con`` writes the
    remote directly (another writer), as with the other test remotes."""

    def __init__(self, spec: str = ":memory:") -> None:
        self.split = ClientTempConnector(spec=spec)
        super().__init__(connector=self.split)
        self.con = self.split.con
