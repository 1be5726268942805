"""Bulk bootstrap: a table with no base here is pulled by streaming the remote's rows.

A new device, a cleared browser or a newly held table has nothing to compare: the
general pull would fetch every row's hashes, send every key back and fetch every row
(a 1M-row table: 4.7 MB up, 82 MB down, 3.7x the bytes' floor). Here the rows come in
pages, in key order, with no key sent (``RemoteStore.fetch_rows_after(key, cursor,
limit=n)``: keyset pagination, so a user's scoped reads stay scoped), and each page
builds its share of the base from what arrived: the remote's own hashes (``__ds_rk``,
``__ds_rh``) and the local row hash of the same values.

**Hashes computed, not shipped**, when both engines are proven to hash alike: the
survey's ``hash_probe`` (the remote engine's hashes of fixed probe values) equals the
local engine's, and every column is of a probed type. The pages then come without
``__ds_rk``/``__ds_rh`` (16 bytes a row that do not compress) and the base takes ``rk``
= the local key hash and ``rh`` = ``lh``, the local row hash it computes anyway: stored
as NULL, "as derived" (``state.stored_hashes_sql``), so neither is computed nor
written here. ``lh`` is always the local engine's hash of the local row, so a wrong
derivation can never invent a local change (push); a wrong ``rh`` only makes the
remote look changed. And the end's whole-table check below compares exactly those
(``rk``, ``rh``) with the remote's own: equal, they are proven for the table; not, the
normal round that follows reads the remote's real hashes and pulls any row they
disagree on (a cost, never a wrong merge).

**The next page is asked for as a page arrives**: its cursor is this page's last key,
which the remote tells with the page (``fetch_rows_after``'s ``told``: our server in
response headers, read from the rows it sends, no other statement on its remote); the
page is loaded here only by its own commit. A remote that cannot tell (an older server,
MotherDuck straight from the page) leaves it to the local side: natively read off the
page's Arrow beside the connection (``ArrowAside``), else (DuckDB-WASM) after loading
the page, behind the commit before it.

**Resumable**: a page's rows, its base rows and the cursor (the page's last key, in
``ducksync.tables.boot_cursor``) commit in ONE local transaction, so a reload, a kill or
a lost connection at any point resumes after the last committed page: never from zero,
never a key twice. The cursor is cleared with the last page.

**The remote may change meanwhile** (rows written behind the cursor, deleted ahead of
it): the base records what each page saw, so the normal 3-way detection of the next
round sees any difference. At the end, the base's checksum is compared with the
remote's whole-table checksum taken at the run's start: equal, the table is settled;
not equal, the sync runs a normal round at once (``moved``).

**The key comes last** for a table the engine created for this bootstrap
(``Shape.key_pending``): it is created without its PRIMARY KEY, the pages insert into
it unindexed (a keyed insert is most of a page's commit; in DuckDB-WASM every row of
it is written to the WAL too), and :func:`keys.add_pending_key` adds the key after the
last page. A table the user created keeps its key and the path below.

**Local writes meanwhile** (the page is usable while rows arrive): a page never
overwrites a local row. Into a keyed table its inserts are plain while they can be; a
key the page also holds (written here since) makes the insert fail and the page is
redone skipping the keys the table holds, base included, so the next detection treats
them as changed on both sides (a conflict, or the same content) as for any first sync.
Into a table still without its key nothing fails: both copies land, and adding the key
keeps the row written here and drops the page's copy and its base row, to the same end
(a key whose rows written here differ stops with an ``InvalidKeyError``, nothing lost).

**A resumed run skips the keys the base holds, too**: between the interruption and the
resume, a push-only sync may have pushed a key beyond the cursor (its base row written)
and the key then been deleted here. Inserted again, the page would bring back a row
deleted here and give the base that key twice; skipped, the next round sees the local
delete against its base row, as for any synced row. That round runs at once, in the
same sync (``Booted.resumed``). Not needed while the table is owed its key: any round
but a bootstrap's adds it first, so the base then holds no key beyond the cursor, and
the key's addition settles keys written here; such a resumed run's pages insert plainly.

Eligible: key columns of orderable types with an exact text form (a composite key's
pages are keyset pages over the tuple: the cursor is its texts as a JSON list), the key
is the local and the remote primary key, the base is empty, the local table is empty
and the remote's is not. Other tables take the general path.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ducksync.engine import sqlbuild as sb
from ducksync.engine.detect import BaseSums, Top, Transfer, base_sums
from ducksync.engine.keys import add_pending_key
from ducksync.engine.schema import Shape
from ducksync.engine.state import base_table, forget_base_sums, stored_hashes_sql
from ducksync.engine.store import ArrowAside, LocalStore, PageEnd, RemoteStore, TableInfo
from ducksync.engine.transaction import transaction
from ducksync.errors import DucksyncError

__all__ = ["BOOT_TOTAL", "Booted", "Fetched", "PageAsk", "eligible", "first_limit", "hashes_alike",
           "hashes_alike_foreseen",
           "pageable", "run"]

# Key types whose text form reads back to the same value on any DuckDB and whose order
# is the same on both sides (the cursor travels as text: ``CAST(? AS type)``).
_CURSOR_TYPES: Final = frozenset({
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "UHUGEINT", "VARCHAR", "DATE", "TIMESTAMP", "UUID"})
_PAGES: Final = ("__ds_boot0", "__ds_boot1")  # the page being committed, the next one
_KEPT: Final = "__ds_boot_kept"  # a page's rows whose keys neither the table nor base hold
# One row (n): the rows this bootstrap still has to pull, for progress bars (the sync
# service reads it at the first page; a temp table, like push.PUSH_TOTAL).
BOOT_TOTAL: Final = "__ds_boot_total"
_ROW_GROUP: Final = 122_880  # DuckDB's row group: pages of whole ones insert faster
_PAGE_FILL: Final = 0.7  # aim pages at this share of the byte budget


@dataclass(frozen=True)
class Booted:
    """What a bootstrap did: rows pulled, the base's sums, and whether the remote moved
    under it (then the base differs from the remote's checksum: run a normal round).
    ``resumed``: it continued an interrupted run, so local writes made since may wait
    to be pushed: a normal round follows too."""

    pulled: int
    sums: BaseSums
    moved: bool
    resumed: bool = False


def _norm(t: str) -> str:
    return " ".join(t.upper().split())


def _pageable_key(key: list[str], types: dict[str, str]) -> bool:
    return bool(key) and all(_norm(types[k]) in _CURSOR_TYPES for k in key)


def pageable(info: TableInfo, key: list[str] | None) -> bool:
    """The remote table ``info`` could be bootstrapped with ``key`` (None: its primary
    key): what reconcile needs to create its local copy without the key."""
    pk = list(info["primary_key"])
    return (key or pk) == pk and _pageable_key(pk, {c["name"]: c["type"]
                                                    for c in info["columns"]})


async def eligible(local: LocalStore, shape: Shape, sums: BaseSums | None) -> bool:
    """A bootstrap may start: see the module docstring (the remote side is the caller's)."""
    key = shape.key
    if (not _pageable_key(key, shape.types)
            or shape.local_pk != tuple(key) or shape.remote_pk != tuple(key)
            or (sums is not None and sums.n)):
        return False
    n = await local.fetch_rows(
        f"SELECT (SELECT count(*) FROM {base_table(shape.table)}) + (SELECT count(*) FROM "
        "ducksync.conflicts WHERE table_name = ?), (SELECT count(*) FROM (SELECT 1 FROM "
        f"{sb.quote_ident(shape.table)} LIMIT 1))", [shape.table])
    return not n[0][0] and not n[0][1]


@dataclass(frozen=True)
class PageAsk:
    """One page's request: what a first page fetched early must match to be used
    (engine/early_page.py)."""

    table: str
    key: tuple[str, ...]
    cursor: str | None
    limit: int
    hashes: bool  # the remote's hashes sent with the rows (not derived here)

    async def fetch(self, remote: RemoteStore) -> Fetched:
        """The page's IPC chunks and what the remote told of it (a composite key's
        cursor is a JSON list of texts)."""
        single = len(self.key) == 1
        told: PageEnd = {}
        chunks = [c async for c in remote.fetch_rows_after(
            self.table, self.key[0] if single else list(self.key),
            self.cursor if single or self.cursor is None else json.loads(self.cursor),
            batch_rows=self.limit, limit=self.limit, hashes=self.hashes, told=told)]
        return Fetched(chunks, told)


@dataclass(frozen=True)
class Fetched:
    """A page as it arrived: its IPC chunks and its :class:`~ducksync.engine.store.PageEnd`
    as the remote told it (empty: read here)."""

    chunks: list[bytes]
    told: PageEnd


def first_limit(page_rows: int) -> int:
    """The first page's rows (later pages grow from it: :meth:`_Pages.next_limit`)."""
    return min(page_rows, _ROW_GROUP)


# A first page already asked for: given the request run() would send, that fetch's
# answer to await when it is the same request, else None (engine/early_page.py).
Adopt = Callable[[PageAsk], Awaitable[Fetched] | None]


async def run(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer, *,
              cursor: str | None, top: Top, page_rows: int, page_bytes: int,
              remote_probe: str | None = None, early: Adopt | None = None) -> Booted:
    """Pull every remote row after ``cursor`` (None: from the start) page by page.

    While page k is committed locally, page k+1 is already asked for (its cursor is
    page k's last key, told with k or read here: the module docstring): the remote reads
    the next page while the local side inserts this one. ``top``: the remote's whole-table
    checksum at the run's start. ``page_rows``/``page_bytes``: the largest page.
    ``remote_probe``: the survey's ``hash_probe`` (see the module docstring).
    ``early``: the first page, when it was asked for before this run.
    """
    if not shape.state_made:  # else made without sums in this sync, unwritten since
        await forget_base_sums(local, shape.table)  # before anything writes the base
    derive = await hashes_alike(local, shape.types, remote_probe)
    boot = _Pages(local, remote, shape, xfer, page_rows=page_rows, page_bytes=page_bytes,
                  resumed=cursor is not None, derive=derive)
    await boot.set_total(top)
    pulled, limit = 0, first_limit(page_rows)
    pending = boot.fetch(cursor, limit, _PAGES[0], early=early)
    try:
        for turn in itertools.count():
            page = _PAGES[turn % 2]
            n, nbytes, last = await pending
            full = n >= limit
            if full:  # more may follow: ask for it before committing this one
                limit = boot.next_limit(limit, n, nbytes)
                pending = boot.fetch(last, limit, _PAGES[(turn + 1) % 2])
            with xfer.phase("bootstrap.commit"):
                pulled += await boot.commit(page, n, last if full else None)
            if not full:
                break
    except BaseException:
        pending.cancel()
        with contextlib.suppress(BaseException):
            await pending
        raise
    finally:
        for name in (*_PAGES, _KEPT, BOOT_TOTAL):
            with contextlib.suppress(DucksyncError):
                await local.execute(f"DROP TABLE IF EXISTS {name}")
    if shape.key_pending:
        with xfer.phase("bootstrap.key"):
            await add_pending_key(local, shape.table, shape.types)
    sums = await base_sums(local, shape)
    moved = sums.top != top
    xfer.paths.append("bootstrap-moved" if moved else "bootstrap-settled")
    return Booted(pulled=pulled, sums=sums, moved=moved, resumed=boot.resumed)


async def hashes_alike(local: LocalStore, types: Mapping[str, str],
                       remote_probe: str | None) -> bool:
    """The local engine hashes every column (``types``: each column's) as the remote's
    does: its :func:`sqlbuild.hash_probe_sql` answer is the remote's, and each column's
    type is one the probe covers. A local engine that cannot run the probe proves nothing."""
    if not _provable(types, remote_probe):
        return False
    return await _local_probe(local) == remote_probe


def _provable(types: Mapping[str, str], remote_probe: str | None) -> bool:
    """The probe can prove the engines alike: the remote answered it, and it covers
    every column's type."""
    return remote_probe is not None and all(sb.hash_proven(t) for t in types.values())


def hashes_alike_foreseen(local: LocalStore, types: Mapping[str, str],
                          remote_probe: str | None) -> bool:
    """:func:`hashes_alike`'s answer foreseen without a statement, for a request that
    cannot wait for the probe (engine/early_page.py): exact when no probe is needed or
    the local engine's answer is kept; else True, the answer of every pair of engines
    this runs on (DuckDB-WASM and native: ``test_the_hash_probe_answers_alike_in_wasm_
    and_native``). A wrong guess costs a request, never a row: the bootstrap's own
    request follows the probe's answer and uses a fetch only when it is the same."""
    if not _provable(types, remote_probe):
        return False
    with contextlib.suppress(KeyError, TypeError):
        return _PROBED[local] == remote_probe
    return True


# The local engine's probe answer per store: planning the probe (a wide constant
# statement) is not free, so once per store rather than once per table it bootstraps.
_PROBED: weakref.WeakKeyDictionary[LocalStore, str] = weakref.WeakKeyDictionary()


async def _local_probe(local: LocalStore) -> str | None:
    """None when the probe failed (not kept: the next bootstrap asks again)."""
    with contextlib.suppress(KeyError, TypeError):  # TypeError: a store without weakrefs
        return _PROBED[local]
    try:
        found = await local.fetch_rows(sb.hash_probe_sql())
    except DucksyncError:
        return None
    if not found:
        return None
    with contextlib.suppress(TypeError):
        _PROBED[local] = str(found[0][0])
    return str(found[0][0])


class _Pages:
    """One bootstrap's page fetches and local commits."""

    def __init__(self, local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer,
                 *, page_rows: int, page_bytes: int, resumed: bool, derive: bool) -> None:
        self.local, self.remote, self.shape, self.xfer = local, remote, shape, xfer
        # a resumed run: the base may hold keys ahead of the cursor (module docstring)
        self.resumed = resumed
        self.page_rows, self.page_bytes = page_rows, page_bytes
        self.derive = derive  # the remote's hashes computed here (pages without them)
        self.key = list(shape.key)
        self.t, self.base = sb.quote_ident(shape.table), base_table(shape.table)
        casts = ", ".join(f"CAST(p.{sb.quote_ident(c)} AS {shape.types[c]}) AS "
                          f"{sb.quote_ident(c)}" for c in shape.columns)
        hashes = "" if derive else (", p.__ds_rk::UBIGINT AS __ds_rk, p.__ds_rh::UBIGINT "
                                    "AS __ds_rh")
        self.cast = f"SELECT {casts}{hashes} FROM {{page}} p"
        self._lock = asyncio.Lock()  # the fetch task's ingest and the commit share `local`
        # a page whose end is known on arrival (told, or read aside): its chunks, loaded
        # by its commit
        self._arrived: dict[str, list[bytes]] = {}

    async def set_total(self, top: Top) -> None:
        """``BOOT_TOTAL``: rows left to pull (the remote's count less the base's)."""
        await self.local.execute(
            f"CREATE OR REPLACE TEMP TABLE {BOOT_TOTAL} AS SELECT greatest(0, ? - (SELECT "
            f"count(*) FROM {self.base}))::BIGINT AS n", [top[1]])

    def next_limit(self, limit: int, n: int, nbytes: int) -> int:
        """The next page's rows: twice the last one, up to about ``page_bytes`` (from
        the bytes per row seen), whole row groups once that large."""
        width = max(1, min(self.page_rows, int(self.page_bytes * _PAGE_FILL
                                               / max(1.0, nbytes / max(n, 1)))))
        if width >= _ROW_GROUP:
            width -= width % _ROW_GROUP
        return max(1, min(width, limit * 2))

    def fetch(self, cursor: str | None, limit: int, page: str, *, early: Adopt | None = None,
              ) -> asyncio.Future[tuple[int, int, str | None]]:
        """Start fetching the page after ``cursor`` into temp ``page``:
        ``(rows, bytes, its last key as text)``; ``early``: see :func:`run`."""
        ask = PageAsk(self.shape.table, tuple(self.key), cursor, limit, not self.derive)
        asked = early(ask) if early is not None else None
        return asyncio.ensure_future(self._fetch(ask, page, asked))

    async def _fetch(self, ask: PageAsk, page: str,
                     asked: Awaitable[Fetched] | None) -> tuple[int, int, str | None]:
        got = await (asked if asked is not None else ask.fetch(self.remote))
        chunks, told = got.chunks, got.told
        del got
        cursor = ask.cursor
        self.xfer.calls += 1
        self.xfer.sent += 64 + len(cursor or "")
        nbytes = sum(len(c) for c in chunks)
        self.xfer.received += nbytes
        if "rows" in told:  # the remote told its end: nothing to read; loaded by its commit
            self._arrived[page] = chunks
            return told["rows"], nbytes, told.get("last")
        if isinstance(self.local, ArrowAside):  # the last key now; loaded by its commit
            n, last = await self._last_key(
                functools.partial(self.local.query_arrow, name=page, chunks=chunks), page)
            self._arrived[page] = chunks
            return n, nbytes, last
        async with self._lock:
            await self._load(page, chunks)
            del chunks
            n, last = await self._last_key(self.local.fetch_rows, page)
        return n, nbytes, last

    async def _load(self, page: str, chunks: list[bytes]) -> None:
        """The page's rows into the temp table ``page`` (its statements read them there)."""
        for i, chunk in enumerate(chunks):
            await self.local.ingest_arrow(page, chunk, append=i > 0)

    async def _last_key(self, rows: Callable[[str], Awaitable[list[tuple[Any, ...]]]],
                        page: str) -> tuple[int, str | None]:
        """The page's rows and its largest key as the cursor's text
        (:func:`sqlbuild.page_end`: a remote that tells it reads the same).
        ``rows``: runs a query where ``page`` holds the page."""
        return sb.page_end(await rows(sb.page_end_sql(self.key, self.shape.types, page)))

    async def commit(self, page: str, n: int, cursor: str | None) -> int:
        """The page's rows and base rows, and the cursor, in one transaction; rows whose
        key the local table holds already (written here meanwhile) are skipped."""
        async with self._lock:
            arrived = self._arrived.pop(page, None)  # not in the database yet: loaded here
            if arrived is not None and n:
                await self._load(page, arrived)
            del arrived
            if not n:
                await self.local.execute(
                    "UPDATE ducksync.tables SET boot_cursor = NULL WHERE name = ?",
                    [self.shape.table])
                return 0
            try:
                if self.resumed and not self.shape.key_pending:
                    return await self._commit(page, cursor, skip_held=True)
                await self._commit(page, cursor, skip_held=False)
                return n
            except DucksyncError:  # a key written here meanwhile: redo without those
                return await self._commit(page, cursor, skip_held=True)

    async def _commit(self, page: str, cursor: str | None, *, skip_held: bool) -> int:
        """Returns the rows inserted when ``skip_held`` (else the page's, known).
        ``skip_held``: without the keys the table or the base holds."""
        shape, run = self.shape, self.local.execute
        src = f"({self.cast.format(page=page)}) p"
        async with transaction(self.local):
            n = 0
            if skip_held:  # kept apart: the inserts below change what the joins would keep
                await run(f"CREATE OR REPLACE TEMP TABLE {_KEPT} AS SELECT p.* FROM {src} "
                          f"ANTI JOIN {self.t} x ON {sb.key_join_sql(shape.key, 'p', 'x')} "
                          f"ANTI JOIN {self.base} b ON {sb.key_join_sql(shape.key, 'p', 'b')}")
                src = f"{_KEPT} p"
                n = (await self.local.fetch_rows(f"SELECT count(*) FROM {_KEPT}"))[0][0]
            await run(self._base_insert(src))
            await run(f"INSERT INTO {self.t} ({sb.cols_sql(shape.columns)}) SELECT "
                      f"{sb.cols_sql(shape.columns, 'p')} FROM {src}")
            await run("UPDATE ducksync.tables SET boot_cursor = ? WHERE name = ?",
                      [cursor, shape.table])
        return int(n)

    def _base_insert(self, src: str) -> str:
        """The page's base rows: key, ``lh`` (the local row hash), the remote's ``rh``
        and ``rk``, as sent or (``derive``) as derived: ``lh`` and the key hash, which
        the base stores as NULL (``state.stored_hashes_sql``)."""
        key, lh = self.shape.key, sb.row_hash_sql(self.shape.types, "p")
        sent = "" if self.derive else ", p.__ds_rh, p.__ds_rk"
        rh, rk = (None, None) if self.derive else ("__ds_rh", "__ds_rk")
        return (f"INSERT INTO {self.base} SELECT {sb.cols_sql(key)}, "
                f"{stored_hashes_sql(key, '__ds_lh', rh, rk)} FROM (SELECT "
                f"{sb.cols_sql(key, 'p')}, {lh} AS __ds_lh{sent} FROM {src})")
