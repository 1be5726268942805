"""Browser-test fixtures on top of tests/conftest.py (server, Debian chromium).

Booting the two Pyodide workers costs seconds per fresh browser context, so tests
that only read share one page per module (``shared_app``); tests that need their
own storage or server open their own context with ``open_app``.
Contexts come from the session's ``browser`` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pageutil import forward_console, open_in_new_context, wait_ready

from serverutil import RunningServer, running_server

OpenApp = Callable[[str], Any]


@pytest.fixture
def open_app(browser: Any) -> Iterator[OpenApp]:
    """``open_app(url)`` -> a ready app page in a fresh context (fresh OPFS, empty cache)."""
    contexts: list[Any] = []

    def open_(url: str) -> Any:
        page = open_in_new_context(browser, url)
        contexts.append(page.context)
        return page

    yield open_
    for context in contexts:
        context.close()


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
def seeded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A second real server whose remote DuckDB file already holds a table ``birds``."""
    import duckdb

    tmp: Path = tmp_path_factory.mktemp("seeded")
    with duckdb.connect(str(tmp / "remote.duckdb")) as con:
        con.execute("CREATE TABLE birds AS SELECT range AS id, 'duck ' || range AS name "
                    "FROM range(3)")
    with running_server(tmp) as running:
        yield running


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real server for one test module, its remote empty at the start.

    Pages sync every table they can see, so a module that counts what a sync moves
    must not share a remote with other modules' tables.
    """
    with running_server(tmp_path_factory.mktemp("module-server")) as running:
        yield running
