"""The app's bearer token in the remote worker (``connect({getToken})``).

An app with its own identity provider hands tokens over on request: the worker asks
the page (an event) when it has none, when the one it holds expires within
:data:`REFRESH_BEFORE_S`, and after the server refused it (a 401); the page answers
with the ``remote_token`` request. The token stays in this object's memory: it is sent
as ``Authorization: Bearer`` and never put in a reply, event, log or error.

Pure logic (asyncio, no browser imports) so CPython tests drive it; ``remote_sync.py``
wires it to the page and to ``fetch``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any, Final

from ducksync.errors import AuthError, DucksyncError, RemoteUnavailableError

REFRESH_BEFORE_S: Final = 60.0  # ask for a new token this long before the old one expires
#                                 (a third of its lifetime for tokens shorter than 3 minutes)
WAIT_S: Final = 30.0  # how long a call waits for the app's getToken()
_HINT = "connect({getToken}) must resolve to the signed-in user's token; sign in again"


def token_expiry(token: str) -> float | None:
    """The ``exp`` of a JWT (or of a ducksync session token), read without verifying:
    only to know when to ask for the next one (the server verifies)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


class BearerTokens:
    """One cached token, refreshed through ``ask(reason)`` ("start" | "expiring" | "refused").

    Concurrent callers share one outstanding request to the app.
    """

    def __init__(self, *, ask: Callable[[str], None], clock: Callable[[], float] = time.time,
                 wait_s: float = WAIT_S) -> None:
        self._ask = ask
        self._clock = clock
        self._wait_s = wait_s
        self._token: str | None = None
        self._expires: float | None = None
        self._margin = REFRESH_BEFORE_S
        self._waiting: asyncio.Future[str] | None = None
        self._refused = False

    async def get(self) -> str:
        """A token with at least :data:`REFRESH_BEFORE_S` left (or of unknown expiry)."""
        # A short-lived token is kept for its first two thirds, so a 30 s session is not
        # refreshed on every call.
        if self._token is not None and (self._expires is None
                                        or self._expires - self._clock() > self._margin):
            return self._token
        waiting = self._waiting
        if waiting is None or waiting.done():
            waiting = self._waiting = asyncio.get_running_loop().create_future()
            reason = "refused" if self._refused else "expiring" if self._token else "start"
            self._ask(reason)
        try:
            return await asyncio.wait_for(asyncio.shield(waiting), self._wait_s)
        except TimeoutError:
            if self._waiting is waiting:  # the next call asks again
                self._waiting = None
                waiting.cancel()
            raise AuthError(f"the app gave no token within {self._wait_s:g} s",
                            hint=_HINT) from None

    def give(self, payload: dict[str, Any]) -> None:
        """The app's answer: ``{token, expires_at?}`` or ``{error, code?}``."""
        token, error = payload.get("token"), payload.get("error")
        if isinstance(token, str) and token.strip():
            self._token = token.strip()
            expires = payload.get("expires_at")
            self._expires = float(expires) if isinstance(expires, int | float) \
                and not isinstance(expires, bool) else token_expiry(self._token)
            if self._expires is not None:
                self._margin = min(REFRESH_BEFORE_S, (self._expires - self._clock()) / 3)
            self._refused = False
            outcome: str | DucksyncError = self._token
        else:
            self._token = self._expires = None
            outcome = _failure(error, payload.get("code"))
        waiting = self._waiting
        if waiting is not None and not waiting.done():
            if isinstance(outcome, str):
                waiting.set_result(outcome)
            else:
                waiting.set_exception(outcome)
                waiting.exception()  # retrieved here: a caller that timed out never will

    def refused(self) -> None:
        """The server answered 401 to the current token: the next :meth:`get` asks again."""
        self._token = self._expires = None
        self._refused = True


def _failure(error: Any, code: Any) -> DucksyncError:
    message = str(error or "getToken() gave no token")[:300]
    if code == RemoteUnavailableError.code:
        return RemoteUnavailableError(f"cannot get a token: {message}",
                                      hint="your changes are kept locally; sync resumes online")
    return AuthError(f"the app could not give a token: {message}", hint=_HINT)
