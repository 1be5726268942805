"""The protocol envelope: round trips, malformed input, typed errors across the wire."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ducksync import protocol
from ducksync.errors import (
    _BY_CODE,
    DucksyncError,
    NoPrimaryKeyError,
    ProtocolError,
    QueryError,
    error_from_wire,
    error_to_wire,
)
from ducksync.protocol import Event, Reply, Request


def test_request_round_trips_through_json() -> None:
    request = Request(id=7, type=protocol.QUERY, payload={"sql": "SELECT 1"})
    parsed = protocol.parse(json.loads(json.dumps(request.to_wire())))
    assert parsed == request


def test_reply_and_event_round_trip() -> None:
    reply = Reply(id=3, payload={"rows": 2})
    event = Event(type=protocol.PHASE, payload={"worker": "local", "phase": protocol.READY})
    assert protocol.parse(reply.to_wire()) == reply
    assert protocol.parse(event.to_wire()) == event


def test_error_reply_rebuilds_the_same_typed_error() -> None:
    wire = Reply.failure(9, QueryError("Parser Error: syntax error at or near \"SELEC\"")).to_wire()
    parsed = protocol.parse(json.loads(json.dumps(wire)))
    assert isinstance(parsed, Reply) and not parsed.ok
    with pytest.raises(QueryError, match="syntax error"):
        parsed.unwrap()


def test_unexpected_exception_keeps_its_class_name_and_message() -> None:
    wire = error_to_wire(ZeroDivisionError("division by zero"))
    assert wire["name"] == "ZeroDivisionError"
    rebuilt = error_from_wire(wire)
    assert type(rebuilt) is DucksyncError
    assert rebuilt.message == "division by zero"


def test_hint_survives_the_trip() -> None:
    exc = NoPrimaryKeyError("table `t` has no primary key", hint="declare one or pass --key")
    rebuilt = error_from_wire(json.loads(json.dumps(error_to_wire(exc))))
    assert isinstance(rebuilt, NoPrimaryKeyError)
    assert rebuilt.hint == "declare one or pass --key"
    assert "pass --key" in str(rebuilt)


@pytest.mark.parametrize("cls", sorted(_BY_CODE.values(), key=lambda c: c.code),
                         ids=lambda c: c.code)
def test_every_typed_error_survives_the_trip_with_its_request_id(
        cls: type[DucksyncError]) -> None:
    """Regression: a class with its own __init__ (TableDroppedError) refused the
    request_id every rebuilt error gets, and the CLI crashed with a TypeError."""
    wire = {**error_to_wire(cls("boom", hint="do this")), "request_id": "req-7"}
    rebuilt = error_from_wire(json.loads(json.dumps(wire)))
    assert type(rebuilt) is cls and rebuilt.hint == "do this"
    assert rebuilt.request_id == "req-7"


@pytest.mark.parametrize("code", ["rate_limited", "forbidden", "not_found", "timeout",
                                  "unsupported_media", "payload_too_large"])
def test_the_servers_own_codes_reach_a_client_typed(code: str) -> None:
    """Regression: codes only the server raised (429, 403, 404, 504, 415) came back to
    clients as ``internal``, so a program could not tell "too fast" from a bug."""
    from ducksync.server.errors import STATUS_BY_CODE

    rebuilt = error_from_wire({"code": code, "message": "m", "hint": "h"})
    assert rebuilt.code == code and type(rebuilt) is not DucksyncError
    assert STATUS_BY_CODE[code] != 500


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        ("not an object", "must be an object"),
        ({"kind": "request", "id": 1, "type": "ping"}, "version"),
        ({"v": 1, "kind": "shout"}, "unknown message kind"),
        ({"v": 1, "kind": "request", "id": "x", "type": "ping"}, "id must be an integer"),
        ({"v": 1, "kind": "request", "id": 1.5, "type": "ping"}, "id must be an integer"),
        ({"v": 1, "kind": "request", "id": True, "type": "ping"}, "id must be an integer"),
        ({"v": 1, "kind": "request", "id": 1, "type": "drop_everything"}, "unknown message type"),
        ({"v": 1, "kind": "request", "id": 1, "type": "ping", "payload": [1]}, "payload"),
        ({"v": 1, "kind": "reply", "id": 1, "ok": False}, "error object"),
        ({"v": 1, "kind": "event", "type": "nope"}, "unknown message type"),
    ],
)
def test_malformed_messages_are_named(message: Any, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        protocol.parse(message)


def test_error_reply_for_malformed_request_keeps_its_id() -> None:
    data = {"v": 1, "kind": "request", "id": 4, "type": "bogus"}
    try:
        protocol.parse(data)
    except ProtocolError as exc:
        reply = protocol.error_reply_for(data, exc)
    assert reply is not None and reply.id == 4
    assert reply.error is not None and reply.error["code"] == "protocol"
    assert protocol.error_reply_for("garbage", ValueError()) is None


def test_js_module_exports_every_request_and_event_type() -> None:
    source = protocol.js_module()
    for name in protocol.REQUEST_TYPES | protocol.EVENT_TYPES:
        assert f'"{name}"' in source
    assert "export const VERSION = Object.freeze(1);" in source
