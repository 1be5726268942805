"""A bootstrap's first page, asked for as soon as the survey answers.

Before :func:`bootstrap.run` asks for its first page, a new device's sync reconciles
the table (local describes, the table created, its state row), sets up its base and
runs the local hash probe; none of that needs the page, and in the page it is as long
as the page's fetch. So :func:`start` asks for the first page right after the survey,
when it already knows that the table will bootstrap and with which request, and the
bootstrap uses that fetch when its own first request is the same (:class:`bootstrap.
PageAsk`: table, key, cursor, rows, hashes or not). Any other outcome (another request,
a round that does not bootstrap, an error, a cancelled sync) cancels the fetch in
:meth:`EarlyPage.close`: nothing is left running, and the report counts only the
pages the bootstrap used.

Known early, from the survey and one local statement: a pull or a sync, the remote
table has rows, its key is pageable (:func:`bootstrap.pageable`) and the survey's
checksum was taken with it, and here either nothing of the table exists (no table,
no state row: a new device or a newly held table; from the start) or an interrupted
bootstrap against this same remote left its cursor (it resumes there, whatever the
local table holds). A local write between the two (the page is usable meanwhile)
makes the bootstrap ineligible: then the fetch is cancelled, a request spent for
nothing, as rare as that write.

The rows-left count (``bootstrap.BOOT_TOTAL``) is written before the fetch starts:
the page's progress reads it when the first page arrives.

Whether the page comes with the remote's hashes depends on the local hash probe
(``bootstrap.hashes_alike``: a wide statement to plan), which therefore runs after the
request is sent, beside the fetch: the request foresees its answer
(``bootstrap.hashes_alike_foreseen``: exact when no probe is needed or its answer is
kept, else "alike", as DuckDB-WASM and native answer). The probe's answer is kept for
the bootstrap, whose own first request follows it: a wrong foresight is another
request, whose fetch the bootstrap does not use (cancelled as above).
"""

from __future__ import annotations

import asyncio
import contextlib

from ducksync.engine import bootstrap
from ducksync.engine.bootstrap import BOOT_TOTAL, Fetched, PageAsk
from ducksync.engine.state import base_table
from ducksync.engine.store import LocalStore, RemoteStore
from ducksync.errors import DucksyncError

__all__ = ["EarlyPage", "start"]


class EarlyPage:
    """One early first-page fetch: handed to the bootstrap asking the same, once."""

    def __init__(self, local: LocalStore, ask: PageAsk,
                 task: asyncio.Future[Fetched]) -> None:
        self.local, self.ask, self.task = local, ask, task
        self.taken = False

    def adopt(self, ask: PageAsk) -> asyncio.Future[Fetched] | None:
        """The fetch, when ``ask`` is its request and it was not taken yet; else None
        (the bootstrap fetches itself; :meth:`close` cancels this one)."""
        if self.taken or ask != self.ask:
            return None
        self.taken = True
        return self.task

    async def close(self) -> None:
        """Not taken: cancel the fetch (awaited, so nothing is left running) and drop
        the rows-left count written for it (a bootstrap drops its own)."""
        if self.taken:
            return
        self.taken = True
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task
        with contextlib.suppress(DucksyncError):
            await self.local.execute(f"DROP TABLE IF EXISTS {BOOT_TOTAL}")


async def start(local: LocalStore, remote: RemoteStore, table: str, *, rows: int,
                key: list[str], types: dict[str, str], remote_id: str, page_rows: int,
                remote_probe: str | None) -> EarlyPage | None:
    """Ask for ``table``'s first page now when its bootstrap is certain (see the module
    docstring); None otherwise. The caller has checked the remote side: ``rows`` in the
    remote table, its pageable primary ``key`` (the survey's), ``types`` its columns'.
    Close what it returns when the table's sync ends."""
    found = await local.fetch_rows(
        "SELECT (SELECT count(*) FROM ducksync.tables WHERE name = ?), (SELECT boot_cursor "
        "FROM ducksync.tables WHERE name = ? AND remote_id = ? AND key_cols = ?), (SELECT "
        "count(*) FROM duckdb_tables() WHERE database_name = current_database() AND "
        "schema_name = 'main' AND table_name = ?)", [table, table, remote_id, key, table])
    known, cursor, here = found[0]
    if cursor is None and (known or here):
        return None  # nothing under way, and not new here: the round decides
    left = rows
    if cursor is not None:  # resumed: the rows its base already holds are not to come
        base = await local.fetch_rows(f"SELECT count(*) FROM {base_table(table)}")
        left = max(0, rows - int(base[0][0]))
    await local.execute(f"CREATE OR REPLACE TEMP TABLE {BOOT_TOTAL} AS SELECT ?::BIGINT AS n",
                        [left])
    derive = bootstrap.hashes_alike_foreseen(local, types, remote_probe)
    ask = PageAsk(table, tuple(key), None if cursor is None else str(cursor),
                  bootstrap.first_limit(page_rows), not derive)
    early = EarlyPage(local, ask, asyncio.ensure_future(ask.fetch(remote)))
    try:  # the probe itself while the page comes (kept for the bootstrap's own request)
        await asyncio.sleep(0)  # the fetch sends its request first
        await bootstrap.hashes_alike(local, types, remote_probe)
    except BaseException:
        await early.close()
        raise
    return early
