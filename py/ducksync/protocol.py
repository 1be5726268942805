"""The one protocol spoken across every thread boundary: main thread ↔ workers ↔ worker.

Python is the source of truth; ``python -m ducksync.protocol`` emits the same
constants as an ES module for the JavaScript side (built, not committed).

Three kinds of message share one envelope, each a plain object (structured-clone
and JSON friendly; bulk bytes ride as ArrayBuffers in a transfer list):

* ``request``  ``{"v": 1, "kind": "request", "id": 7, "type": "query", "payload": {...}}``
* ``reply``    ``{"v": 1, "kind": "reply", "id": 7, "ok": true, "payload": {...}}`` or
               ``{"v": 1, "kind": "reply", "id": 7, "ok": false, "error": {code, name, ...}}``
* ``event``    ``{"v": 1, "kind": "event", "type": "phase", "payload": {...}}``

Events (phase, log, progress) carry no id and are routed before any pending-request
lookup; every exception is caught at the boundary and sent as an error reply, then
rebuilt as the same typed error on the other side (see :mod:`ducksync.errors`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ducksync.errors import DucksyncError, ProtocolError, error_from_wire, error_to_wire

VERSION: Final = 1

# Requests a worker answers.
PING: Final = "ping"  # answered in every phase, even before init
QUERY: Final = "query"  # {"sql"} -> {"ipc": bytes, "rows": int, "columns": [...]}
EXEC: Final = "exec"  # {"sql"} -> {"ok": true}
CONNECT_PORT: Final = "connect_port"  # {"peer": "local"|"remote"}; the port rides in the transfer
REMOTE_HEALTH: Final = "remote_health"  # {} -> {"status": "connected"|"offline"|"failed", ...}
REMOTE_TABLES: Final = "remote_tables"  # {} -> {"tables": [{"name", "rows"}]}
PEER_PING: Final = "peer_ping"  # {} -> the peer's ping reply, asked over the CONNECT_PORT channel

# Sync (local worker; see ducksync.worker.sync_service and web/sync.js).
SYNC: Final = "sync"  # {tables?, direction?, policy?, batch_rows?, allow_mass_delete?} -> {...}
SYNC_CANCEL: Final = "sync_cancel"  # {} -> {"cancelled": bool}
SYNC_CONFIGURE: Final = "sync_configure"  # {interval_s?, on_write?, policy?, ...} -> settings
SYNC_STATUS: Final = "sync_status"  # {} -> the sync status (same as the SYNC_STATE event)
SYNC_CONFLICTS: Final = "sync_conflicts"  # {table?} -> {"conflicts": [...]}
SYNC_RESOLVE: Final = "sync_resolve"  # {table, key, take: "local"|"remote"} -> {"pending"}
SYNC_TABLES: Final = "sync_tables"  # {} -> {"tables": [{table, rows, synced, ...}]}
SYNC_LOG: Final = "sync_log"  # {limit?} -> {"runs": [...]} (rows of ducksync.sync_log)
SYNC_DROP: Final = "sync_drop"  # {table} -> {table, local, remote}: dropped on both sides
SYNC_REJECTIONS: Final = "sync_rejections"  # {table?} -> {"rejections": [...]}: rows the
#                                              server's sync rules refused, kept here
SYNC_REJECTION: Final = "sync_rejection"  # {table, key, action: discard|retry} -> {"pending"}
# {only?, tables?, table?, held?, keep_local?} -> {all, held, not_held}; {} reads them
SYNC_SUBSCRIBE: Final = "sync_subscribe"
# Backup (local worker; ducksync.worker.backup_service, web/backup.js).
BACKUP_EXPORT: Final = "backup_export"  # {format: sql|csv, tables?} -> csv {data}; sql {export_id,
#                                          chunk, done}: the page pulls the rest with BACKUP_NEXT
BACKUP_NEXT: Final = "backup_next"  # {export_id, close?} -> {chunk: str | null, done}
BACKUP_IMPORT: Final = "backup_import"  # {data (transferred), format?, replace?} -> {tables, rows}
# SQL console (local worker, own connection; ducksync.worker.console_service, web/console.js).
CONSOLE_RUN: Final = "console_run"  # {sql, cursor?, page_rows?} -> {kind: "table", result,
#                                      columns, total, ipc, ms} | {kind: "raw", ipc, statement, ms}
CONSOLE_PAGE: Final = "console_page"  # {result, offset, limit} -> {ipc}: rows as DuckDB's text
CONSOLE_CANCEL: Final = "console_cancel"  # {} -> {"cancelled": bool}
CONSOLE_EXPORT: Final = "console_export"  # {result, format: csv|arrow} -> {data}
CONSOLE_HISTORY: Final = "console_history"  # {search?, limit?} -> {entries: [...]}
# Local worker -> remote worker over the CONNECT_PORT channel: one RemoteStore method.
REMOTE_CALL: Final = "remote_call"  # {method, args, ipc?} -> {value, ipc?, wire, ...}
# Main thread -> remote worker: which way it reaches the remote (docs/transports.md). The
# token lives only in the remote worker's memory and never comes back in a reply or error.
REMOTE_TRANSPORT: Final = "remote_transport"  # {transport: proxy|motherduck, token?,
#                                                database?, service?} -> {transport, remote}
# Main thread -> remote worker: the app's bearer token (connect({getToken}), answering
# TOKEN_NEEDED); kept in that worker's memory only, never echoed (ducksync.worker.bearer).
REMOTE_TOKEN: Final = "remote_token"  # {token, expires_at?} | {error, code?} -> {}

REQUEST_TYPES: Final = frozenset({PING, QUERY, EXEC, CONNECT_PORT, REMOTE_HEALTH, REMOTE_TABLES,
                                  PEER_PING, SYNC, SYNC_CANCEL, SYNC_CONFIGURE, SYNC_STATUS,
                                  SYNC_CONFLICTS, SYNC_RESOLVE, SYNC_TABLES, SYNC_LOG,
                                  SYNC_DROP, SYNC_REJECTIONS, SYNC_REJECTION, REMOTE_CALL,
                                  REMOTE_TRANSPORT, REMOTE_TOKEN, BACKUP_EXPORT, BACKUP_NEXT,
                                  BACKUP_IMPORT, CONSOLE_RUN, CONSOLE_PAGE, CONSOLE_CANCEL,
                                  CONSOLE_EXPORT, CONSOLE_HISTORY, SYNC_SUBSCRIBE})

# Events a worker emits.
PHASE: Final = "phase"  # {"worker", "phase", "step"?, "reason"?, "elapsed_ms"}
LOG: Final = "log"  # {"level", "message"}
PROGRESS: Final = "progress"  # sync: {table, rows_done, rows_total, bytes_done, bytes_total};
#                                backup: {task: "backup", phase, table, rows_done, rows_total, ...}

SYNC_STATE: Final = "sync"  # the sync status: {phase, progress, last_sync, last_error, ...}
CONFLICT: Final = "conflict"  # {pending, conflicts, tables}: a sync found conflicts
# Remote worker -> its own tab only (never mirrored to other tabs): call getToken() and
# answer with REMOTE_TOKEN. {reason: "start" | "expiring" | "refused"}
TOKEN_NEEDED: Final = "token_needed"
REJECTION: Final = "rejection"  # {pending, tables}: the server's sync rules refused rows

CHANGED: Final = "changed"  # {}: a statement that may change tables or rows ran (page SQL)
RESTARTED: Final = "restarted"  # {reason}: DuckDB crashed and was restarted, database reopened

EVENT_TYPES: Final = frozenset({PHASE, LOG, PROGRESS, SYNC_STATE, CONFLICT, TOKEN_NEEDED,
                                REJECTION, CHANGED, RESTARTED})

# Worker phases shown in the status bar.
BOOTING: Final = "booting"
READY: Final = "ready"
FAILED: Final = "failed"
# Remote connectivity, reported by the remote worker.
CONNECTED: Final = "connected"
OFFLINE: Final = "offline"

# Tabs of one origin, main thread to main thread over a BroadcastChannel (web/tabs.js).
# The owner tab (holder of the Web Lock) runs the workers; followers send it the same
# request envelopes (plus "worker", "from", "to") and get the same replies back.
TAB_HELLO: Final = "tab_hello"  # follower -> all {"tab"}: who owns the database?
TAB_OWNER: Final = "tab_owner"  # owner -> all {"tab", "since", "phases"}: on takeover and on hello
TAB_GONE: Final = "tab_gone"  # owner -> all {"tab"}: the owner tab is closing
TAB_EVENT: Final = "tab_event"  # owner -> all {"tab", "worker", "message"}: a mirrored event
# A tab's role.
OWNER: Final = "owner"
FOLLOWER: Final = "follower"
PENDING: Final = "pending"  # before the lock has answered

Kind = Literal["request", "reply", "event"]


@dataclass(frozen=True, slots=True)
class Request:
    """Something one side asks the other to do; answered by exactly one :class:`Reply`."""

    id: int
    type: str
    payload: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"v": VERSION, "kind": "request", "id": self.id, "type": self.type,
                "payload": self.payload}


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to request ``id``: a payload, or an error that rebuilds as a typed exception."""

    id: int
    payload: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failure(cls, request_id: int, exc: BaseException) -> Reply:
        return cls(id=request_id, error=error_to_wire(exc))

    def unwrap(self) -> dict[str, Any]:
        """Return the payload, or raise the error the other side raised."""
        if self.error is not None:
            raise error_from_wire(self.error)
        return self.payload

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"v": VERSION, "kind": "reply", "id": self.id, "ok": self.ok}
        if self.error is None:
            wire["payload"] = self.payload
        else:
            wire["error"] = self.error
        return wire


