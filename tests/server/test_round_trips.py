"""The round-trip budget: a cloud remote is far away, so what a sync costs there is
mostly how many requests it makes. Counted on the wire, against the real server.

Budget (issue 15): a no-op sync of N tables ≤ 2 requests in all, a 1-row push ≤ 3,
a 1k-row change ≤ 5 (either direction).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ducksync.engine.sync import SyncOptions, SyncReport, sync
from ducksync.stores import open_local
from ducksync.stores.http import HttpRemoteStore
from ducksync.stores.latency import CountingTransport
from serverutil import RunningServer, running_server


def _sync(local: Path, url: str, **opts: Any) -> tuple[SyncReport, list[str]]:
    async def main() -> tuple[SyncReport, list[str]]:
        wire = CountingTransport()
        remote = HttpRemoteStore(url=url, transport=wire)
        try:
            report = await sync(open_local(str(local)), remote, SyncOptions(**opts), "sync")
        finally:
            await remote.aclose()
        return report, list(wire.paths)

    return asyncio.run(main())


@pytest.fixture(scope="module")
def rt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of its own (open, loopback): these tables stay out of other tests."""
    with running_server(tmp_path_factory.mktemp("round-trips")) as running:
        yield running


@pytest.fixture
def synced_pair(rt_server: RunningServer, tmp_path: Path,
                request: pytest.FixtureRequest) -> tuple[Path, Path, list[str]]:
    """Two devices holding the same three 5k-row tables (this test's own), all synced."""
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    name = request.node.name.removeprefix("test_")[:20]
    tables = [f"{name}_{x}" for x in "abc"]
    with duckdb.connect(str(a)) as con:
        for t in tables:
            con.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v VARCHAR)")
            con.execute(f"INSERT INTO {t} SELECT i, 'v' || i FROM range(5000) t(i)")
    first, _ = _sync(a, rt_server.url, tables=tables)
    assert first.converged
    pulled, _ = _sync(b, rt_server.url, tables=tables)
    assert pulled.converged
    return a, b, tables


def test_a_no_op_sync_of_three_tables_is_one_request(synced_pair: tuple[Path, Path, list[str]],
                                                     rt_server: RunningServer) -> None:
    a, _, tables = synced_pair
    report, paths = _sync(a, rt_server.url, tables=tables)
    assert report.converged
    assert all(t.paths == ["local-unchanged", "remote-unchanged"] for t in report.tables)
    assert paths == ["POST /api/v1/sync/survey"]


def test_push_budgets(synced_pair: tuple[Path, Path, list[str]], rt_server: RunningServer) -> None:
    a, _, tables = synced_pair
    with duckdb.connect(str(a)) as con:
        con.execute(f"UPDATE {tables[0]} SET v = 'one' WHERE id = 1")
    report, paths = _sync(a, rt_server.url, tables=tables)
    assert report.converged and report.tables[0].pushed == 1
    assert len(paths) <= 3, paths
    with duckdb.connect(str(a)) as con:
        con.execute(f"UPDATE {tables[1]} SET v = 'thousand' WHERE id % 5 = 0")
    report, paths = _sync(a, rt_server.url, tables=tables)
    assert report.converged and report.tables[1].pushed == 1000
    assert len(paths) <= 5, paths


def test_pull_of_a_1k_change_within_budget(synced_pair: tuple[Path, Path, list[str]],
                                           rt_server: RunningServer) -> None:
    a, b, tables = synced_pair
    with duckdb.connect(str(a)) as con:
        con.execute(f"UPDATE {tables[2]} SET v = 'from a' WHERE id % 5 = 1")
    assert _sync(a, rt_server.url, tables=tables)[0].converged
    report, paths = _sync(b, rt_server.url, tables=tables)
    assert report.converged and report.tables[2].pulled == 1000
    assert len(paths) <= 5, paths
