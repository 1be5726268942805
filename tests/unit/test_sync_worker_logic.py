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

from ducksync.errors import DucksyncError, RemoteUnavailableError
from ducksync.stores.native import NativeLocalStore, NativeRemoteStore
from ducksync.worker.port_store import PortRemoteStore
from ducksync.worker.remote_calls import HttpAnswer, HttpCall, http_call, serve_call
from ducksync.worker.sql_params import bind
from ducksync.worker.sync_sched import Backoff, Schedule
from ducksync.worker.sync_service import SyncCancelledError, SyncService
from ducksync.worker.sync_status import Progress, SyncStatus
from serviceutil import status_at_start

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


def test_schedule_syncs_at_start_then_on_the_interval_without_any_write() -> None:
    s = Schedule(interval_s=30)
    assert s.next_due(100) == 100 and s.trigger(100) == "start"  # a page that loaded
    mark = s.started(100)
    s.finished(mark, 101, ok=True)
    for now in (102, 120, 130):  # looking again must not push the due time forward
        assert s.next_due(now) == 131
    assert s.trigger(131) == "interval"


def test_schedule_interval_does_not_move_forward_before_the_first_sync() -> None:
    s = Schedule(interval_s=30, start_pending=False)  # a page that syncs only when asked
    assert [s.next_due(now) for now in (100, 110, 129)] == [130, 130, 130]


def test_schedule_debounces_writes_and_runs_interval() -> None:
    s = Schedule(interval_s=30, debounce_s=2, start_pending=False)
    assert s.next_due(100) == 130  # no sync ran yet: one interval from the first look
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
    assert s.next_due(0) == 0  # the sync at start
    s.started(0)
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
    assert st.phase == "pending"  # no sync proved anything yet
    st.pending_conflicts = 2
    assert st.phase == "conflict"
    st.end(outcome="error", at="t", error={"code": "query", "message": "boom"})
    assert st.phase == "error" and st.last_error == {"code": "query", "message": "boom",
                                                     "at": "t"}
    st.online = False
    assert st.phase == "offline"
    st.begin("manual")
    assert st.phase == "syncing"
    st.online = True
    st.end(outcome="ok", at="t2", proved=True)
    assert st.phase == "conflict" and st.last_sync == "t2" and st.last_error is None
    st.pending_conflicts = 0
    assert st.phase == "idle" and st.to_dict()["in_sync"]
    st.wrote()
    assert st.phase == "pending" and st.to_dict()["unsent"] is None
    st.end(outcome="cancelled", at="t3")
    assert st.phase == "pending" and st.last_sync == "t2"  # cancelled is not failed
    p = Progress(table="t", rows_total=100, started=0.0)
    assert p.eta_s(now=5.0) is None  # nothing moved yet: no pace to go by
    p.add(25, 1000)
    assert {k: v for k, v in p.to_dict().items() if k != "eta_s"} == {
        "table": "t", "rows_done": 25, "rows_total": 100, "bytes_done": 1000,
        "bytes_total": 4000}
    assert p.eta_s(now=10.0) == 30.0  # 25 rows in 10 s: 75 rows left take 30 s
    p.add(75, 3000)
    assert p.eta_s(now=40.0) == 0.0


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
    # a push of one table proves nothing about what the remote holds: not "in sync"
    assert phases[0] == "syncing" and phases[-1] == "pending"


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


# --- start sync, honest status, every conflict kind (own server: whole-database syncs) ---

@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from serverutil import running_server

    with running_server(tmp_path_factory.mktemp("own-server")) as running:
        yield running.url


def _con(svc: SyncService) -> Any:
    local: Any = svc.local
    return local.con


def test_a_new_device_pulls_at_start_without_any_write(own_server: str, tmp_path: Any) -> None:
    a = _service(own_server, str(tmp_path / "a.duckdb"), [])
    _con(a).execute("CREATE TABLE start_items (id BIGINT PRIMARY KEY, v VARCHAR)")
    _con(a).execute("INSERT INTO start_items SELECT range, 'v' FROM range(300)")
    assert run(a.sync())["pushed"] == 300
    # A new device: no interval, no write, nothing asked; it must still pull at start.
    events: list[tuple[str, dict[str, Any]]] = []
    b = _service(own_server, str(tmp_path / "b.duckdb"), events)
    b.configure(interval_s=0, on_write=False)

    async def start_and_wait() -> list[dict[str, Any]]:
        task = asyncio.ensure_future(b.run_forever())
        try:
            while not await b.sync_log():
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
        return await b.sync_log()

    log = run(asyncio.wait_for(start_and_wait(), 60))
    assert log[0]["trigger"] == "start" and log[0]["rows_pulled"] == 300, log[0]
    assert _con(b).execute("SELECT count(*) FROM start_items").fetchone() == (300,)
    assert [p["rows_done"] for k, p in events if k == "progress"][-1] == 300
    assert b.snapshot()["phase"] == "idle" and b.snapshot()["in_sync"]


