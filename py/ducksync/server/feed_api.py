"""``GET /api/v1/sync/changes``: the change feed as Server-Sent Events.

The stream (``ducksync.server.feed`` keeps the versions):

* first ``event: changes`` with ``{"tables": {name: version, ...}, "snapshot": true}``:
  every table the caller may sync, so a client (new, or back after a gap) syncs the
  ones whose version it does not hold; skipped when the client's ``Last-Event-ID`` is
  the current id (nothing moved while it was away): then ``event: hello`` only;
* then ``event: changes`` ``{"tables": {name: version}}`` for the tables a commit
  changed, as soon as this process sees it (its own commits at once, others' within
  ``DUCKSYNC_FEED_POLL_S``);
* a ``: ping`` comment every ``DUCKSYNC_FEED_HEARTBEAT_S``, so proxies and idle
  timeouts keep the connection.

Authenticated like every sync route (cookie, bearer, API key); one rate-limit token
per connection. Design: docs/change-feed.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import StreamingResponse

from ducksync.server.auth import Principal
from ducksync.server.backend import run_coroutine
from ducksync.server.context import ServerContext
from ducksync.server.deps import context, principal
from ducksync.server.feed import Changed, event_id, sse_comment, sse_event
from ducksync.sync_routes import API, FEED

router = APIRouter(prefix=API, tags=["sync"])
Who = Annotated[Principal, Depends(principal)]
Ctx = Annotated[ServerContext, Depends(context)]
# Headers that keep a stream a stream: no caching, no proxy buffering (nginx honours
# X-Accel-Buffering), no compression of a never-ending body.
STREAM_HEADERS = {"cache-control": "no-cache, no-transform", "x-accel-buffering": "no"}


def in_scope(ctx: ServerContext, who: Principal, versions: Mapping[str, int]) -> dict[str, int]:
    """The versions of the tables ``who`` may sync: the one place the feed filters.

    The allowlist (``DUCKSYNC_TABLES``) and, with sync rules (docs/rules.md), the tables
    ``who`` has a scope in: a client never hears of a table it could not read. A
    version counts every commit to the table, so a change outside ``who``'s rows is
    announced too and costs that client a sync that finds nothing; announcing only
    changes in its rows would need the commit's keys per version (not kept yet).
    """
    allowed = {t: n for t, n in versions.items() if ctx.table_allowed(t)}
    scopes = ctx.scopes(who)
    return allowed if scopes is None else {t: n for t, n in allowed.items() if t in scopes}


def announcement(ctx: ServerContext, who: Principal, changed: Changed,
                 mine: dict[str, int]) -> dict[str, Any]:
    """The event's data: ``who``'s tables that moved, and the keys their commits wrote
    when the server knows them (``Changed.keys``) and no sync rules apply: with rules,
    keys would name rows outside ``who``'s scope, so ``who`` gets the general sync."""
    keys = {t: k for t, k in changed.keys.items() if t in mine} \
        if ctx.scopes(who) is None else {}
    return {"tables": mine, "keys": keys} if keys else {"tables": mine}


@router.api_route(FEED.path, methods=[FEED.verb], response_class=StreamingResponse,
                  responses={200: {"content": {"text/event-stream": {}}}})
async def changes(who: Who, ctx: Ctx, last_event_id: Annotated[
        str | None, Header(max_length=200)] = None) -> StreamingResponse:
    """Which tables changed, as Server-Sent Events (see the module docstring)."""
    remote_id: str = await ctx.pool.call(lambda store: run_coroutine(store.remote_id))
    feed = ctx.feed
    feed.check_room()  # a full feed answers 503 now, not mid-stream
    heartbeat_s = ctx.settings.feed_heartbeat_s

    async def stream() -> AsyncIterator[bytes]:
        async with feed.listen() as (listener, versions):
            seen = in_scope(ctx, who, versions)
            ident = event_id(remote_id, seen)
            yield b"retry: 1000\n\n"
            if last_event_id == ident:
                yield sse_event("hello", {"resumed": True}, ident)
            else:
                yield sse_event("changes", {"tables": seen, "snapshot": True}, ident)
            while True:
                try:
                    changed = await asyncio.wait_for(listener.queue.get(), heartbeat_s)
                except TimeoutError:
                    yield sse_comment("ping")
                    continue
                if changed is None:  # the server is shutting down
                    return
                mine = in_scope(ctx, who, changed.versions)
                if mine:
                    seen.update(mine)
                    yield sse_event("changes", announcement(ctx, who, changed, mine),
                                    event_id(remote_id, seen))

    return StreamingResponse(stream(), media_type="text/event-stream", headers=STREAM_HEADERS)
