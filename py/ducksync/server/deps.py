"""Request-level dependencies: who is calling (and may they, this fast?).

``principal`` authenticates every API request (bearer session token, API key,
``X-API-Key``, or the session cookie; open only in loopback dev mode) and then
takes a token from that session's rate-limit bucket.
"""

from __future__ import annotations

from fastapi import Request

from ducksync.server.auth import COOKIE_NAME, Principal
from ducksync.server.context import ServerContext


def context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def principal(request: Request) -> Principal:
    ctx = context(request)
    who = ctx.auth.authenticate(
        authorization=request.headers.get("authorization"),
        api_key=request.headers.get("x-api-key"),
        cookie=request.cookies.get(COOKIE_NAME),
        client=request.client.host if request.client else "unknown")
    ctx.limiter.check(who.session)
    request.state.principal = who
    return who