def test_status_is_in_sync_only_when_proved_and_counts_unsent_changes(
        own_server: str, tmp_path: Any) -> None:
    svc = _service(own_server, str(tmp_path / "s.duckdb"), [])
    assert svc.snapshot()["phase"] == "pending" and not svc.snapshot()["in_sync"]
    _con(svc).execute("CREATE TABLE honest_notes (id BIGINT PRIMARY KEY, body VARCHAR)")
    _con(svc).execute("INSERT INTO honest_notes SELECT range, 'v0' FROM range(1000)")
    svc.wrote()
    assert svc.snapshot()["unsent"] is None  # written, not counted yet
    assert run(svc.count_unsent())["honest_notes"] == 1000  # never synced: every row waits
    assert run(svc.sync())["outcome"] == "ok"
    status = svc.snapshot()
    assert status["phase"] == "idle" and status["in_sync"] and status["unsent"] == 0
    # three edits made offline: not in sync, three changes counted, per table too
    svc.set_online(False)
    _con(svc).execute("UPDATE honest_notes SET body = 'edited' WHERE id IN (1, 2)")
    _con(svc).execute("INSERT INTO honest_notes VALUES (5000, 'new')")
    svc.wrote()
    assert not svc.snapshot()["in_sync"]
    # the total is unknown: no table's older count (0) is claimed either
    assert svc.snapshot()["unsent"] is None
    assert svc.snapshot()["unsent_tables"]["honest_notes"] is None  # was 0
    assert run(svc.count_unsent())["honest_notes"] == 3
    assert svc.snapshot()["unsent"] == 3
    tables = {t["table"]: t for t in run(svc.tables())}
    assert tables["honest_notes"]["unsent"] == 3
    svc.set_online(True)
    assert run(svc.sync())["pushed"] == 3
    assert svc.snapshot()["in_sync"] and svc.snapshot()["unsent"] == 0
    # a keyless table no sync covers: the status names it (the badge does not say
    # "in sync" alone), as the tables list does
    _con(svc).execute("CREATE TABLE honest_scratch (v VARCHAR)")
    assert {t["table"]: t for t in run(svc.tables())}["honest_scratch"]["primary_key"] == []
    assert svc.snapshot()["keyless_tables"] == ["honest_scratch"]
    _con(svc).execute("DROP TABLE honest_scratch")
    run(svc.tables())
    assert svc.snapshot()["keyless_tables"] == []
    # a sync of some tables proves only those: the device is not called in sync
    _con(svc).execute("CREATE TABLE honest_other (id BIGINT PRIMARY KEY)")
    svc.wrote()
    run(svc.sync(tables=["honest_notes"]))
    assert svc.snapshot()["phase"] == "pending"


def test_a_table_whose_last_run_failed_is_not_listed_as_synced(
        own_server: str, tmp_path: Any) -> None:
    svc = _service(own_server, str(tmp_path / "f.duckdb"), [])
    _con(svc).execute("CREATE TABLE failing_notes (id BIGINT PRIMARY KEY, body VARCHAR, "
                      "done BOOLEAN)")
    _con(svc).execute("INSERT INTO failing_notes VALUES (1, 'a', true)")
    assert run(svc.sync())["outcome"] == "ok"
    assert run(svc.tables())[0]["error"] is None
    _con(svc).execute("ALTER TABLE failing_notes DROP COLUMN done")  # stops the table
    assert run(svc.sync())["outcome"] == "error"
    entry = {t["table"]: t for t in run(svc.tables())}["failing_notes"]
    assert entry["synced"] and entry["error"]["code"] == "schema_mismatch", entry
    # the column back with its values: the table syncs again and the error goes
    _con(svc).execute("ALTER TABLE failing_notes ADD COLUMN done BOOLEAN")
    _con(svc).execute("UPDATE failing_notes SET done = true")
    assert run(svc.sync())["outcome"] == "ok"
    assert run(svc.tables())[0]["error"] is None


