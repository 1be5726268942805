"""Structural changes in the page (issue 14): a local DROP TABLE or DELETE of every row
never empties the server; the page's calls restore or confirm explicitly (web/sync.js:
``sync({allowMassDelete})``, ``redownload``, ``dropEverywhere``). Engine rules:
docs/engine.md, "Schema"; engine tests: tests/engine/test_structural.py."""

from __future__ import annotations

from typing import Any

import httpx
import pyarrow as pa
import pytest
from pageutil import ex, q, sync

pytestmark = pytest.mark.browser


def device(open_app: Any, url: str) -> Any:
    """A page whose syncs are only the ones the test asks for."""
    page = open_app(url)
    page.evaluate("window.ducksync.configureSync({interval: 0, onWrite: false})")
    return page


def remote_keys(server: Any, table: str) -> list[int]:
    """The server's keys of ``table``, read through its sync API."""
    response = httpx.post(f"{server.url}/api/v1/sync/tables/{table}/hashes",
                          json={"key": ["id"], "modulus": 1, "buckets": []}, timeout=60)
    response.raise_for_status()
    return sorted(pa.ipc.open_stream(response.content).read_all().column("id").to_pylist())


def test_drop_and_mass_delete_keep_the_server_copy_until_confirmed(open_app: Any,
                                                                    server: Any) -> None:
    a = device(open_app, server.url)
    ex(a, "CREATE TABLE dev_drop (id INTEGER PRIMARY KEY, v VARCHAR)")
    ex(a, "INSERT INTO dev_drop SELECT range, 'v' || range FROM range(1500)")
    assert sync(a, tables=["dev_drop"])["converged"]
    ex(a, "DELETE FROM dev_drop WHERE id >= 100")
    guarded = sync(a, tables=["dev_drop"])
    assert guarded["outcome"] == "error" and guarded["error"]["code"] == "mass_delete"
    assert guarded["tables"][0]["mass_delete"] == {"side": "remote", "rows": 1400, "of": 1500}
    assert len(remote_keys(server, "dev_drop")) == 1500
    ex(a, "DROP TABLE dev_drop")
    stopped = sync(a, tables=["dev_drop"])
    assert stopped["tables"][0]["dropped_on"] == "local" and stopped["pushed"] == 0
    assert "redownload" in stopped["error"]["hint"]
    assert len(remote_keys(server, "dev_drop")) == 1500
    back = a.evaluate("window.ducksync.redownload('dev_drop')")
    assert back["converged"] and back["pulled"] == 1500
    assert q(a, "SELECT count(*) AS n FROM dev_drop") == [{"n": 1500}]
    ex(a, "DELETE FROM dev_drop WHERE id >= 100")
    allowed = a.evaluate("window.ducksync.sync({tables: ['dev_drop'], allowMassDelete: true})")
    assert allowed["converged"] and allowed["pushed"] == 1400
    assert remote_keys(server, "dev_drop") == list(range(100))
    gone = a.evaluate("window.ducksync.dropEverywhere('dev_drop')")
    assert gone == {"table": "dev_drop", "local": True, "remote": True}
    described = httpx.get(f"{server.url}/api/v1/sync/tables/dev_drop", timeout=60).json()
    assert described == {"table": None}
