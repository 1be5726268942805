"""The browser sync's pure pieces in CPython: parameter binding, backoff, schedule, status,
and the port store's request mapping driven end to end against the real server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import duckdb
import httpx
import pyarrow as pa
import pytest

from ducksync.errors import RemoteUnavailableError
from ducksync.stores.native import NativeLocalStore
from ducksync.worker.port_store import PortRemoteStore
from ducksync.worker.remote_calls import HttpAnswer, HttpCall, http_call, serve_call
from ducksync.worker.sql_params import bind
from ducksync.worker.sync_sched import Backoff, Schedule
from ducksync.worker.sync_service import SyncCancelledError, SyncService
from ducksync.worker.sync_status import Progress, SyncStatus

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Own thread + loop (Playwright may keep a loop running in this process)."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the test thread
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]  # type: ignore[no-any-return]


# --- parameter binding ---------------------------------------------------------------

def test_bind_renders_exact_literals_outside_quotes_and_comments() -> None:
    sql = bind("SELECT ?, '?', \"a?\", ? -- ?\n, ?::UBIGINT[], ?, ?", [
        "it's", 2**64 - 1, [1, 2**63], None, True])
    assert sql == ("SELECT 'it''s', '?', \"a?\", 18446744073709551615 -- ?\n, "
                   "[1, 9223372036854775808]::UBIGINT[], NULL, TRUE")
    con = duckdb.connect()
    assert con.execute(bind("SELECT ?::UBIGINT, ?, ?::BLOB, ?", [2**64 - 1, "a'b", b"\x00\xff",
                                                                  1.5])).fetchone() == (
        2**64 - 1, "a'b", b"\x00\xff", 1.5)


def test_bind_counts_placeholders() -> None:
    from ducksync.errors import QueryError
    with pytest.raises(QueryError, match="2 placeholders but 1"):
        bind("SELECT ?, ?", [1])


# --- backoff, schedule, status ---------------------------------------------------------

def test_backoff_grows_exponentially_with_jitter_and_caps() -> None:
    low = Backoff(base_s=1, cap_s=60, rng=lambda: 0.0)
    assert [low.next_delay() for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    high = Backoff(base_s=1, cap_s=60, rng=lambda: 1.0)
    assert [high.next_delay() for _ in range(3)] == [1, 2, 4]
    high.reset()
    assert high.next_delay() == 1


def test_schedule_debounces_writes_and_runs_interval() -> None:
    s = Schedule(interval_s=30, debounce_s=2)
    assert s.next_due(100) == 130  # nothing ran yet: one interval from now
    s.wrote(100)
    s.wrote(101)  # a burst: the last write decides
    assert s.next_due(101) == 103
    mark = s.started(103)
    s.wrote(104)  # written during the run: still due afterwards
    s.finished(mark, 105, ok=True)
    assert s.next_due(105) == 106
    mark = s.started(106)
    s.finished(mark, 107, ok=True)
    assert s.next_due(107) == 137  # write covered: back to the interval
    s.on_write = False
    s.wrote(108)
    assert s.next_due(108) == 137


def test_schedule_backs_off_on_failure_and_reconnect_resets() -> None:
    s = Schedule(interval_s=0, backoff=Backoff(base_s=1, rng=lambda: 1.0))
    assert s.next_due(0) is None  # no interval, no writes: idle
    for expected in (11, 12, 14):
        mark = s.started(10)
        s.finished(mark, 10, ok=False)
        assert s.next_due(10) == expected
    s.set_online(False, 20)
    assert s.next_due(20) is None  # offline: nothing until the network is back
    s.set_online(True, 30)
    assert s.next_due(30) == 30 and s.backoff.failures == 0  # reconnect: now


def test_status_phases_by_priority() -> None:
    st = SyncStatus()
    assert st.phase == "idle"
    st.pending_conflicts = 2
    assert st.phase == "conflict"
    st.end(ok=False, at="t", error={"code": "query", "message": "boom"})
    assert st.phase == "error" and st.last_error == {"code": "query", "message": "boom",
                                                     "at": "t"}
    st.online = False
    assert st.phase == "offline"
    st.begin("manual")
    assert st.phase == "syncing"
    st.online = True
    st.end(ok=True, at="t2")
    assert st.phase == "conflict" and st.last_sync == "t2" and st.last_error is None
    p = Progress(table="t", rows_total=100)
    p.add(25, 1000)
    assert p.to_dict() == {"table": "t", "rows_done": 25, "rows_total": 100,
                           "bytes_done": 1000, "bytes_total": 4000}


# --- the port store's mapping, end to end against the real server ----------------------

def test_http_call_mapping() -> None:
    call = http_call("apply_batch", {"table": "a b", "key": ["id", "k"], "batch_id": "x1"})
    assert (call.method, call.path, call.query, call.body_ipc, call.reply_ipc) == (
        "POST", "/api/v1/sync/tables/a%20b/batches/x1", [("key", "id"), ("key", "k")], True,
        True)
    assert http_call("batch_result", {"batch_id": "x"}).not_found_ok


def _transport(base: str) -> Any:
    async def fetch(call: HttpCall, ipc: Any) -> HttpAnswer:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            r = await client.request(call.method, call.path, params=call.query,
                                     json=call.json, content=ipc if call.body_ipc else None,
                                     headers={"content-type": "application/vnd.apache.arrow"
                                              ".stream"} if call.body_ipc else None)
        arrow = r.headers.get("content-type", "").startswith("application/vnd.apache.arrow")
        return HttpAnswer(status=r.status_code, json=None if arrow else r.json(),
                          ipc=r.content if arrow else None, headers=dict(r.headers),
                          wire=len(r.content),
                          rows=pa.ipc.open_stream(r.content).read_all().num_rows
                          if arrow and r.content else 0)  # empty: a verified answer

    async def transport(method: str, args: dict[str, Any], ipc: Any) -> dict[str, Any]:
        out = await serve_call(method, args, ipc, fetch)
        if method == "apply_batch":
            out["rows_sent"] = pa.ipc.open_stream(ipc).read_all().num_rows
        return out

    return transport


def _service(base: str, path: str, events: list[tuple[str, dict[str, Any]]]) -> SyncService:
    local = NativeLocalStore(spec=path)
    remote = PortRemoteStore(transport=_transport(base))
    return SyncService(local=local, remote=remote,
                       emit=lambda kind, payload: events.append((kind, payload)))


def test_two_devices_converge_through_port_store_and_server(server_url: str,
                                                            tmp_path: Any) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    a = _service(server_url, str(tmp_path / "a.duckdb"), events)
    b = _service(server_url, str(tmp_path / "b.duckdb"), [])
    a_con: Any = a.local
    a_con.con.execute("CREATE TABLE unit_port (id BIGINT PRIMARY KEY, v VARCHAR)")
    a_con.con.execute("INSERT INTO unit_port SELECT range, 'v' || range FROM range(5000)")

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        pushed = await a.sync(tables=["unit_port"], direction="push", batch_rows=1000)
        pulled = await b.sync(tables=["unit_port"], direction="pull")
        return pushed, pulled, await a.sync_log()

    pushed, pulled, log = run(scenario())
    assert pushed["pushed"] == 5000 and pushed["outcome"] == "ok" and pushed["bytes"] > 0
    assert pulled["pulled"] == 5000 and pulled["converged"]
    b_con: Any = b.local
    assert b_con.con.execute("SELECT count(*), sum(id) FROM unit_port").fetchone() == (
        5000, sum(range(5000)))
    assert log[0]["rows_pushed"] == 5000 and log[0]["direction"] == "push"
    progress = [p for kind, p in events if kind == "progress"]
    assert progress[-1]["rows_done"] == 5000 and progress[-1]["rows_total"] == 5000
    phases = [p["phase"] for kind, p in events if kind == "sync"]
    assert phases[0] == "syncing" and phases[-1] == "idle"


def test_cancel_mid_push_then_next_sync_converges(server_url: str, tmp_path: Any) -> None:
    svc = _service(server_url, str(tmp_path / "c.duckdb"), [])
    con: Any = svc.local
    con.con.execute("CREATE TABLE unit_cancel (id BIGINT PRIMARY KEY, v VARCHAR)")
    con.con.execute("INSERT INTO unit_cancel SELECT range, 'x' FROM range(20000)")
    original = svc.remote._transport
    calls = {"n": 0}

    async def slow(method: str, args: dict[str, Any], ipc: Any) -> dict[str, Any]:
        if method == "apply_batch":
            calls["n"] += 1
            if calls["n"] == 3:
                svc.cancel()
        return await original(method, args, ipc)

    svc.remote._transport = slow

    async def scenario() -> tuple[str, dict[str, Any]]:
        try:
            await svc.sync(tables=["unit_cancel"], direction="push", batch_rows=1000)
            first = "finished"
        except SyncCancelledError:
            first = "cancelled"
        svc.remote._transport = original
        return first, await svc.sync(tables=["unit_cancel"], direction="push", batch_rows=1000)

    first, second = run(scenario())
    assert first == "cancelled"
    assert second["converged"] and 0 < second["pushed"] < 20000  # only what was left
    log = run(svc.sync_log())
    assert [r["outcome"] for r in log][::-1] == ["cancelled", "ok"]


def test_a_push_cut_off_mid_batch_resumes_as_soon_as_the_service_starts(
        server_url: str, tmp_path: Any) -> None:
    path = str(tmp_path / "resume.duckdb")
    first = _service(server_url, path, [])
    con: Any = first.local
    con.con.execute("CREATE TABLE unit_resume (id BIGINT PRIMARY KEY, v VARCHAR)")
    con.con.execute("INSERT INTO unit_resume SELECT range, 'x' FROM range(5000)")
    original = first.remote._transport
    applied = {"n": 0}

    async def drops_after_second_apply(method: str, args: dict[str, Any],
                                       ipc: Any) -> dict[str, Any]:
        answer = await original(method, args, ipc)
        if method == "apply_batch":
            applied["n"] += 1
            if applied["n"] == 2:  # the server committed; the answer never arrives
                raise RemoteUnavailableError("connection dropped")
        return answer

    first.remote._transport = drops_after_second_apply
    cut = run(first.sync(tables=["unit_resume"], direction="push", batch_rows=1000))
    assert cut["outcome"] == "error" and cut["error"]["code"] == "remote_unavailable"
    assert run(first.interrupted())
    con.close()

    # A new page on the same database: no interval, no writes, yet it resumes at once.
    second = _service(server_url, path, [])
    second.configure(interval_s=0, on_write=False)

    async def start_and_wait() -> list[dict[str, Any]]:
        task = asyncio.ensure_future(second.run_forever())
        try:
            while not [e for e in await second.sync_log() if e["trigger"] == "resume"]:
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
        return await second.sync_log()

    log = run(asyncio.wait_for(start_and_wait(), 60))
    assert log[0]["trigger"] == "resume" and log[0]["outcome"] == "ok", log[0]
    assert not run(second.interrupted())
    remote = run(_service(server_url, str(tmp_path / "check.duckdb"), []).sync(
        tables=["unit_resume"], direction="pull"))
    assert remote["pulled"] == 5000  # every row once: nothing lost, nothing twice


def test_service_mass_delete_guard_drop_everywhere_and_redownload(server_url: str,
                                                                   tmp_path: Any) -> None:
    """The page's calls (web/sync.js): sync({allowMassDelete}), redownload (a pull naming
    the table), dropEverywhere (SYNC_DROP), over the port store and the real server."""
    a = _service(server_url, str(tmp_path / "a.duckdb"), [])
    con: Any = a.local
    con.con.execute("CREATE TABLE unit_guard (id BIGINT PRIMARY KEY)")
    con.con.execute("INSERT INTO unit_guard SELECT range FROM range(1200)")

    async def scenario() -> list[dict[str, Any]]:
        out = [await a.sync(tables=["unit_guard"])]
        con.con.execute("DELETE FROM unit_guard")
        out.append(await a.sync(tables=["unit_guard"]))  # stopped: the guard
        con.con.execute("INSERT INTO unit_guard SELECT range FROM range(1200)")
        con.con.execute("DROP TABLE unit_guard")
        out.append(await a.sync(tables=["unit_guard"]))  # stopped: dropped here
        out.append(await a.sync(tables=["unit_guard"], direction="pull"))  # redownload
        con.con.execute("DELETE FROM unit_guard")
        out.append(await a.sync(tables=["unit_guard"], allow_mass_delete=True))
        out.append(await a.drop_everywhere("unit_guard"))
        return out

    first, guarded, dropped, restored, allowed, gone = run(scenario())
    assert first["converged"] and first["pushed"] == 1200
    table = guarded["tables"][0]
    assert guarded["outcome"] == "error" and guarded["error"]["code"] == "mass_delete"
    assert table["mass_delete"] == {"side": "remote", "rows": 1200, "of": 1200}
    assert dropped["tables"][0]["dropped_on"] == "local" and dropped["pushed"] == 0
    assert restored["converged"] and restored["pulled"] == 1200
    assert allowed["converged"] and allowed["pushed"] == 1200
    assert gone == {"table": "unit_guard", "local": True, "remote": True}
    assert not con.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = "
                               "'unit_guard'").fetchone()[0]
