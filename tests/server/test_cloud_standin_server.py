"""The server's ``md:`` backend, run against the cloud stand-in (py/ducksync/stores/standin.py).

The server is the real app (uvicorn, in this process so that the stand-in can be
injected: ``create_app(database=..., store_factory=...)`` is reachable from Python only,
never from settings or the environment). Its remote is an ``md:`` spec, so every ``md:``
code path runs: the client version check, the token from ``MOTHERDUCK_TOKEN``, the read
cache off (other writers exist), only the configured database's tables listed. The
database behind it is a native DuckDB file with another database attached (``md:``
attaches the whole workspace), under the stand-in's documented rules.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from remote_scenarios import run_scenario

from ducksync.engine.sync import SyncOptions, SyncReport, sync
from ducksync.errors import AuthError, ReadOnlyRemoteError
from ducksync.server.app import create_app
from ducksync.server.backend import StorePool
from ducksync.server.remote import RemoteDatabase
from ducksync.server.settings import Settings
from ducksync.stores import open_local
from ducksync.stores.http import HttpRemoteStore
from ducksync.stores.latency import CountingTransport
from ducksync.stores.native import NativeLocalStore
from ducksync.stores.sql_remote import SqlRemoteStore
from ducksync.stores.standin import CloudStandIn
from serverutil import app_in_thread, free_port

TOKEN = "stand-in-token"  # not a secret: what the stand-in is given


@dataclass
class Cloud:
    """What the stand-in behind the server saw."""

    path: Path
    owner: bool = True
    client_engine: bool = True
    config: dict[str, Any] = field(default_factory=dict)
    clouds: list[CloudStandIn] = field(default_factory=list)

    def open(self, spec: str, config: dict[str, Any]) -> duckdb.DuckDBPyConnection:
        assert spec == "md:cloud"
        self.config = dict(config)
        con = duckdb.connect(str(self.path))
        con.execute(f"ATTACH '{self.path.with_name('other.duckdb')}' AS other_db")
        con.execute("CREATE TABLE IF NOT EXISTS other_db.main.invoices (id INTEGER)")
        return con

    def store(self, cursor: Any) -> SqlRemoteStore:
        cloud = CloudStandIn(inner=NativeLocalStore(spec="md:cloud", con=cursor, threaded=False),
                             owner=self.owner, database="cloud",
                             client_engine=self.client_engine,
                             client_version=duckdb.__version__)
        self.clouds.append(cloud)
        store = SqlRemoteStore(connector=cloud)
        store.con = cursor  # type: ignore[attr-defined]  # the pool interrupts it
        store.close = cursor.close  # type: ignore[attr-defined]
        return store

    @property
    def statements(self) -> int:
        return sum(c.round_trips for c in self.clouds)


@contextmanager
def md_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
              owner: bool = True, client_engine: bool = True,
              ) -> Iterator[tuple[str, Cloud, Any]]:
    monkeypatch.setenv("MOTHERDUCK_TOKEN", TOKEN)
    cloud = Cloud(tmp_path / "cloud.duckdb", owner=owner, client_engine=client_engine)
    port = free_port()
    app = create_app(Settings(remote="md:cloud", port=port, log_json=False),
                     database=RemoteDatabase(spec="md:cloud", opener=cloud.open),
                     store_factory=cloud.store)
    with app_in_thread(app, port) as url:
        yield url, cloud, app


def _sync(local: Path, url: str, mode: str = "sync", **opts: Any) -> tuple[SyncReport, int]:
    async def main() -> tuple[SyncReport, int]:
        wire = CountingTransport()
        remote = HttpRemoteStore(url=url, transport=wire)
        try:
            report = await sync(open_local(str(local)), remote, SyncOptions(**opts),
                                mode)  # type: ignore[arg-type]
        finally:
            await remote.aclose()
        return report, wire.requests

    return asyncio.run(main())


def _device(path: Path, n: int = 200) -> Path:
    with duckdb.connect(str(path)) as con:
        for t in ("a", "b", "c"):
            con.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v VARCHAR)")
            con.execute(f"INSERT INTO {t} SELECT i, 'v' || i FROM range({n}) t(i)")
    return path


def _rows(path: Path | str, table: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path)) as con:
        return con.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


@pytest.mark.parametrize("client_engine", [True, False], ids=["two-engines", "one-engine"])
def test_md_backend_syncs_through_http_on_the_standin(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     client_engine: bool) -> None:
    with md_server(tmp_path, monkeypatch, client_engine=client_engine) as (url, cloud, app):
        assert httpx.get(url + "/readyz").json() == {"status": "ready", "remote": "motherduck"}
        assert cloud.config["motherduck_token"] == TOKEN  # from the environment
        assert app.state.ctx.pool.reads.enabled is False  # other writers exist: no cache
        a = _device(tmp_path / "a.duckdb")
        pushed, _ = _sync(a, url)
        assert pushed.converged and sum(t.pushed for t in pushed.tables) == 600
        listed = httpx.get(url + "/api/v1/remote/tables").json()
        assert sorted(t["name"] for t in listed["tables"]) == ["a", "b", "c"]  # no invoices
        b = tmp_path / "b.duckdb"
        pulled, _ = _sync(b, url)
        assert sum(t.pulled for t in pulled.tables) == 600
        with duckdb.connect(str(b)) as con:
            con.execute("UPDATE a SET v = 'b' WHERE id < 5")
        _sync(b, url)
        back, _ = _sync(a, url)
        assert {t.table: t.pulled for t in back.tables}["a"] == 5
        for t in ("a", "b", "c"):
            assert _rows(a, t) == _rows(b, t) == _rows(tmp_path / "cloud.duckdb", t)
        before = cloud.statements
        noop, requests = _sync(a, url)
        assert all((t.pushed, t.pulled, t.conflicts) == (0, 0, 0) for t in noop.tables)
        # the budget: one survey request, one statement at the remote (the server's
        # pooled store knows the catalog: the checksums ride the catalog's statement)
        assert requests == 1 and cloud.statements - before == 1, \
            (requests, cloud.statements - before)
        # a 1-row push, on both legs: 3 requests; behind the server 3 round trips: the
        # survey, the batch's transaction as one script, the ack
        with duckdb.connect(str(a)) as con:
            con.execute("UPDATE c SET v = 'one' WHERE id = 7")
        before = cloud.statements
        one, requests = _sync(a, url)
        assert {t.table: t.pushed for t in one.tables}["c"] == 1
        assert requests == 3 and cloud.statements - before == 3, \
            (requests, cloud.statements - before)


def test_a_share_readers_server_answers_403_with_the_way_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with md_server(tmp_path, monkeypatch, owner=False) as (url, _, _app):
        a = _device(tmp_path / "a.duckdb", n=3)
        with pytest.raises(ReadOnlyRemoteError) as caught:
            _sync(a, url, "push")
        assert "read-only" in caught.value.message
        assert caught.value.hint is not None and "owner" in caught.value.hint


def test_md_backend_refuses_to_open_without_a_token(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOTHERDUCK_TOKEN", raising=False)
    cloud = Cloud(tmp_path / "cloud.duckdb")
    database = RemoteDatabase(spec="md:cloud", opener=cloud.open)
    with pytest.raises(AuthError, match="MOTHERDUCK_TOKEN"):
        database.connection()
    assert cloud.config == {}  # never reached the service


def test_the_live_scenario_passes_on_the_standin(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/server/test_motherduck.py runs this scenario live; here it proves the
    scenario itself (every type, updates, compare-and-swap, two writers)."""
    with md_server(tmp_path, monkeypatch) as (url, _, _app):
        run_scenario(url, tmp_path, "scenario")


