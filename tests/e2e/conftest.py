"""Browser-test fixtures on top of tests/conftest.py, built on the testing kit.

Booting the two Pyodide workers costs seconds per fresh browser context, so tests
that only read share one page per module (``shared_app``); tests that need their
own storage or server open their own context with ``open_app`` (pytest-playwright's
``new_context``, so ``--tracing``/``--video`` apply). New tests use the kit's
``ducksync_server`` / ``ducksync_device`` directly (docs/testing.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pageutil import forward_console, wait_ready

from ducksync.testing import DucksyncServer, start_server

OpenApp = Callable[[str], Any]


@pytest.fixture
def open_app(new_context: Any) -> OpenApp:
    """``open_app(url)`` -> a ready app page in a fresh context (fresh OPFS, empty cache)."""

    def open_(url: str) -> Any:
        page = new_context().new_page()
        forward_console(page)
        page.goto(url)
        return wait_ready(page)

    return open_


@pytest.fixture(scope="module")
def shared_app(browser: Any, server_url: str) -> Iterator[Any]:
    """One ready app page for a whole module of read-mostly tests."""
    context = browser.new_context()
    page = context.new_page()
    forward_console(page)
    page.goto(server_url)
    yield wait_ready(page)
    context.close()


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DucksyncServer]:
    """A second real server whose remote DuckDB file already holds a table ``birds``."""
    import duckdb

    tmp: Path = tmp_path_factory.mktemp("seeded")
    with duckdb.connect(str(tmp / "remote.duckdb")) as con:
        con.execute("CREATE TABLE birds AS SELECT range AS id, 'duck ' || range AS name "
                    "FROM range(3)")
    server = start_server(tmp, remote=tmp / "remote.duckdb")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DucksyncServer]:
    """A real server for one test module, its remote empty at the start.

    Pages sync every table they can see, so a module that counts what a sync moves
    must not share a remote with other modules' tables.
    """
    server = start_server(tmp_path_factory.mktemp("module-server"))
    yield server
    server.stop()
