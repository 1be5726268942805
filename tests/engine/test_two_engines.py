"""No comparison depends on where MotherDuck runs a statement (docs/remote-store.md).

The remote store runs on :class:`two_engines.ClientTempConnector`: statements that
read temp tables hash like another engine, as on MotherDuck, where temp tables live
on the client. Checksums (remote tables only) run on "the server". A store that
hashed remote rows in a statement joined with a temp table answered with the
client's hashes: every no-op sync after a pull or a push re-downloaded the rows it
had just moved, compare-and-swap saw every row as changed by someone else, and a
bulk push never verified.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from engine_helpers import do_sync, load_engine_module, local_db, remote_kind, rows
from two_engines import TwoEngineRemote


def _engine_module(name: str) -> Any:
    return load_engine_module(name, "two_engines")


# The engine's contract tests once more, on the two-engine remote (every type as a key
# bound as text, CAS, replay, bulk, watermarks): the same functions, collected here.
for _name, _tests in _engine_module("test_sql_contract").CONTRACT.items():
    _module = _engine_module(_name)
    globals().update({t: getattr(_module, t) for t in _tests})


@pytest.fixture(autouse=True)
def two_engine_remote() -> Iterator[None]:
    with remote_kind("two-engines"):
        yield


def setup(n: int = 3000) -> tuple[Any, TwoEngineRemote]:
    local = local_db()
    local.con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR, n INTEGER)")
    local.con.execute(f"INSERT INTO t SELECT i, 'v' || i, i % 7 FROM range({n}) r(i)")
    return local, TwoEngineRemote()


def assert_noop(local: Any, remote: TwoEngineRemote) -> None:
    rep = do_sync(local, remote).tables[0]
    assert (rep.pushed, rep.pulled, rep.conflicts, rep.remote_calls) == (0, 0, 0, 1), rep
    assert "remote-unchanged" in rep.paths


def test_the_connector_really_hashes_temp_statements_elsewhere() -> None:
    remote = TwoEngineRemote()
    remote.con.execute("CREATE TABLE t (id BIGINT)")
    server = remote.con.execute("SELECT hash(42::BIGINT)").fetchall()
    client = __import__("asyncio").run(remote.split.fetch_rows(
        "CREATE TEMP TABLE __ds_probe AS SELECT hash(42::BIGINT) AS h"))
    assert client is not None and remote.split.client_statements == 1
    assert remote.con.execute("SELECT h FROM __ds_probe").fetchall() != server


def test_bulk_push_verifies_and_the_next_sync_is_a_noop() -> None:
    local, remote = setup()
    rep = do_sync(local, remote, "push", batch_rows=1000).tables[0]
    assert rep.converged and "bulk-push" in rep.paths
    # verified (compact) answers have empty bodies; 3000 rows answered in full: ~100 KB
    assert rep.bytes_received < 1000, "a bulk batch was answered in full: its checksum " \
        "ran on the client's engine"
    assert rows(local) == rows(remote)
    assert_noop(local, remote)


def test_pulled_and_pushed_rows_carry_the_servers_hashes() -> None:
    local, remote = setup()
    do_sync(local, remote, "push")
    remote.con.execute("UPDATE t SET v = 'remote' WHERE id IN (1, 2, 3)")
    rep = do_sync(local, remote).tables[0]
    assert (rep.pulled, rep.conflicts) == (3, 0)
    assert_noop(local, remote)  # fetched rows' hashes are the server's
    local.con.execute("UPDATE t SET v = 'local' WHERE id IN (10, 11)")
    local.con.execute("DELETE FROM t WHERE id = 12")
    rep = do_sync(local, remote).tables[0]
    assert (rep.pushed, rep.cas_retries, rep.conflicts) == (3, 0, 0), rep  # CAS compared alike
    assert rows(local) == rows(remote)
    assert_noop(local, remote)  # answered hashes are the server's
