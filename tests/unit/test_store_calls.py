"""The ``motherduck`` transport's Python path in CPython: engine → PortRemoteStore →
``remote_call`` messages → :func:`call_store` → SqlRemoteStore → a real DuckDB.

Everything the remote worker runs except the JS connector (tested in the browser by
tests/e2e/test_motherduck_transport.py): the message mapping must give the engine the
same answers as the HTTP mapping, so sync converges, conflicts and replays alike.
"""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import ScalarConnector, do_sync, local_db, rows, run

from ducksync.errors import ProtocolError, SchemaMismatchError
from ducksync.stores.sql_remote import SqlRemoteStore
from ducksync.worker.port_store import PortRemoteStore
from ducksync.worker.store_calls import WHOLE, call_store


def over_messages() -> tuple[PortRemoteStore, Any, list[str]]:
    store = SqlRemoteStore(connector=ScalarConnector(spec=":memory:"), chunk_bytes=WHOLE)
    seen: list[str] = []

    async def transport(method: str, args: dict[str, Any], ipc: Any) -> dict[str, Any]:
        seen.append(method)
        return await call_store(store, method, args, ipc)

    port = PortRemoteStore(transport=transport)
    port.con = store.connector.con  # type: ignore[attr-defined]  # for rows()
    return port, store, seen


def test_sync_through_remote_call_messages_converges() -> None:
    r, _, seen = over_messages()
    a, b = local_db(), local_db()
    a.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR)")
    a.con.execute("INSERT INTO t SELECT i, 'v' || i FROM range(50) x(i)")
    assert do_sync(a, r).converged and do_sync(b, r).converged
    a.con.execute("UPDATE t SET v = 'A' WHERE id = 1")
    b.con.execute("UPDATE t SET v = 'B' WHERE id = 1")
    b.con.execute("DELETE FROM t WHERE id = 2")
    assert do_sync(a, r).converged
    rep = do_sync(b, r, policy="remote-wins").tables[0]
    assert rep.conflicts == 1 and rep.converged
    assert do_sync(a, r).converged
    assert rows(a) == rows(b) == rows(r) and len(rows(r)) == 49
    assert {"survey", "apply_batch", "bucket_hashes", "fetch_rows", "ack_batches"} <= set(seen)


def test_errors_and_unknown_methods_cross_as_typed_errors() -> None:
    r, store, _ = over_messages()
    with pytest.raises(SchemaMismatchError):
        run(r.bucket_checksums("missing", ["id"], 1, 1, []))
    with pytest.raises(ProtocolError):
        run(call_store(store, "drop_everything", {}, None))
    assert run(r.batch_result("never")) is None


def test_verified_answers_cross_the_messages() -> None:
    r, store, _ = over_messages()
    a = local_db()
    a.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR)")
    a.con.execute("INSERT INTO t SELECT i, 'v' || i FROM range(500) x(i)")
    rep = do_sync(a, r, batch_rows=200).tables[0]
    assert rep.paths == ["bulk-push"] and rep.pushed == 500 and rep.converged
    assert rep.bytes_received < 1000  # compact answers: no per-row IPC came back
    assert store.connector.con.execute(  # type: ignore[attr-defined]
        "SELECT count(*) FROM ducksync.ledger_verified").fetchall() == [(0,)]  # acked
    assert do_sync(a, r).tables[0].paths == ["local-unchanged", "remote-unchanged"]
