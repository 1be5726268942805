"""The workers' pure logic in CPython: phases, ping before init, dispatch, typed errors."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from ducksync import protocol
from ducksync.errors import QueryError
from ducksync.protocol import Event, Request
from ducksync.worker import WorkerCore, classify_health, is_read_only, tidy_error_message

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on a fresh thread: the sync Playwright tests keep a loop running in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_core() -> tuple[WorkerCore, list[Event], Clock]:
    events: list[Event] = []
    clock = Clock()
    return WorkerCore(name="local", emit=events.append, clock=clock, boot_ms=100.0), events, clock


def wire(request_type: str, request_id: int = 1, **payload: Any) -> dict[str, Any]:
    return Request(id=request_id, type=request_type, payload=payload).to_wire()


def test_phases_are_emitted_with_step_durations() -> None:
    core, events, clock = make_core()
    core.booting("duckdb")
    clock.now = 1.5
    core.settle(protocol.READY)
    assert [(e.payload["phase"], e.payload["step"]) for e in events] == [
        ("booting", "duckdb"), ("ready", None)]
    assert events[-1].payload["steps"] == {"duckdb": 1500.0}
    assert events[-1].payload["elapsed_ms"] == 1600.0  # includes the time before the core


def test_ping_is_answered_while_booting() -> None:
    core, _, _ = make_core()
    core.booting("duckdb")
    reply = run(core.handle(wire(protocol.PING)))
    assert reply is not None and reply.ok
    assert reply.payload["phase"] == "booting" and reply.payload["step"] == "duckdb"


def test_requests_wait_for_ready_then_run() -> None:
    async def scenario() -> Any:
        core, _, _ = make_core()

        async def query(payload: dict[str, Any]) -> dict[str, Any]:
            return {"echo": payload["sql"]}

        core.on(protocol.QUERY, query)
        pending = asyncio.ensure_future(core.handle(wire(protocol.QUERY, sql="SELECT 1")))
        await asyncio.sleep(0)
        assert not pending.done()  # still booting
        core.settle(protocol.READY)
        return await pending

    reply = run(scenario())
    assert reply.ok and reply.payload == {"echo": "SELECT 1"}


def test_failed_worker_refuses_with_its_reason_but_keeps_answering_ping() -> None:
    core, events, _ = make_core()

    async def handler(_: dict[str, Any]) -> dict[str, Any]:
        return {}

    core.on(protocol.QUERY, handler)
    core.on(protocol.REMOTE_HEALTH, handler, when_failed=True)
    core.fail("duckdb: OPFS is locked by another tab")
    assert events[-1].payload["reason"] == "duckdb: OPFS is locked by another tab"
    refused = run(core.handle(wire(protocol.QUERY, sql="SELECT 1")))
    assert refused is not None and refused.error is not None
    assert refused.error["code"] == "worker_failed"
    assert "OPFS is locked" in refused.error["message"]
    assert run(core.handle(wire(protocol.REMOTE_HEALTH, 2))).ok  # type: ignore[union-attr]
    assert run(core.handle(wire(protocol.PING, 3))).ok  # type: ignore[union-attr]


def test_handler_errors_cross_the_boundary_typed() -> None:
    core, _, _ = make_core()

    async def bad(_: dict[str, Any]) -> dict[str, Any]:
        raise QueryError('Parser Error: syntax error at or near "SELEC"')

    core.on(protocol.QUERY, bad)
    core.settle(protocol.READY)
    reply = run(core.handle(wire(protocol.QUERY, sql="SELEC 1")))
    assert reply is not None
    with pytest.raises(QueryError, match="SELEC"):
        reply.unwrap()


def test_malformed_and_unknown_messages_get_protocol_errors() -> None:
    core, _, _ = make_core()
    core.settle(protocol.READY)
    unhandled = run(core.handle(wire(protocol.REMOTE_TABLES)))
    assert unhandled is not None and unhandled.error is not None
    assert unhandled.error["code"] == "protocol"
    bad = run(core.handle({"v": 1, "kind": "request", "id": 4, "type": "nope"}))
    assert bad is not None and bad.error is not None and bad.error["code"] == "protocol"
    assert run(core.handle(Event(type=protocol.LOG).to_wire())) is None


@pytest.mark.parametrize(("sql", "read_only"), [
    ("SELECT 1", True),
    ("  -- comment\n with x AS (SELECT 1) SELECT * FROM x", True),
    ("/* hi */ (SELECT 1)", True),
    ("FROM t", True),
    ("INSERT INTO t VALUES (1)", False),
    ("CREATE TABLE t (i INT)", False),
    ("SELECT 1; DROP TABLE t", False),
    ("", False),
])
def test_is_read_only(sql: str, read_only: bool) -> None:
    assert is_read_only(sql) is read_only


def test_classify_health() -> None:
    assert classify_health(status=200, body={"remote": "duckdb-file"}).state == "connected"
    offline = classify_health(status=None, error="Failed to fetch")
    assert offline.state == "offline" and "Failed to fetch" in (offline.reason or "")
    failed = classify_health(status=503, body={"error": {"message": "cannot open remote"}})
    assert failed.state == "failed" and failed.reason == "cannot open remote"
    assert classify_health(status=500, body=None).reason == "server answered HTTP 500"


def test_tidy_error_message_drops_a_repeated_context_block() -> None:
    twice = ('Parser Error: syntax error at or near "SELEC"\n\nLINE 1: SELEC oops\n        ^'
             '\n\nLINE 1: SELEC oops\n        ^')
    assert tidy_error_message(twice) == (
        'Parser Error: syntax error at or near "SELEC"\n\nLINE 1: SELEC oops\n        ^')
    assert tidy_error_message("Catalog Error: no table t") == "Catalog Error: no table t"


def test_a_pending_querys_error_json_reads_as_duckdbs_text() -> None:
    """The console (pending queries) showed `{"exception_type":"Parser",...}` for a typo,
    and its WITH … DELETE fallback, which looks for "Parser Error", never ran."""
    raw = ('{"exception_type":"Parser","exception_message":"syntax error at or near '
           '\\"SELEC\\"\\n\\nLINE 1: SELEC 1\\n        ^","error_subtype":"SYNTAX_ERROR",'
           '"position":"0"}')
    assert tidy_error_message(raw) == (
        'Parser Error: syntax error at or near "SELEC"\n\nLINE 1: SELEC 1\n        ^')
    assert tidy_error_message('{"exception_type": oops') == '{"exception_type": oops'


def test_a_missing_table_before_the_first_sync_gets_the_way_to_wait_for_it() -> None:
    """A new device's page queried a table still on its way: DuckDB's own answer was
    "Did you mean pg_constraint?"."""
    from ducksync.worker.sql import first_sync_hint

    message = ('Catalog Error: Table with name todos does not exist!\nDid you mean '
               '"pg_constraint"?\n\nLINE 1: SELECT * FROM todos')
    hint = first_sync_hint(message)
    assert hint is not None and "first sync" in hint and "db.sync()" in hint
    assert first_sync_hint("Parser Error: syntax error at or near \"SELEC\"") is None
