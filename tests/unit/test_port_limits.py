"""The page's remote (PortRemoteStore) under a server's body limit, in CPython: the
engine learns the limit from the run's survey (as the server sends it), cuts batches
under it, and a row that can never fit is refused before the remote table is created
or the row is sent. Its errors keep the server's request id."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import ScalarConnector, do_sync, local_db, rows

from ducksync.errors import DucksyncError
from ducksync.stores.sql_remote import SqlRemoteStore
from ducksync.worker.port_store import PortRemoteStore, size_of
from ducksync.worker.remote_calls import http_call, reply_value
from ducksync.worker.store_calls import WHOLE, call_store

LIMIT = 8192


def limited() -> tuple[PortRemoteStore, list[tuple[str, int]]]:
    """A remote behind messages that announces a body limit of ``LIMIT`` as the server
    does: in ``config`` and in every ``survey`` answer."""
    store = SqlRemoteStore(connector=ScalarConnector(spec=":memory:"), chunk_bytes=WHOLE)
    seen: list[tuple[str, int]] = []

    async def transport(method: str, args: dict[str, Any], ipc: Any) -> dict[str, Any]:
        seen.append((method, size_of(ipc)))
        if method == "config":
            return {"value": {"max_body_bytes": LIMIT}}
        answer = await call_store(store, method, args, ipc)
        if method == "survey":
            answer["value"]["max_body_bytes"] = LIMIT
        return answer

    port = PortRemoteStore(transport=transport)
    port.con = store.connector.con  # type: ignore[attr-defined]  # for rows()
    return port, seen


def test_batches_stay_under_the_limit_and_every_row_goes() -> None:
    remote, seen = limited()
    a = local_db()
    a.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR)")
    a.con.execute("INSERT INTO t SELECT i, repeat('x', 1000) FROM range(40) x(i)")
    a.con.execute("INSERT INTO t VALUES (99, repeat('y', 7000))")  # alone, under the limit
    assert do_sync(a, remote).converged
    a.con.execute("UPDATE t SET v = upper(v)")
    assert do_sync(a, remote).converged  # the regular push, not the bulk path
    assert rows(a) == rows(remote)
    applies = [size for method, size in seen if method == "apply_batch"]
    assert len(applies) > 10 and max(applies) <= LIMIT


def test_a_row_over_the_limit_is_refused_before_the_table_is_created() -> None:
    remote, seen = limited()
    a = local_db()
    a.con.execute("CREATE TABLE t (id VARCHAR PRIMARY KEY, v BLOB)")
    a.con.execute("INSERT INTO t VALUES ('small', 'x'::BLOB), "
                  "('huge', repeat('z', 9000)::BLOB)")  # 4 + 9,000 bytes of values
    error = do_sync(a, remote).tables[0].error
    assert error is not None and error["code"] == "payload_too_large"
    assert "row (id)=('huge') of table 't' is 9,004 bytes" in error["message"]
    assert f"{LIMIT:,} bytes" in error["message"]
    assert not {"create_table", "apply_batch"} & {method for method, _ in seen}


def test_the_pages_remote_keeps_the_request_id_of_a_server_error() -> None:
    call = http_call("list_tables", {})
    answer = {"error": {"code": "forbidden", "message": "not allowed", "hint": None}}
    with pytest.raises(DucksyncError) as raised:
        reply_value("list_tables", call, 403, answer, {"x-request-id": "req-42"})
    assert raised.value.request_id == "req-42"
    assert "[request id req-42]" in str(raised.value)
