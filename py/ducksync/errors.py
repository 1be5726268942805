"""Typed errors that survive every boundary (worker ↔ main thread ↔ server ↔ CLI).

Each error has a stable ``code`` (what a program switches on) and a message that
says what went wrong *and what to do next*. ``to_wire``/``from_wire`` turn them
into plain dicts so a worker can raise ``QueryError`` and the page receives a
``QueryError`` too, not a string.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthError",
    "BackupError",
    "ConflictError",
    "DuckDBCrashedError",
    "DucksyncError",
    "ForbiddenError",
    "InvalidKeyError",
    "InvalidOptionError",
    "LimitExceededError",
    "MassDeleteError",
    "NoPrimaryKeyError",
    "NotFoundError",
    "OwnerGoneError",
    "PayloadTooLargeError",
    "ProtocolError",
    "QueryError",
    "RateLimitedError",
    "ReadOnlyRemoteError",
    "RemoteUnavailableError",
    "RequestTimeoutError",
    "SchemaMismatchError",
    "TableDroppedError",
    "UnsupportedMediaError",
    "UnsupportedVersionError",
    "error_from_wire",
    "error_to_wire",
]


class DucksyncError(Exception):
    """Base of every error ducksync raises on purpose.

    ``hint`` is the next step for the user ("declare a primary key", "log in
    again"); it travels separately so a UI can show it apart from the message.
    ``request_id`` is the server's ``X-Request-ID`` of the request that failed, when a
    server answered: the line to look for in the server's log.
    """

    code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, hint: str | None = None,
                 request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.request_id = request_id

    def __str__(self) -> str:
        text = f"{self.message} ({self.hint})" if self.hint else self.message
        return f"{text} [request id {self.request_id}]" if self.request_id else text


class ProtocolError(DucksyncError):
    """A message that does not follow the protocol (wrong shape, unknown type)."""

    code = "protocol"


class QueryError(DucksyncError):
    """DuckDB rejected a statement; the message is DuckDB's own."""

    code = "query"


class DuckDBCrashedError(QueryError):
    """DuckDB's WebAssembly trapped running a statement (in the browser); it was restarted
    and its database reopened. Running the same statement again would crash it again."""

    code = "duckdb_crashed"


class NoPrimaryKeyError(DucksyncError):
    """A table cannot be synced because no key identifies its rows."""

    code = "no_primary_key"


class InvalidKeyError(DucksyncError):
    """Key values that do not identify rows: NULL in a key column, or a key held by
    several rows. Refused before anything moves: a NULL key cannot be matched with
    the other side (the row would be skipped silently) and a repeated one would
    collapse rows into one."""

    code = "invalid_key"


class InvalidOptionError(DucksyncError):
    """An option of a run (e.g. the conflict policy) has a value ducksync does not know:
    refused before anything moves, the message naming the values it takes."""

    code = "invalid_option"


class SchemaMismatchError(DucksyncError):
    """The two sides' schemas of a table cannot be reconciled automatically."""

    code = "schema_mismatch"


class TableDroppedError(DucksyncError):
    """A table synced before is gone on one side: it stops syncing, the other side keeps
    its copy (never read as "every row deleted"). ``side`` is where it was dropped."""

    code = "table_dropped"

    def __init__(self, message: str, *, hint: str | None = None,
                 request_id: str | None = None, side: str = "local") -> None:
        super().__init__(message, hint=hint, request_id=request_id)
        self.side = side


class MassDeleteError(DucksyncError):
    """A sync would delete more of a table's rows on the other side than allowed; nothing
    changed for that table (allow it explicitly, or restore the rows)."""

    code = "mass_delete"

    def __init__(self, message: str, *, hint: str | None = None,
                 request_id: str | None = None, side: str = "remote", rows: int = 0,
                 of: int = 0) -> None:
        super().__init__(message, hint=hint, request_id=request_id)
        self.side, self.rows, self.of = side, rows, of  # where, how many, of how many


class ConflictError(DucksyncError):
    """Both sides changed the same rows and the policy asks a human to decide."""

    code = "conflict"


class RemoteUnavailableError(DucksyncError):
    """The remote could not be reached; local work is kept and retried later."""

    code = "remote_unavailable"


class AuthError(DucksyncError):
    """Missing, wrong or expired credentials."""

    code = "auth"


class BackupError(DucksyncError):
    """An export or import cannot proceed (table not empty, malformed file); nothing changed."""

    code = "backup"


class LimitExceededError(DucksyncError):
    """A value, batch, table or type is beyond a limit of the remote; nothing of it was
    sent. The message names the table (and row or column), the size and the limit."""

    code = "limit_exceeded"


class PayloadTooLargeError(LimitExceededError):
    """A request body is larger than the server accepts (HTTP 413)."""

    code = "payload_too_large"


class OwnerGoneError(DucksyncError):
    """The tab that owned the database closed while this tab's request was with it.

    The request may or may not have run; it is safe to retry once this tab shows an owner
    again (often itself, a few seconds later).
    """

    code = "owner_gone"


class ReadOnlyRemoteError(DucksyncError):
    """The remote database is read-only for this account: a share attached by another
    account, or a read-scaling token. Only the owning account writes (the cloud remote
    has one writer per database); other users sync through a server that holds the
    owner's token."""

    code = "read_only_remote"


class ForbiddenError(DucksyncError):
    """The caller is signed in but may not do this: a table outside the server's
    allowlist or sync rules, a write to a table the rules make read-only, a drop of a
    table other users share."""

    code = "forbidden"


class UnsupportedVersionError(DucksyncError):
    """An installed component's version is one the other side refuses (MotherDuck accepts a
    window of DuckDB client versions): install one inside the window named in the hint."""

    code = "unsupported_version"


# What only an HTTP edge says (the server raises them, ducksync/server/errors.py maps
# them to statuses); here so that a client rebuilds them typed, not as "internal".
class RateLimitedError(DucksyncError):
    """Too many requests from this client: wait, then retry."""

    code = "rate_limited"


class NotFoundError(DucksyncError):
    """The server has no such route or object."""

    code = "not_found"


class RequestTimeoutError(DucksyncError):
    """The server stopped a request that ran past its time limit."""

    code = "timeout"


class UnsupportedMediaError(DucksyncError):
    """A request body in an encoding the server does not accept."""

    code = "unsupported_media"


_BY_CODE: dict[str, type[DucksyncError]] = {
    cls.code: cls
    for cls in (
        DucksyncError,
        ProtocolError,
        QueryError,
        DuckDBCrashedError,
        NoPrimaryKeyError,
        InvalidKeyError,
        InvalidOptionError,
        SchemaMismatchError,
        TableDroppedError,
        MassDeleteError,
        ConflictError,
        RemoteUnavailableError,
        AuthError,
        BackupError,
        OwnerGoneError,
        ReadOnlyRemoteError,
        UnsupportedVersionError,
        ForbiddenError,
        LimitExceededError,
        PayloadTooLargeError,
        RateLimitedError,
        ForbiddenError,
        NotFoundError,
        RequestTimeoutError,
        UnsupportedMediaError,
    )
}


def error_to_wire(exc: BaseException) -> dict[str, Any]:
    """Describe ``exc`` as plain data; unexpected exceptions keep their class name."""
    if isinstance(exc, DucksyncError):
        wire = {"code": exc.code, "name": type(exc).__name__, "message": exc.message,
                "hint": exc.hint}
        return wire | ({"request_id": exc.request_id} if exc.request_id else {})
    return {"code": DucksyncError.code, "name": type(exc).__name__, "message": str(exc),
            "hint": None}


def error_from_wire(data: dict[str, Any]) -> DucksyncError:
    """Rebuild the typed error described by :func:`error_to_wire`."""
    cls = _BY_CODE.get(str(data.get("code")), DucksyncError)
    message = str(data.get("message") or "unknown error")
    hint, request_id = data.get("hint"), data.get("request_id")
    return cls(message, hint=str(hint) if hint else None,
               request_id=str(request_id) if request_id else None)