class Alternating:
    """A remote store whose every call goes to the next of ``stores`` in turn."""

    def __init__(self, *stores: Any) -> None:
        self.stores, self.turn = stores, 0

    def __getattr__(self, name: str) -> Any:
        self.turn += 1
        return getattr(self.stores[self.turn % len(self.stores)], name)


def test_a_store_the_pool_grows_knows_the_shapes_the_others_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server's pool grows a store for a concurrent call (the change feed's poll beside
    a sync's request): that store read the shapes of the tables another store had just
    created and written, 1 to 3 round trips more on the next push it served (the latency
    bench's page → server → cloud leg). The pool's stores share what they know of the
    catalog; a shape another writer changes is still read afresh."""
    monkeypatch.setenv("MOTHERDUCK_TOKEN", TOKEN)
    cloud = Cloud(tmp_path / "cloud.duckdb")
    pool = StorePool(database=RemoteDatabase(spec="md:cloud", opener=cloud.open), size=2,
                     timeout_s=60, store_factory=cloud.store)
    both = threading.Barrier(2)

    def meet(store: Any) -> Any:  # two calls at once: the pool makes its second store
        both.wait(timeout=30)
        return store

    async def two_stores() -> list[Any]:
        return list(await asyncio.gather(pool.call(meet), pool.call(meet)))

    first, grown = asyncio.run(two_stores())
    assert first is not grown
    try:
        a = _device(tmp_path / "a.duckdb", n=20)
        local = NativeLocalStore(spec=str(a))

        def trips(store: Any) -> int:
            before = cloud.statements
            report = asyncio.run(sync(local, store, SyncOptions(), "sync"))
            assert report.converged, report.to_dict()
            return cloud.statements - before

        trips(first)  # creates and fills the tables, learns the catalog
        with duckdb.connect(str(a)) as con:
            con.execute("UPDATE a SET v = 'one' WHERE id = 1")
        # the survey, the batch's script, the ack; each request on the other store, as
        # the pool may lend them (was 4: the table and the ledger read again)
        assert trips(Alternating(grown, first)) == 3
        with duckdb.connect(str(a)) as con:
            con.execute("UPDATE a SET v = 'two' WHERE id = 1")
        assert trips(grown) == 3
        with duckdb.connect(str(tmp_path / "cloud.duckdb")) as con:  # another writer
            con.execute("ALTER TABLE b ADD COLUMN w INTEGER")
            con.execute("UPDATE b SET w = 1 WHERE id = 3")
        with duckdb.connect(str(a)) as con:
            con.execute("ALTER TABLE b ADD COLUMN w INTEGER")
        assert trips(grown) <= 4  # b's checksum asked again, then its pull
        assert _rows(a, "b") == _rows(tmp_path / "cloud.duckdb", "b")
        local.close()
    finally:
        pool.close()