@dataclass(frozen=True, slots=True)
class Event:
    """A notification with no reply: phase changes, logs, progress."""

    type: str
    payload: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"v": VERSION, "kind": "event", "type": self.type, "payload": self.payload}


Message = Request | Reply | Event


def parse(data: object) -> Message:
    """Validate a received object and return the typed message.

    Raises :class:`ProtocolError` naming what is wrong, so a malformed message gets
    a clear answer instead of a crash deep inside a handler.
    """
    if not isinstance(data, Mapping):
        raise ProtocolError(f"message must be an object, got {type(data).__name__}",
                            hint="send {v, kind, ...} as described in ducksync.protocol")
    if data.get("v") != VERSION:
        raise ProtocolError(f"unsupported protocol version {data.get('v')!r}",
                            hint=f"client and worker must both speak version {VERSION}; reload")
    kind = data.get("kind")
    payload = data.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        raise ProtocolError("payload must be an object")
    if kind == "request":
        return Request(id=_message_id(data), type=_known(data, REQUEST_TYPES),
                       payload=dict(payload))
    if kind == "reply":
        error = data.get("error")
        if not data.get("ok", error is None):
            if not isinstance(error, Mapping):
                raise ProtocolError("a failed reply must carry an error object")
            return Reply(id=_message_id(data), error=dict(error))
        return Reply(id=_message_id(data), payload=dict(payload))
    if kind == "event":
        return Event(type=_known(data, EVENT_TYPES), payload=dict(payload))
    raise ProtocolError(f"unknown message kind {kind!r}",
                        hint="kind must be 'request', 'reply' or 'event'")


