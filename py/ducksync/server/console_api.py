"""``POST /api/v1/console/query``: the opt-in read-only console (off by default)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from ducksync.server.arrowio import ARROW_STREAM
from ducksync.server.auth import Principal
from ducksync.server.console import MAX_SQL_CHARS, run_readonly
from ducksync.server.context import ServerContext
from ducksync.server.deps import context, principal
from ducksync.server.errors import ForbiddenError

router = APIRouter(prefix="/api/v1/console", tags=["console"])


class ConsoleQuery(BaseModel):
    sql: str = Field(min_length=1, max_length=MAX_SQL_CHARS)


@router.post("/query", responses={200: {"content": {ARROW_STREAM: {
    "schema": {"type": "string", "format": "binary"}}}}})
async def console_query(body: ConsoleQuery, request: Request,
                        _: Annotated[Principal, Depends(principal)],
                        ctx: Annotated[ServerContext, Depends(context)]) -> Response:
    """One read-only SELECT over synced tables, as Arrow IPC (capped rows)."""
    if not ctx.settings.readonly_console:
        raise ForbiddenError("the SQL console is disabled on this server",
                             hint="the operator can enable it with DUCKSYNC_READONLY_CONSOLE=1")
    if ctx.rules is not None:
        raise ForbiddenError("the SQL console is off on a server with sync rules: it would "
                             "read every user's rows", hint="query your own rows locally")

    def work(store: Any) -> bytes:
        return run_readonly(store.con, body.sql, allowed=ctx.table_allowed,
                            max_rows=ctx.settings.console_max_rows)

    payload = await ctx.pool.call(work)
    return Response(content=payload, media_type=ARROW_STREAM)
