"""``/api/v1/auth``: log in (password or API key), refresh, log out, who am I.

A successful login answers the session token twice: in the JSON body (for
bearer use by the CLI and workers) and as an HttpOnly, SameSite=Strict cookie
(for the page, where scripts never see it). Logout clears the cookie; tokens
are short-lived, so a copied bearer token dies on its own.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from ducksync.errors import AuthError, ProtocolError
from ducksync.server.auth import COOKIE_NAME, TOKEN_VERSION, Principal
from ducksync.server.deps import context, principal

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginBody(BaseModel):
    username: str | None = Field(default=None, max_length=128)
    password: str | None = Field(default=None, max_length=1024)
    api_key: str | None = Field(default=None, max_length=1024)


def _session_reply(request: Request, response: Response, token: str,
                   who: Principal) -> dict[str, Any]:
    ttl = max(0, who.expires - who.auth_time) if who.kind == "user" else None
    response.set_cookie(COOKIE_NAME, token, max_age=ttl or request.app.state.ctx.auth.ttl_s,
                        httponly=True, samesite="strict", path="/api",
                        secure=request.url.scheme == "https")
    response.headers["cache-control"] = "no-store"
    return {"token": token, "token_type": "bearer", "expires_at": who.expires,
            "subject": who.subject}


@router.post("/login")
def login(body: LoginBody, request: Request, response: Response) -> dict[str, Any]:
    """Trade a username/password or an API key for a short-lived session token."""
    ctx = context(request)
    client = request.client.host if request.client else "unknown"
    ctx.limiter.check(f"login:{client}")
    if body.api_key:
        who = ctx.auth.check_api_key(body.api_key)
    elif body.username and body.password:
        who = ctx.auth.login_password(body.username, body.password)
    else:
        raise ProtocolError("send username and password, or api_key",
                            hint='POST {"username": ..., "password": ...}')
    token, who = ctx.auth.issue(who)
    return _session_reply(request, response, token, who)


@router.post("/refresh")
def refresh(request: Request, response: Response) -> dict[str, Any]:
    """A new token for a still-valid session token (bearer or cookie)."""
    ctx = context(request)
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2].strip() if header.lower().startswith("bearer ") else ""
    token = token or request.cookies.get(COOKIE_NAME, "")
    if not token.startswith(f"{TOKEN_VERSION}."):
        raise AuthError("refresh needs a session token",
                        hint="log in first: POST /api/v1/auth/login")
    new_token, who = ctx.auth.refresh(token)
    ctx.limiter.check(who.session)
    return _session_reply(request, response, new_token, who)


@router.post("/logout")
def logout(response: Response) -> dict[str, Any]:
    """Forget the session cookie in this browser."""
    response.delete_cookie(COOKIE_NAME, path="/api", httponly=True, samesite="strict")
    return {"ok": True}


@router.get("/me")
def me(who: Annotated[Principal, Depends(principal)], request: Request) -> dict[str, Any]:
    """The caller as the server sees it (never any credential), and whether sync rules
    apply (the page then says the direct MotherDuck transport bypasses them)."""
    return {"subject": who.subject, "kind": who.kind, "expires_at": who.expires or None,
            "rules": context(request).rules is not None}