def test_a_cancelled_sync_is_not_a_failed_one(own_server: str, tmp_path: Any) -> None:
    svc = _service(own_server, str(tmp_path / "cancel.duckdb"), [])
    _con(svc).execute("CREATE TABLE honest_cancel (id BIGINT PRIMARY KEY)")
    _con(svc).execute("INSERT INTO honest_cancel SELECT range FROM range(5000)")
    original = svc.remote._transport

    async def cancels(method: str, args: dict[str, Any], ipc: Any) -> dict[str, Any]:
        if method == "apply_batch":
            svc.cancel()
        return await original(method, args, ipc)

    svc.remote._transport = cancels
    sent: list[str] = []
    local: Any = svc.local
    execute = local.execute

    async def recorded(sql: str, params: Any = ()) -> None:
        sent.append(sql)
        await execute(sql, params)

    local.execute = recorded
    with pytest.raises(SyncCancelledError):
        run(svc.sync(batch_rows=1000))
    status = svc.snapshot()
    assert status["phase"] == "pending" and status["last_outcome"] == "cancelled"
    assert status["last_error"] is None and not status["in_sync"]
    # cancelled in a remote call, no local transaction open: nothing to roll back (a
    # blanket ROLLBACK here failed with "no transaction is active", or could end a
    # transaction that was not the sync's)
    assert "ROLLBACK" not in sent, sent
    svc.remote._transport = original
    run(svc.sync(batch_rows=1000))  # and the next sync converges
    assert svc.snapshot()["last_outcome"] == "ok" and svc.snapshot()["in_sync"]


def test_every_conflict_kind_is_listed_with_its_kind_and_resolvable(
        own_server: str, tmp_path: Any) -> None:
    a = _service(own_server, str(tmp_path / "ka.duckdb"), [])
    b = _service(own_server, str(tmp_path / "kb.duckdb"), [])
    _con(a).execute("CREATE TABLE kinds (id BIGINT PRIMARY KEY, body VARCHAR)")
    _con(a).execute("INSERT INTO kinds SELECT range, 'v0' FROM range(4)")
    run(a.sync(tables=["kinds"]))
    run(b.sync(tables=["kinds"]))
    _con(a).execute("UPDATE kinds SET body = 'a' WHERE id IN (1, 3)")
    _con(a).execute("DELETE FROM kinds WHERE id = 2")
    _con(a).execute("INSERT INTO kinds VALUES (9, 'a')")
    _con(b).execute("UPDATE kinds SET body = 'b' WHERE id IN (1, 2)")
    _con(b).execute("DELETE FROM kinds WHERE id = 3")
    _con(b).execute("INSERT INTO kinds VALUES (9, 'b')")
    run(a.sync(tables=["kinds"]))
    assert run(b.sync(tables=["kinds"], policy="manual"))["pending_conflicts"] == 4
    # a reloaded page shows them at start, not only once its first sync ends
    reloaded = SyncService(local=b.local, remote=b.remote, emit=lambda kind, payload: None)
    assert run(status_at_start(reloaded))["pending_conflicts"] == 4
    listed = {c["key"]: c for c in run(b.conflicts())}
    assert {k: c["kind"] for k, c in listed.items()} == {
        "1": "update/update", "2": "update/delete", "3": "delete/update",
        "9": "insert/insert"}
    assert listed["3"]["local"] is None and "'body': a" in listed["3"]["remote"]
    assert listed["2"]["remote"] is None and "'body': b" in listed["2"]["local"]
    for key, take in (("1", "local"), ("2", "local"), ("3", "remote"), ("9", "remote")):
        run(b.resolve("kinds", key, take))
    assert run(b.conflicts()) == []
    assert run(b.sync(tables=["kinds"]))["converged"]
    run(a.sync(tables=["kinds"]))
    rows = "SELECT id, body FROM kinds ORDER BY id"
    assert _con(a).execute(rows).fetchall() == _con(b).execute(rows).fetchall() == [
        (0, "v0"), (1, "b"), (2, "b"), (3, "a"), (9, "a")]


