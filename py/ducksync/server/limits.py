"""Request-size, table-shape and per-session rate limits.

The size limit is a pure ASGI middleware so an oversized upload is refused from
its ``Content-Length`` before a byte is read, and a body without one (chunked) is
cut off as soon as it passes the limit. The rate limiter is a token bucket per
session (the authenticated principal's session id; the client address in open dev
mode), checked by the auth dependency once the caller is known.

A table's shape is bounded too (columns per table, characters per type string) so a
request cannot make the server build unbounded SQL; the bounds sit far above real
tables (an ENUM of thousands of labels, tables of thousands of columns), and a table
beyond them is refused by name *before* anything is created (:func:`shape_limit_error`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ducksync.errors import LimitExceededError
from ducksync.server.errors import PayloadTooLargeError, RateLimitedError, error_response

MAX_COLUMNS = 10_000  # columns per table (create_table, add_columns)
MAX_TYPE_CHARS = 1 << 20  # characters of one column's type string (ENUM labels included)


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"request body exceeds the server's limit of {limit} bytes",
        hint="send smaller batches (--batch-rows) or raise DUCKSYNC_MAX_BODY_BYTES")


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = self.max_bytes + 1
            if declared > self.max_bytes:
                await error_response(_too_large(self.max_bytes),
                                     headers={"connection": "close"})(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _too_large(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


class RateLimiter:
    """Token buckets: ``rate`` requests/second sustained, ``burst`` at once, per key."""

    def __init__(self, *, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one token for ``key`` or raise :class:`RateLimitedError`."""
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                retry = (1.0 - tokens) / self.rate
                raise RateLimitedError(
                    f"too many requests for this session (limit {self.rate:g}/s)",
                    hint=f"retry after {retry:.2f} s")
            if len(self._buckets) >= self.max_keys and key not in self._buckets:
                self._buckets.clear()  # bounded memory; a reset only ever forgives
            self._buckets[key] = (tokens - 1.0, now)


def shape_limit_error(table: str | None, error: dict[str, Any],
                      body: Any) -> LimitExceededError | None:
    """The request-model error ``error`` as a :class:`LimitExceededError` naming the table
    (and column) and the limit, when it is a table-shape limit; None otherwise."""
    loc, kind = tuple(error.get("loc", ())), error.get("type")
    if kind not in ("too_long", "string_too_long") or loc[:2] != ("body", "columns"):
        return None
    what = f"table {table!r}" if table else "the table"
    if len(loc) == 2:
        n = len(body.get("columns", [])) if isinstance(body, dict) else "too many"
        return LimitExceededError(
            f"{what} has {n} columns; this server syncs at most {MAX_COLUMNS}",
            hint="sync a narrower table (split the columns over several tables)")
    if len(loc) == 4 and loc[3] == "type" and isinstance(loc[2], int):
        try:
            column = body["columns"][loc[2]]
            name, size = column.get("name"), len(column.get("type", ""))
        except (KeyError, IndexError, TypeError, AttributeError):
            name, size = None, None
        return LimitExceededError(
            f"column {name!r} of {what}: its type is {size} characters; this server "
            f"accepts at most {MAX_TYPE_CHARS}",
            hint="use a shorter type (e.g. VARCHAR instead of an ENUM of that many labels)")
    return None
