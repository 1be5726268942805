"""``/api/v1/sync``: the engine's :class:`RemoteStore`, one endpoint per method.

Every route validates names (allowlist, identifier rules), then delegates to the
engine's native store through :class:`StorePool`; no route builds SQL. Bulk data
is Arrow IPC both ways (``application/vnd.apache.arrow.stream``), optionally
``Content-Encoding: gzip|zstd``. Ledger batch ids are scoped to the caller:
the server stores ``<subject>/<batch_id>``, so one principal can neither replay
nor read another's batch results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, cast

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.types import DecoratedCallable
from pydantic import BaseModel, Field

from ducksync.engine.sqlbuild import parse_checksum
from ducksync.engine.store import (
    ApplyResult,
    ColumnInfo,
    PageEnd,
    RemoteStore,
    Survey,
    SurveyedTable,
    TableInfo,
)
from ducksync.errors import DucksyncError, ProtocolError
from ducksync.faults import reached
from ducksync.server.arrowio import ARROW_STREAM, batch_keys, checked_rows, merge_chunks
from ducksync.server.auth import Principal
from ducksync.server.backend import HASHES_MAX_ROWS, collect, run_coroutine
from ducksync.server.context import ServerContext, check_column
from ducksync.server.deps import context, principal
from ducksync.server.encoding import choose_encoding, decode_body, encode_body
from ducksync.server.errors import ForbiddenError, NotFoundError
from ducksync.server.feed import MAX_KEYS as MAX_FEED_KEYS
from ducksync.server.limits import MAX_COLUMNS, MAX_TYPE_CHARS
from ducksync.server.read_cache import Carry, keep_all, shift_top
from ducksync.stores.remote_sql import survey_keys
from ducksync.stores.scope import Scopes
from ducksync.sync_routes import API, ROUTES, page_headers

if TYPE_CHECKING:
    from ducksync.stores.native import NativeRemoteStore

router = APIRouter(prefix=API, tags=["sync"])


def _route(method: str, **options: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """Mount a handler on ``method``'s route as declared in :mod:`ducksync.sync_routes`."""
    declared = ROUTES[method]
    return router.api_route(declared.path, methods=[declared.verb], **options)

Who = Annotated[Principal, Depends(principal)]
Ctx = Annotated[ServerContext, Depends(context)]
KeyParam = Annotated[list[str], Query(min_length=1, max_length=32)]
BatchRows = Annotated[int, Query(ge=1, le=1_000_000)]
# the client's predicted checksum of a batch (decimal UBIGINT; see RemoteStore.apply_batch)
ChecksumParam = Annotated[str | None, Query(pattern=r"^[0-9]{1,20}$")]
_BATCH_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_IPC_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}}}}
_IPC_REPLY: dict[int | str, dict[str, Any]] = {200: {"content": {
    ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}}}}