def test_a_first_sync_cancelled_while_the_state_is_made_counts_without_a_failing_query(
) -> None:
    """A fresh database whose first sync is cancelled before the engine made its tables
    (a page closed at once): the status counts make them rather than query a missing
    ``ducksync.rejections`` (a Catalog Error in the page's log, the counts left stale)."""

    async def down(method: str, args: dict[str, Any], ipc: Any) -> dict[str, Any]:
        raise RemoteUnavailableError("no server in this test")

    local = NativeLocalStore(spec=":memory:")
    svc = SyncService(local=local, remote=PortRemoteStore(transport=down),
                      emit=lambda kind, payload: None)
    failed: list[str] = []
    plain_execute, plain_fetch = local.execute, local.fetch_rows

    async def scenario() -> None:
        making = asyncio.Event()

        async def execute(sql: str, params: Any = ()) -> None:
            if "ducksync.rejections (" in sql and not making.is_set():
                making.set()
                await asyncio.Event().wait()  # held here until the sync is cancelled
            await plain_execute(sql, params)

        async def fetch_rows(sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
            try:
                return await plain_fetch(sql, params)
            except DucksyncError as exc:
                failed.append(f"{sql}: {exc}")
                raise

        local.execute, local.fetch_rows = execute, fetch_rows  # type: ignore[method-assign]
        task = asyncio.ensure_future(svc.sync())
        await making.wait()
        assert svc.cancel()
        with pytest.raises(SyncCancelledError):
            await task

    run(asyncio.wait_for(scenario(), 30))
    assert failed == []
    status = svc.snapshot()
    assert (status["pending_conflicts"], status["rejections"]) == (0, 0)
    assert local.con.execute("SELECT count(*) FROM ducksync.rejections").fetchone() == (0,)


def test_offline_writes_are_counted_by_the_loop_once_the_burst_settles(
        own_server: str, tmp_path: Any) -> None:
    svc = _service(own_server, str(tmp_path / "loop.duckdb"), [])
    _con(svc).execute("CREATE TABLE loop_notes (id BIGINT PRIMARY KEY)")
    svc.configure(debounce_s=0.05)
    svc.set_online(False)  # no sync can run: the loop counts instead

    async def write_then_wait() -> dict[str, Any]:
        task = asyncio.ensure_future(svc.run_forever())
        try:
            for i in range(3):
                _con(svc).execute(f"INSERT INTO loop_notes VALUES ({i})")
                svc.wrote()
            while svc.snapshot()["unsent"] != 3:
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
        return svc.snapshot()

    status = run(asyncio.wait_for(write_then_wait(), 60))
    assert status["unsent_tables"] == {"loop_notes": 3} and status["phase"] == "offline"


def test_an_automatic_sync_naming_a_table_this_device_does_not_hold_does_nothing() -> None:
    """A change feed (any trigger but "manual") naming an unsubscribed table: no remote call,
    the table is not pulled back; asked by hand, it is (an explicit request)."""
    from ducksync.engine import subscriptions

    calls: list[str] = []

    async def transport(method: str, args: dict[str, Any], ipc: Any) -> dict[str, Any]:
        calls.append(method)
        raise RemoteUnavailableError("no server in this test")

    local = NativeLocalStore(spec=":memory:")
    svc = SyncService(local=local, remote=PortRemoteStore(transport=transport),
                      emit=lambda kind, payload: None)
    run(subscriptions.unsubscribe(local, "t", keep_local=False))
    summary = run(svc.sync(tables=["t"], direction="pull", trigger="feed"))
    assert summary["outcome"] == "nothing" and summary["tables"] == [] and calls == []
    by_hand = run(svc.sync(tables=["t"], direction="pull"))
    assert by_hand["outcome"] == "error" and calls == ["survey"]



def test_a_copy_kept_after_unsubscribing_is_listed_as_not_held() -> None:
    """Unsubscribing with keep_local keeps the table's sync state (a later hold resumes
    from it), so ``synced`` stays true: ``held`` is what tells the page no sync covers it
    (it said "synced" while a write to the copy would never be sent)."""
    local = NativeLocalStore(spec=":memory:")
    svc = SyncService(local=local, remote=PortRemoteStore(transport=_no_transport),
                      emit=lambda kind, payload: None)
    _con(svc).execute("CREATE TABLE kept (id BIGINT PRIMARY KEY)")
    assert [t["held"] for t in run(svc.tables())] == [True]  # every table by default
    run(svc.subscribe(table="kept", held=False, keep_local=True))
    assert [(t["table"], t["held"]) for t in run(svc.tables())] == [("kept", False)]
    run(svc.subscribe(table="kept", held=True))
    assert [t["held"] for t in run(svc.tables())] == [True]



def test_the_choices_are_read_without_waiting_for_a_running_sync() -> None:
    """Holding a table starts a run (its bootstrap): the page's read of the choices
    waited for the whole run, and meanwhile its "hold here" box showed the old choice."""
    local = NativeLocalStore(spec=":memory:")
    svc = SyncService(local=local, remote=PortRemoteStore(transport=_no_transport),
                      emit=lambda kind, payload: None)
    run(svc.subscribe(table="kept", held=False, keep_local=True))

    async def read_during_a_run() -> dict[str, Any]:
        async with svc._lock:  # what a running sync holds
            return await asyncio.wait_for(svc.subscriptions(), 10)

    assert run(read_during_a_run())["not_held"] == ["kept"]


class _YieldingStore(NativeLocalStore):
    """A local store that lets other tasks run before each statement, as the page's
    DuckDB worker does (every statement is a message and its answer)."""

    async def execute(self, sql: str, params: Any = ()) -> None:
        await asyncio.sleep(0)
        await super().execute(sql, params)

    async def fetch_rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        await asyncio.sleep(0)
        return await super().fetch_rows(sql, params)


def test_a_read_of_the_choices_never_sees_a_change_half_stored() -> None:
    """connect({tables: ["huge"]}) on a new device: the page's client says the choice
    again when ready (``holdOnly``) while its lists read the choices. The read, taken
    between the change's statements, answered "every table" and the page showed a table
    it never held ticked "hold here" for the whole first sync."""
    local = _YieldingStore(spec=":memory:")
    svc = SyncService(local=local, remote=PortRemoteStore(transport=_no_transport),
                      emit=lambda kind, payload: None)
    svc.hold_at_start = ["huge"]  # from the worker's URL, before anything runs

    async def read_while_the_choice_is_stored() -> dict[str, Any]:
        change = asyncio.ensure_future(svc.subscribe(only=True, tables=["huge"]))
        await asyncio.sleep(0)  # the change has begun, its statements not all run
        read = await asyncio.wait_for(svc.subscriptions(), 10)
        await change
        return read

    assert run(read_while_the_choice_is_stored()) == {"all": False, "held": ["huge"],
                                                       "not_held": []}


def test_unholding_the_table_a_run_is_pulling_stops_that_run(own_server: str,
                                                             tmp_path: Any) -> None:
    """A new device's bootstrap of a table the user unticks: the run went on to the
    table's last row before the choice applied (then dropped it all)."""
    a = _service(own_server, str(tmp_path / "ua.duckdb"), [])
    _con(a).execute("CREATE TABLE unheld_big (id BIGINT PRIMARY KEY, v VARCHAR)")
    _con(a).execute("INSERT INTO unheld_big SELECT range, 'v' || range FROM range(20000)")
    run(a.sync(tables=["unheld_big"]))
    b = _service(own_server, str(tmp_path / "ub.duckdb"), [])
    original, pages = b.remote._transport, []

    async def slow(method: str, args: dict[str, Any], ipc: Any) -> dict[str, Any]:
        if method == "fetch_rows_after":  # a page of the bootstrap: slow, as on a far link
            pages.append(method)
            await asyncio.sleep(0.2)
        return await original(method, args, ipc)

    b.remote._transport = slow

    async def untick_mid_pull() -> tuple[BaseException | None, dict[str, Any]]:
        pull = asyncio.ensure_future(b.sync(tables=["unheld_big"], batch_rows=500))
        while not pages:
            await asyncio.sleep(0.01)
        subs = await asyncio.wait_for(
            b.subscribe(table="unheld_big", held=False, keep_local=False), 10)
        return (await asyncio.gather(pull, return_exceptions=True))[0], subs

    ended, subs = run(untick_mid_pull())
    assert isinstance(ended, SyncCancelledError) and subs["not_held"] == ["unheld_big"]
    assert len(pages) < 40, "the run stopped before the table's last page"
    assert _con(b).execute("SELECT count(*) FROM duckdb_tables() "
                           "WHERE table_name = 'unheld_big'").fetchone() == (0,)

async def _no_transport(method: str, args: dict[str, Any], ipc: Any) -> dict[str, Any]:
    raise RemoteUnavailableError("no server in this test")


# --- the change feed's trigger (docs/change-feed.md) ----------------------------------

def test_announced_tables_are_due_now_and_synced_alone() -> None:
    s = Schedule(interval_s=30.0)
    s.started(0.0)
    s.finished(0.0, 1.0, ok=True)
    assert s.next_due(2.0) == 31.0
    s.remote_changed(["b", "a"])
    assert s.next_due(2.0) == 2.0 and s.trigger(2.0) == "feed"
    assert s.take_remote() == ["a", "b"] and s.next_due(2.0) == 31.0


def test_announced_keys_add_up_until_one_announcement_comes_without() -> None:
    s = Schedule()
    s.remote_changed(["a", "b"], {"a": ["1"], "b": ["2"]})
    s.remote_changed(["a"], {"a": ["3"]})  # before the sync took them: one run, both keys
    s.remote_changed(["b"])  # b's second announcement did not know its keys
    assert s.take_remote_hinted() == (["a", "b"], {"a": ["1", "3"]})
    s.remote_changed(["b"], {"b": ["4"]})  # a new run: b's keys count again
    assert s.take_remote_hinted() == (["b"], {"b": ["4"]})


def test_a_feed_run_does_not_cover_a_pending_write() -> None:
    s = Schedule(interval_s=0.0, debounce_s=2.0)
    s.started(0.0)
    s.finished(0.0, 0.5, ok=True)
    s.wrote(1.0)
    s.remote_changed(["other"])
    mark = s.started(1.1)  # the feed's run of "other" only
    s.take_remote()
    s.finished(mark, 1.2, ok=True, whole=False)
    assert s.next_due(1.3) == 3.0 and s.trigger(3.0) == "write"  # the write still syncs


def test_a_page_that_syncs_only_when_asked_ignores_the_feed() -> None:
    s = Schedule(interval_s=0.0, on_remote=False, start_pending=False)
    s.remote_changed(["a"])
    assert s.next_due(1.0) is None


def test_an_announced_table_is_pulled_and_the_device_stays_in_sync(
        own_server: str, tmp_path: Any) -> None:
    a = _service(own_server, str(tmp_path / "a.duckdb"), [])
    _con(a).execute("CREATE TABLE feed_notes (id BIGINT PRIMARY KEY, v VARCHAR)")
    _con(a).execute("CREATE TABLE feed_other (id BIGINT PRIMARY KEY)")
    _con(a).execute("INSERT INTO feed_notes SELECT range, 'v' FROM range(100)")
    assert run(a.sync())["pushed"] == 100
    b = _service(own_server, str(tmp_path / "b.duckdb"), [])
    b.configure(interval_s=0, on_write=False)

    async def scenario() -> list[dict[str, Any]]:
        task = asyncio.ensure_future(b.run_forever())
        try:
            while not await b.sync_log() or b.status.running:  # the start sync
                await asyncio.sleep(0.02)
            assert b.snapshot()["in_sync"]
            _con(a).execute("INSERT INTO feed_notes VALUES (100, 'new')")
            await a.sync()
            b.remote_changed(["feed_notes"], {"state": "live", "reason": None})
            # the run logged and finished (bounded by the wait_for below): a cancel that
            # lands inside SyncService._finish is swallowed, and asyncio.run then hangs
            while len(await b.sync_log()) < 2 or b.status.running:
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
        return await b.sync_log()

    log = run(asyncio.wait_for(scenario(), 60))
    assert log[0]["trigger"] == "feed" and log[0]["tables"] == ["feed_notes"]
    assert log[0]["rows_pulled"] == 1
    assert _con(b).execute("SELECT v FROM feed_notes WHERE id = 100").fetchone() == ("new",)
    status = b.snapshot()
    assert status["in_sync"] and status["feed"] == {"state": "live", "reason": None}


def test_a_cancel_while_a_run_is_recorded_ends_the_service(own_server: str,
                                                           tmp_path: Any) -> None:
    """Stopping the service while a finished run writes its log row: the log write is cut
    off, the status still settles, and the task ends (the cancel used to be swallowed, so
    the stopping task never finished)."""
    svc = _service(own_server, str(tmp_path / "stop.duckdb"), [])
    _con(svc).execute("CREATE TABLE stop_items (id BIGINT PRIMARY KEY)")
    local: Any = svc.local
    logging, release = asyncio.Event(), asyncio.Event()
    plain = local.execute

    async def execute(sql: str, params: Any = ()) -> None:
        if "INSERT INTO ducksync.sync_log" in sql:
            logging.set()
            await release.wait()  # held here until the test cancels
        await plain(sql, params)

    local.execute = execute

    async def stop_while_logging() -> bool:
        task = asyncio.ensure_future(svc.sync(tables=["stop_items"]))
        await logging.wait()
        task.cancel()
        try:
            await asyncio.wait_for(task, 30)
        except asyncio.CancelledError:
            return True
        return False

    assert run(stop_while_logging()) is True
    assert svc.snapshot()["phase"] != "syncing"


def test_a_run_s_end_counts_what_waits_without_checking_the_state_again() -> None:
    """The survey made the state (the sync log's table too): after the run's last
    statement, its answer waits for the status counts only, not for another catalog
    check (a round trip in the page); a run whose survey never answered still makes
    them (test_a_first_sync_cancelled_while_the_state_is_made_counts_without_a_...)."""
    local = NativeLocalStore(spec=":memory:")
    local.con.execute("CREATE TABLE end_items (id BIGINT PRIMARY KEY, v VARCHAR)")
    local.con.execute("INSERT INTO end_items VALUES (1, 'a'), (2, 'b')")
    svc = SyncService(local=local, remote=NativeRemoteStore(spec=":memory:"),
                      emit=lambda kind, payload: None)
    statements: list[str] = []
    plain_execute, plain_fetch = local.execute, local.fetch_rows

    async def execute(sql: str, params: Any = ()) -> None:
        statements.append(sql)
        await plain_execute(sql, params)

    async def fetch_rows(sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        statements.append(sql)
        return await plain_fetch(sql, params)

    local.execute, local.fetch_rows = execute, fetch_rows  # type: ignore[method-assign]
    done = run(svc.sync())
    assert done["outcome"] == "ok" and done["pushed"] == 2
    logged = next(i for i, s in enumerate(statements)
                  if s.startswith("INSERT INTO ducksync.sync_log"))
    assert statements[logged + 1:] == [
        "CHECKPOINT", "SELECT (SELECT count(*) FROM ducksync.conflicts), "
        "(SELECT count(*) FROM ducksync.rejections)"]
    assert (svc.snapshot()["pending_conflicts"], svc.snapshot()["rejections"]) == (0, 0)


def test_a_kept_copys_changes_are_named_apart_and_never_counted_as_to_be_sent() -> None:
    """Unticked with its copy kept, then edited: the whole sync after the edit covers only
    the tables held here, so it set the count to 0 and the status said "in sync" with
    no word of the edit, which no sync sends. The device is in sync (its held tables
    are); the kept copy's changes are named apart, not counted as waiting to be sent."""
    local = NativeLocalStore(spec=":memory:")
    local.con.execute("CREATE TABLE held_items (id BIGINT PRIMARY KEY, v VARCHAR)")
    local.con.execute("CREATE TABLE kept_items (id BIGINT PRIMARY KEY, v VARCHAR)")
    local.con.execute("INSERT INTO held_items VALUES (1, 'a')")
    local.con.execute("INSERT INTO kept_items VALUES (1, 'a')")
    svc = SyncService(local=local, remote=NativeRemoteStore(spec=":memory:"),
                      emit=lambda kind, payload: None)
    assert run(svc.sync())["pushed"] == 2
    run(svc.subscribe(table="kept_items", held=False, keep_local=True))
    local.con.execute("UPDATE kept_items SET v = 'edited here' WHERE id = 1")
    svc.wrote()
    done = run(svc.sync())  # what a write's automatic sync does: the held table only
    assert done["outcome"] in ("ok", "nothing") and done["pushed"] == 0
    run(svc.count_unsent())  # what the service's loop does when the run asks for it
    status = svc.snapshot()
    assert status["phase"] == "idle" and status["unsent"] == 0
    assert status["not_held_changed"] == ["kept_items"]
    assert {t["table"]: t["unsent"] for t in run(svc.tables())}["kept_items"] == 1
    # held again, its change is one a sync sends: counted, and no longer named apart
    run(svc.subscribe(table="kept_items", held=True))
    status = svc.snapshot()
    assert status["unsent"] == 1 and status["phase"] == "pending"
    assert status["not_held_changed"] == []
    assert run(svc.sync())["pushed"] == 1
    assert svc.snapshot()["phase"] == "idle" and svc.snapshot()["not_held_changed"] == []