def _message_id(data: Mapping[str, Any]) -> int:
    value = data.get("id")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ProtocolError(f"message id must be an integer, got {value!r}")
    return int(value)


def _known(data: Mapping[str, Any], allowed: frozenset[str]) -> str:
    value = data.get("type")
    if not isinstance(value, str) or value not in allowed:
        raise ProtocolError(f"unknown message type {value!r}",
                            hint=f"expected one of: {', '.join(sorted(allowed))}")
    return value


def error_reply_for(data: object, exc: BaseException) -> Reply | None:
    """Best-effort error reply to a message we could not handle (None if it had no id)."""
    if isinstance(data, Mapping):
        try:
            return Reply.failure(_message_id(data), exc)
        except DucksyncError:
            return None
    return None


def js_module() -> str:
    """The protocol constants as an ES module, generated so JS never drifts from Python."""
    constants = {
        "VERSION": VERSION,
        "REQUEST": {name: globals()[name] for name in
                    ("PING", "QUERY", "EXEC", "CONNECT_PORT", "REMOTE_HEALTH", "REMOTE_TABLES",
                     "PEER_PING", "SYNC", "SYNC_CANCEL", "SYNC_CONFIGURE", "SYNC_STATUS",
                     "SYNC_CONFLICTS", "SYNC_RESOLVE", "SYNC_TABLES", "SYNC_LOG", "SYNC_DROP",
                     "SYNC_REJECTIONS", "SYNC_REJECTION", "REMOTE_CALL", "REMOTE_TOKEN",
                     "REMOTE_TRANSPORT", "BACKUP_EXPORT", "BACKUP_NEXT", "BACKUP_IMPORT",
                     "CONSOLE_RUN", "CONSOLE_PAGE", "CONSOLE_CANCEL", "CONSOLE_EXPORT",
                     "CONSOLE_HISTORY", "SYNC_SUBSCRIBE")},
        "EVENT": {name: globals()[name] for name in ("PHASE", "LOG", "PROGRESS", "SYNC_STATE",
                                                     "CONFLICT", "TOKEN_NEEDED", "REJECTION",
                                                     "CHANGED", "RESTARTED")},
        "STATE": {name: globals()[name] for name in
                  ("BOOTING", "READY", "FAILED", "CONNECTED", "OFFLINE")},
        "TAB": {name: globals()[name] for name in
                ("TAB_HELLO", "TAB_OWNER", "TAB_GONE", "TAB_EVENT", "OWNER", "FOLLOWER",
                 "PENDING")},
    }
    lines = ["// Generated by `python -m ducksync.protocol`; edit py/ducksync/protocol.py instead."]
    lines += [f"export const {key} = Object.freeze({json.dumps(value)});"
              for key, value in constants.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - exercised by the asset build
    sys.stdout.write(js_module())
