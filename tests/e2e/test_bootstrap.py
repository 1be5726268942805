"""A new device in the page: it holds the remote tables it subscribed to, bootstraps
them, and a reload mid-bootstrap resumes (engine/bootstrap.py, engine/subscriptions.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pageutil import q

from serverutil import RunningServer, running_server

TABLES = ("boot_a", "boot_b", "boot_c", "boot_d")
ROWS = {"boot_a": 3000, "boot_b": 2000, "boot_c": 1500, "boot_d": 500}


@pytest.fixture(scope="module")
def four_tables(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose remote file already holds four tables with primary keys."""
    import duckdb

    tmp: Path = tmp_path_factory.mktemp("bootstrap")
    with duckdb.connect(str(tmp / "remote.duckdb")) as con:
        for t in TABLES:
            con.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR, w DOUBLE)")
            con.execute(f"INSERT INTO {t} SELECT range, '{t} ' || range, range / 7 "
                        f"FROM range({ROWS[t]})")
    with running_server(tmp) as running:
        yield running


def _local_tables(page: Any) -> list[str]:
    return [r["n"] for r in q(page, "SELECT table_name AS n FROM duckdb_tables() WHERE "
                                    "schema_name = 'main' AND NOT temporary ORDER BY 1")]


def test_a_new_device_holds_only_the_tables_it_subscribed_to(open_app: Any,
                                                            four_tables: Any) -> None:
    page = open_app(four_tables.url + "/?tables=boot_b,boot_d")
    page.wait_for_function("window.ducksync.status().sync.in_sync", timeout=90_000)
    assert _local_tables(page) == ["boot_b", "boot_d"]
    assert q(page, "SELECT count(*) AS n FROM boot_b") == [{"n": ROWS["boot_b"]}]
    assert page.evaluate("window.ducksync.subscriptions()") == {
        "all": False, "held": ["boot_b", "boot_d"], "not_held": []}
