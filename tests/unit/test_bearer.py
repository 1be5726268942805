"""The remote worker's bearer-token cache (``connect({getToken})``), in CPython.

It asks the app once for concurrent callers, again shortly before expiry and after a
401, turns the app's failure into a typed error, and never holds a refused token.
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from ducksync.errors import AuthError, RemoteUnavailableError
from ducksync.worker.bearer import REFRESH_BEFORE_S, BearerTokens, token_expiry


def jwt_with_exp(exp: float) -> str:
    body = base64.urlsafe_b64encode(json.dumps({"sub": "a", "exp": exp}).encode()).rstrip(b"=")
    return f"eyJhbGciOiJIUzI1NiJ9.{body.decode()}.sig"


class App:
    """Stands in for the page: records what the worker asked, answers when told."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.now = 1_000.0

    def tokens(self, wait_s: float = 5.0) -> BearerTokens:
        return BearerTokens(ask=self.asked.append, clock=lambda: self.now, wait_s=wait_s)


def test_concurrent_calls_share_one_request_and_the_token_is_cached() -> None:
    async def scenario() -> None:
        app = App()
        tokens = app.tokens()
        first = asyncio.gather(tokens.get(), tokens.get())
        await asyncio.sleep(0)
        assert app.asked == ["start"]
        tokens.give({"token": jwt_with_exp(app.now + 600)})
        assert len(set(await first)) == 1
        await tokens.get()
        assert app.asked == ["start"]  # still fresh: not asked again

    asyncio.run(scenario())


def test_a_token_close_to_expiry_is_replaced_before_it_expires() -> None:
    async def scenario() -> None:
        app = App()
        tokens = app.tokens()
        tokens.give({"token": "opaque", "expires_at": app.now + 600})
        app.now += 600 - REFRESH_BEFORE_S - 1
        assert await tokens.get() == "opaque"
        app.now += 2  # now within the refresh margin
        waiting = asyncio.ensure_future(tokens.get())
        await asyncio.sleep(0)
        assert app.asked == ["expiring"]
        tokens.give({"token": "next"})
        assert await waiting == "next"

    asyncio.run(scenario())


def test_after_a_401_the_app_is_asked_again_and_a_failure_is_typed() -> None:
    async def scenario() -> None:
        app = App()
        tokens = app.tokens()
        tokens.give({"token": "t1"})
        tokens.refused()
        waiting = asyncio.ensure_future(tokens.get())
        await asyncio.sleep(0)
        assert app.asked == ["refused"]
        tokens.give({"error": "the session of alice ended", "code": "auth"})
        with pytest.raises(AuthError, match="the session of alice ended"):
            await waiting
        waiting = asyncio.ensure_future(tokens.get())
        await asyncio.sleep(0)
        tokens.give({"error": "Failed to fetch", "code": "remote_unavailable"})
        with pytest.raises(RemoteUnavailableError):
            await waiting

    asyncio.run(scenario())


def test_an_app_that_never_answers_is_an_auth_error_not_a_hang() -> None:
    async def scenario() -> None:
        app = App()
        tokens = app.tokens(wait_s=0.01)
        with pytest.raises(AuthError, match="gave no token"):
            await tokens.get()
        with pytest.raises(AuthError, match="gave no token"):
            await tokens.get()
        assert app.asked == ["start", "start"]  # asked again, not stuck on the lost answer

    asyncio.run(scenario())


def test_token_expiry_reads_exp_of_jwts_and_session_tokens_only() -> None:
    assert token_expiry(jwt_with_exp(1234)) == 1234.0
    assert token_expiry("dsk_api_key") is None
    assert token_expiry("a.!!!.c") is None


def test_a_short_lived_token_is_kept_for_two_thirds_of_its_life() -> None:
    async def scenario() -> None:
        app = App()
        tokens = app.tokens()
        tokens.give({"token": "short", "expires_at": app.now + 30})
        app.now += 19
        assert await tokens.get() == "short"  # not asked again on every call
        app.now += 2
        waiting = asyncio.ensure_future(tokens.get())
        await asyncio.sleep(0)
        assert app.asked == ["expiring"]
        tokens.give({"token": "next", "expires_at": app.now + 30})
        assert await waiting == "next"

    asyncio.run(scenario())