class Column(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    type: str = Field(min_length=1, max_length=MAX_TYPE_CHARS)
    nullable: bool = True


class CreateTableBody(BaseModel):
    columns: list[Column] = Field(min_length=1, max_length=MAX_COLUMNS)
    primary_key: list[str] = Field(default_factory=list, max_length=32)


class AddColumnsBody(BaseModel):
    columns: list[Column] = Field(min_length=1, max_length=MAX_COLUMNS)


class ChecksumsBody(BaseModel):
    key: list[str] = Field(min_length=1, max_length=32)
    modulus: int = Field(ge=1, le=2**32)
    parent_modulus: int = Field(default=1, ge=1, le=2**32)
    parents: list[int] = Field(default_factory=list, max_length=1_000_000)


class SurveyBody(BaseModel):
    tables: list[str] | None = Field(default=None, max_length=10_000)
    key: list[str] | None = Field(default=None, min_length=1, max_length=32)


class HashesBody(BaseModel):
    key: list[str] = Field(min_length=1, max_length=32)
    modulus: int = Field(ge=1, le=2**32)
    buckets: list[Annotated[int, Field(ge=0, le=2**32)]] = Field(
        default_factory=list, max_length=1_000_000)


_Name = Annotated[str, Field(min_length=1, max_length=128)]
_Text = Annotated[str, Field(max_length=1024)]


class RowsAfterBody(BaseModel):
    # a list: a composite key's keyset pages (``after``: one text per column)
    column: _Name | Annotated[list[_Name], Field(min_length=1, max_length=32)]
    after: _Text | Annotated[list[_Text], Field(max_length=32)] | None = None
    batch_rows: int = Field(default=100_000, ge=1, le=1_000_000)
    limit: int | None = Field(default=None, ge=1, le=10_000_000)  # a keyset page
    hashes: bool = True  # False: the table's columns only (a bootstrap computes them)


class AckBody(BaseModel):
    batch_ids: list[str] = Field(max_length=10_000)


def _columns(cols: list[Column]) -> list[ColumnInfo]:
    return [{"name": check_column(c.name), "type": c.type, "nullable": c.nullable}
            for c in cols]


def _keys(key: list[str]) -> list[str]:
    return [check_column(k) for k in key]


def _scoped(who: Principal, batch_id: str) -> str:
    if not _BATCH_ID.fullmatch(batch_id):
        raise ProtocolError(f"invalid batch id {batch_id[:80]!r}",
                            hint="batch ids are 1-128 of A-Z a-z 0-9 . _ : -")
    return f"{who.subject}/{batch_id}"


async def _ipc_body(request: Request, ctx: ServerContext) -> bytes:
    body = await request.body()
    return decode_body(body, request.headers.get("content-encoding"),
                       max_bytes=ctx.settings.max_body_bytes * 8)


def _arrow(request: Request, ctx: ServerContext, payload: bytes,
           headers: dict[str, str] | None = None) -> Response:
    ctx.metrics.bytes.labels("out").inc(len(payload))
    encoding = choose_encoding(request.headers.get("accept-encoding"),
                               enabled=ctx.settings.enable_compression)
    out_headers = dict(headers or {})
    if encoding and len(payload) >= 1024:
        payload = encode_body(payload, encoding)
        out_headers["content-encoding"] = encoding
    out_headers["vary"] = "accept-encoding"
    return Response(content=payload, media_type=ARROW_STREAM, headers=out_headers)


def _apply_reply(request: Request, ctx: ServerContext, result: ApplyResult,
                 batch_id: str) -> Response:
    return _arrow(request, ctx, result["result"], {
        "x-ducksync-batch-id": batch_id,
        "x-ducksync-replayed": "true" if result["replayed"] else "false",
        "x-ducksync-verified": "true" if result.get("verified") else "false"})


@_route("config")
def config(_: Who, ctx: Ctx) -> dict[str, Any]:
    """Client knobs the operator set: sync interval, batch size, compression; and
    whether sync rules give each user their own rows (the page then says that the
    direct MotherDuck transport would bypass them)."""
    s = ctx.settings
    return {"sync_interval_s": s.sync_interval_s, "batch_size": s.batch_size,
            "enable_compression": s.enable_compression, "max_body_bytes": s.max_body_bytes,
            "encodings": ["zstd", "gzip"] if s.enable_compression else [],
            "rules": ctx.rules is not None}


@_route("remote_id")
async def identity(_: Who, ctx: Ctx) -> dict[str, str]:
    """The remote database's stable id (clients keep their sync state per remote)."""
    remote_id: str = await ctx.pool.call(lambda store: run_coroutine(store.remote_id))
    return {"remote_id": remote_id}


@_route("list_tables")
async def list_tables(_: Who, ctx: Ctx) -> list[dict[str, Any]]:
    """Every synced table (the allowlist ∩ the remote's user tables)."""
    tables: list[TableInfo] = await ctx.pool.call(
        lambda store: run_coroutine(store.list_tables))
    return [dict(t) for t in tables if ctx.table_allowed(t["name"])]


async def _description(ctx: ServerContext, table: str) -> bytes:
    """``{"table": TableInfo | null}`` as JSON, kept in the read cache."""
    def work(store: RemoteStore) -> bytes:
        info = run_coroutine(lambda: store.describe_table(table))
        return json.dumps({"table": dict(info) if info is not None else None}).encode()

    return await _cached(ctx, ("describe", table), work)


@_route("describe_table", response_class=Response)
async def describe_table(table: str, _: Who, ctx: Ctx) -> Response:
    """``{"table": TableInfo}``, or ``{"table": null}`` when it does not exist yet."""
    ctx.check_table(table)
    return Response(content=await _description(ctx, table), media_type="application/json")


@_route("survey")
async def survey(body: SurveyBody, who: Who, ctx: Ctx) -> dict[str, Any]:
    """The remote's id, then each synced table's shape and whole-table checksum (and the
    body limit): what a sync asks first, in one request (see ``RemoteStore.survey``).

    Names the caller may not sync (not on the allowlist, not identifiers) are left out,
    as if absent: that table's own next call then fails with the precise error, and the
    other tables go on. A file remote answers from the read cache, table by table (a
    no-op sync reads nothing); a remote with other writers asks the store, which puts
    every table's checksum in one statement.
    """
    key = _keys(body.key) if body.key else None
    scopes = ctx.scopes(who)
    wanted = None if body.tables is None else [t for t in body.tables if _may_sync(ctx, t)]
    if scopes is not None:  # sync rules: only tables with the caller's rows
        wanted = [t for t in (scopes if wanted is None else wanted)
                  if t in scopes and ctx.table_allowed(t)]
    if not ctx.pool.reads.enabled:
        answer: Survey
        answer, probe = await ctx.pool.call(lambda store: (
            run_coroutine(lambda: store.survey(wanted, key)), _hash_probe(store)),
            scopes=scopes)
        answer["tables"] = [t for t in answer["tables"] if ctx.table_allowed(t["info"]["name"])]
        answer["max_body_bytes"] = ctx.settings.max_body_bytes
        answer["hash_probe"] = probe
        return dict(answer)
    remote_id, probe = await ctx.pool.call(lambda store: (
        run_coroutine(store.remote_id), _hash_probe(store)))
    if wanted is None:
        infos = [t for t in await ctx.pool.call(lambda store: run_coroutine(store.list_tables))
                 if ctx.table_allowed(t["name"])]
    else:
        described = [json.loads(await _description(ctx, t))["table"] for t in wanted]
        infos = [cast(TableInfo, d) for d in described if d is not None]
    tables: list[SurveyedTable] = []
    for info, k in survey_keys(infos, key):
        checksum, rows = "0", 0
        if k:
            name = info["name"]
            payload = await _cached(ctx, _checksums_key(name, k, 1, 1, [], scopes),
                                    _checksums_work(ctx, name, k, 1, 1, [], scopes), scopes)
            checksum, rows = _top_of(payload)
        tables.append({"info": info, "key": k, "checksum": checksum, "rows": rows})
    return {"remote_id": remote_id, "tables": tables,
            "max_body_bytes": ctx.settings.max_body_bytes, "hash_probe": probe}


def _hash_probe(store: RemoteStore) -> str | None:
    """The store's engine hash probe (``Survey.hash_probe``), when it has one."""
    probe = getattr(store, "hash_probe", None)
    return cast("str | None", run_coroutine(probe)) if probe is not None else None


def _may_sync(ctx: ServerContext, table: str) -> bool:
    try:
        ctx.check_table(table)
    except DucksyncError:
        return False
    return True


def _top_of(payload: bytes) -> tuple[str, int]:
    """``(checksum as text, rows)`` of a modulus-1 ``bucket_checksums`` answer."""
    import pyarrow as pa  # type: ignore[import-untyped]

    rows = pa.ipc.open_stream(payload).read_all().to_pylist()
    if not rows or not rows[0]["n"]:
        return "0", 0
    return str(int(rows[0]["checksum"])), int(rows[0]["n"])


@_route("create_table")
async def create_table(table: str, body: CreateTableBody, who: Who,
                       ctx: Ctx) -> dict[str, Any]:
    """Create the table (no-op if it exists). Types are validated by the store.

    Then its whole-table checksum goes into the read cache (hashing an empty table
    costs nothing): a client that created the table pushes without asking whether it
    is empty, and the answer its verified bulk batches carry forward starts here, so
    the first no-op sync after the push is still a cache hit (``read_cache``).
    """
    ctx.check_table(table)
    cols, pk = _columns(body.columns), _keys(body.primary_key)
    scopes = ctx.scopes(who, table)
    if ctx.rules is not None:
        ctx.rules.check_create(table, cols)
    await ctx.pool.call(lambda store: run_coroutine(lambda: store.create_table(table, cols, pk)),
                        write=True)
    if ctx.pool.reads.enabled:
        await _cached(ctx, _checksums_key(table, pk, 1, 1, [], scopes),
                      lambda store: run_coroutine(lambda: store.bucket_checksums(
                          table, pk, 1, 1, [])), scopes)
    return {"ok": True}


@_route("drop_table")
async def drop_table(table: str, _: Who, ctx: Ctx) -> dict[str, Any]:
    """Drop the table (``dropped``: false if it did not exist). Only a client's explicit
    "drop everywhere" (``ducksync drop … --everywhere``) asks: a sync never drops."""
    ctx.check_table(table)
    if ctx.rules is not None:
        raise ForbiddenError(f"table {table!r} is shared under sync rules: a client may not "
                             "drop it (other users' rows would go with it)",
                             hint="ask the operator; to stop syncing it here, drop it locally "
                                  "and forget it")
    dropped = await ctx.pool.call(
        lambda store: run_coroutine(lambda: store.drop_table(table)), write=True)
    return {"dropped": bool(dropped)}


@_route("add_columns")
async def add_columns(table: str, body: AddColumnsBody, who: Who, ctx: Ctx) -> dict[str, Any]:
    """Add nullable columns (existing ones are skipped)."""
    ctx.check_table(table)
    scopes = ctx.scopes(who, table)
    if scopes is not None and not scopes[table].writable:
        raise ForbiddenError(f"table {table!r} is read-only for you: no columns can be added",
                             hint="ask the operator to add them on the remote")
    cols = _columns(body.columns)
    await ctx.pool.call(lambda store: run_coroutine(lambda: store.add_columns(table, cols)),
                        write=True)
    return {"ok": True}


async def _cached(ctx: ServerContext, key: tuple[Hashable, ...],
                  work: Callable[[RemoteStore], bytes], scopes: Scopes | None = None) -> bytes:
    """A read kept until the next write (``key``: the read's kind, its table, its
    arguments, the caller's scope), counted in ``ducksync_read_cache_total`` by kind
    and outcome."""
    payload, cached = await ctx.pool.cached_read(key, work, scopes=scopes)
    ctx.metrics.read_cache.labels(str(key[0]), "hit" if cached else "miss").inc()
    return payload


def _scope_key(scopes: Scopes | None, table: str) -> Hashable:
    """Which rows of ``table`` an answer is about: every row, or a slice (two callers
    with the same slice share answers; see ``TableScope.cache_key``)."""
    return None if scopes is None else scopes[table].cache_key


def _checksums_key(table: str, key: list[str], modulus: int, parent_modulus: int,
                   parents: list[int], scopes: Scopes | None) -> tuple[Hashable, ...]:
    """The read cache's key for a checksums answer (kind, then the table, like every key)."""
    return ("checksums", table, tuple(key), modulus, parent_modulus, tuple(parents),
            _scope_key(scopes, table))


def _apply_carry(table: str, key: list[str], checksum: str | None,
                 rows: int, scopes: Scopes | None) -> Callable[[ApplyResult], Carry]:
    """What an applied batch leaves true in the read cache (see ``read_cache``).

    Answers about other tables stay, and so does this table's description (a batch
    never changes a schema); a replay wrote nothing; a *verified* bulk batch
    inserted ``rows`` new rows whose checksum is exactly ``checksum``, so this
    table's whole-table answer moves by that delta. Anything else about this table
    is forgotten. Under sync rules the batch's rows are all in the writer's slice
    (a refused row makes the answer a full one), so only that slice's answer moves;
    other slices' answers about the table are forgotten.
    """
    top = _checksums_key(table, key, 1, 1, [], scopes)

    def after(result: ApplyResult) -> Carry:
        if result["replayed"]:
            return keep_all

        def carry(held: Mapping[Hashable, bytes]) -> dict[Hashable, bytes]:
            kept = {k: v for k, v in held.items()
                    if k[1] != table or k[0] == "describe"}  # type: ignore[index]
            if result.get("verified") and checksum is not None and top in held:
                shifted = shift_top(held[top], int(checksum), rows)
                if shifted is not None:
                    kept[top] = shifted
            return kept
        return carry
    return after


@_route("bucket_checksums", responses=_IPC_REPLY)
async def bucket_checksums(table: str, body: ChecksumsBody, request: Request, who: Who,
                           ctx: Ctx) -> Response:
    """IPC ``(bucket, checksum, n)`` of non-empty buckets.

    Computed from the table's row hashes, kept from the first such call until the
    next write to the table (``StorePool.hashes``): a descent reads and hashes the
    table once instead of once per level (1M rows: each level 60-95 ms → 20-30 ms).
    """
    ctx.check_table(table)
    key = _keys(body.key)
    scopes = ctx.scopes(who, table)
    payload = await _cached(
        ctx, _checksums_key(table, key, body.modulus, body.parent_modulus, body.parents, scopes),
        _checksums_work(ctx, table, key, body.modulus, body.parent_modulus, body.parents,
                        scopes), scopes)
    return _arrow(request, ctx, payload)


def _checksums_work(ctx: ServerContext, table: str, key: list[str], modulus: int,
                    parent_modulus: int, parents: list[int],
                    scopes: Scopes | None) -> Callable[[RemoteStore], bytes]:
    """The read behind a checksums answer: from the table's kept row hashes when the
    read cache may keep them, else the store's own query (over the caller's rows:
    the pool gives the store ``scopes`` for the call)."""
    def work(store: RemoteStore) -> bytes:
        hashes = _descent_hashes(ctx, store, table, key, scopes)
        if hashes is not None:
            native = cast("NativeRemoteStore", store)
            return run_coroutine(lambda: native.checksums_of(
                hashes, modulus, parent_modulus, parents))
        return run_coroutine(lambda: store.bucket_checksums(
            table, key, modulus, parent_modulus, parents))
    return work


def _descent_hashes(ctx: ServerContext, store: RemoteStore, table: str,
                    key: list[str], scopes: Scopes | None) -> bytes | None:
    """The table's row hashes, kept or computed (on the pool's thread, inside the
    read); None when the remote has other writers or the table is too big to keep."""
    cache = ctx.pool.hashes
    if not cache.enabled:
        return None
    slot = ("hashes", table, tuple(key), _scope_key(scopes, table))
    found = cache.get(slot)
    ctx.metrics.read_cache.labels("hashes", "hit" if found is not None else "miss").inc()
    if found is not None:
        return found
    generation = cache.generation  # before the read: see ReadCache.put
    native = cast("NativeRemoteStore", store)
    hashes = run_coroutine(lambda: native.table_hashes(table, key, HASHES_MAX_ROWS))
    if hashes is not None:
        cache.put(slot, generation, hashes)
    return hashes


@_route("bucket_hashes", responses=_IPC_REPLY)
async def bucket_hashes(table: str, body: HashesBody, request: Request, who: Who,
                        ctx: Ctx) -> Response:
    """IPC ``(key…, __ds_rk, __ds_rh)`` of rows in the given buckets."""
    ctx.check_table(table)
    key = _keys(body.key)
    payload = await ctx.pool.call(lambda store: run_coroutine(
        lambda: store.bucket_hashes(table, key, body.modulus, body.buckets)),
        scopes=ctx.scopes(who, table))
    return _arrow(request, ctx, payload)


async def _rows(ctx: ServerContext, request: Request, factory: Any,
                scopes: Scopes | None) -> Response:
    def work(store: RemoteStore) -> tuple[bytes, int]:
        return merge_chunks(collect(lambda: factory(store)))

    payload, rows = await ctx.pool.call(work, scopes=scopes)
    ctx.metrics.rows.labels("pulled").inc(rows)
    return _arrow(request, ctx, payload)


@_route("fetch_rows", openapi_extra=_IPC_BODY, responses=_IPC_REPLY)
async def fetch_rows(table: str, key: KeyParam, request: Request, who: Who, ctx: Ctx,
                     batch_rows: BatchRows = 100_000) -> Response:
    """Full rows for the keys in the IPC body, as one IPC stream."""
    ctx.check_table(table)
    keys = _keys(key)
    keys_ipc = await _ipc_body(request, ctx)
    checked_rows(keys_ipc)
    return await _rows(ctx, request, lambda store: store.fetch_rows(
        table, keys, keys_ipc, batch_rows=batch_rows), ctx.scopes(who, table))


@_route("fetch_rows_after", responses=_IPC_REPLY)
async def fetch_rows_after(table: str, body: RowsAfterBody, request: Request, who: Who,
                           ctx: Ctx) -> Response:
    """Rows with ``column > after``, as one IPC stream; a page (``limit``) tells its
    rows and last key in headers (``sync_routes.page_headers``), read from the rows
    sent, so the client asks for the next page without loading this one first."""
    ctx.check_table(table)
    column = (check_column(body.column) if isinstance(body.column, str)
              else [check_column(c) for c in body.column])
    told: PageEnd = {}
    response = await _rows(ctx, request, lambda store: store.fetch_rows_after(
        table, column, body.after, batch_rows=body.batch_rows, limit=body.limit,
        hashes=body.hashes, told=None if body.limit is None else told),
        ctx.scopes(who, table))
    response.headers.update(page_headers(told))
    return response


@_route("apply_batch", openapi_extra=_IPC_BODY,
             responses=_IPC_REPLY)
async def apply_batch(table: str, batch_id: str, key: KeyParam, request: Request, who: Who,
                      ctx: Ctx, checksum: ChecksumParam = None) -> Response:
    """Apply one batch exactly once with compare-and-swap; IPC result per row, or an
    empty body with ``x-ducksync-verified: true`` when ``checksum`` matched."""
    ctx.check_table(table)
    keys = _keys(key)
    parse_checksum(checksum)  # a clear 400 before the body is read
    scoped = _scoped(who, batch_id)
    ipc = await _ipc_body(request, ctx)
    rows = checked_rows(ipc)
    ctx.metrics.bytes.labels("in").inc(len(ipc))
    scopes = ctx.scopes(who, table)
    with ctx.feed.writing(table):
        result: ApplyResult = await ctx.pool.call(
            lambda store: run_coroutine(
                lambda: store.apply_batch(table, keys, scoped, ipc, checksum=checksum)),
            write=True, carry=_apply_carry(table, keys, checksum, rows, scopes),
            scopes=scopes)
        if not result["replayed"]:
            # committed: the feed's listeners hear now, not at the next poll, with the
            # keys written (a hint for their fast pull; not read when nobody listens)
            ctx.feed.notify(table, batch_keys(ipc, keys, MAX_FEED_KEYS)
                            if ctx.feed.listeners else None)
    reached("server.answer")
    ctx.metrics.batches.labels("replayed" if result["replayed"] else "applied").inc()
    if not result["replayed"]:
        ctx.metrics.rows.labels("pushed").inc(rows)
    return _apply_reply(request, ctx, result, batch_id)


@_route("batch_result", responses=_IPC_REPLY)
async def batch_result(batch_id: str, request: Request, who: Who, ctx: Ctx) -> Response:
    """The stored result of an applied batch; 404 ``not_found`` if it never committed."""
    scoped = _scoped(who, batch_id)
    result = await ctx.pool.call(lambda store: run_coroutine(lambda: store.batch_result(scoped)))
    if result is None:
        raise NotFoundError(f"batch {batch_id!r} was never applied",
                            hint="apply it (it is safe to resend)")
    return _apply_reply(request, ctx, result, batch_id)


@_route("ack_batches")
async def ack_batches(body: AckBody, who: Who, ctx: Ctx) -> dict[str, Any]:
    """The client recorded these results: the server may drop their stored rows."""
    scoped = [_scoped(who, b) for b in body.batch_ids]
    await ctx.pool.call(lambda store: run_coroutine(lambda: store.ack_batches(scoped)),
                        write=True, carry=lambda _: keep_all)  # the ledger only
    return {"ok": True}
