"""Error codes and their HTTP statuses.

What only an HTTP edge says (too large, too fast, not allowed, too slow) is raised
by the server but declared with the shared :mod:`ducksync.errors` types, so it
travels as ``{"error": {code, message, hint}}`` and a client rebuilds it typed
(before, those codes reached clients as ``internal``).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

# The classes are shared (ducksync.errors): a client rebuilds each typed from its code.
from ducksync.errors import DucksyncError, error_to_wire
from ducksync.errors import ForbiddenError as ForbiddenError
from ducksync.errors import NotFoundError as NotFoundError
from ducksync.errors import PayloadTooLargeError as PayloadTooLargeError
from ducksync.errors import RateLimitedError as RateLimitedError
from ducksync.errors import RequestTimeoutError as RequestTimeoutError
from ducksync.errors import UnsupportedMediaError as UnsupportedMediaError

STATUS_BY_CODE: dict[str, int] = {
    "auth": 401, "protocol": 400, "query": 400, "no_primary_key": 422,
    "schema_mismatch": 409, "invalid_key": 422, "invalid_option": 422,
    "conflict": 409, "remote_unavailable": 503,
    "payload_too_large": 413, "limit_exceeded": 413, "rate_limited": 429, "forbidden": 403,
    "not_found": 404,
    "timeout": 504, "unsupported_media": 415, "read_only_remote": 403, "internal": 500,
}


def wire_error(exc: BaseException) -> dict[str, Any]:
    """The public body of an error: code, message, hint. Never a traceback."""
    wire = error_to_wire(exc)
    if not isinstance(exc, DucksyncError):
        wire = {"code": "internal", "name": "InternalError",
                "message": "internal server error",
                "hint": "retry; if it persists, report the X-Request-ID to the operator"}
    return {"code": wire["code"], "message": wire["message"], "hint": wire["hint"]}


def error_response(exc: BaseException, *, headers: dict[str, str] | None = None
                   ) -> JSONResponse:
    wire = wire_error(exc)
    return JSONResponse(status_code=STATUS_BY_CODE.get(wire["code"], 500),
                        content={"error": wire}, headers=headers)
