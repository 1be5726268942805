"""Fixtures shared by every test: a real server on a free port and real Chromium.

One server and one browser per test session (starting them dominates the cost).
Servers with other settings come from :mod:`serverutil`; browser pages from
``tests/e2e/conftest.py``. The browser (Debian's chromium) and the ``ducksync_server`` /
``ducksync_device`` fixtures come from the project's own testing kit, ``ducksync.testing``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from serverutil import RunningServer, running_server

# Installed, the kit registers itself (pytest11 entry point of the same name); named here
# too so that a venv installed before the kit existed still loads it.
pytest_plugins = ["ducksync.testing.plugin"]

_SERVER_KEY = pytest.StashKey[RunningServer]()
_SERVER_FIXTURES = {"server", "server_url", "shared_app", "open_app"}


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The real server, with an empty embedded remote in a temp folder."""
    with running_server(tmp_path_factory.mktemp("server")) as running:
        request.config.stash[_SERVER_KEY] = running
        yield running


@pytest.fixture(scope="session")
def server_url(server: RunningServer) -> str:
    return server.url


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """When a test that used the server fails, show what the server printed."""
    outcome = yield
    report = outcome.get_result()
    running = item.config.stash.get(_SERVER_KEY, None)
    used_server = _SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    if report.failed and running is not None and used_server:
        report.sections.append(("ducksync server output", running.output()[-20000:]))


# --- Browser (pytest-playwright) -------------------------------------------------------

def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run browser tests last.

    Playwright's sync API keeps an event loop running in the main thread for as long
    as the session-scoped browser lives; any later test calling ``asyncio.run`` would
    fail with "cannot be called from a running event loop". Order is otherwise kept.
    """
    items.sort(key=uses_a_browser)


# Fixtures that start Playwright: a test using one is a browser test even if unmarked.
_BROWSER_FIXTURES = frozenset({"playwright", "browser", "context", "new_context", "page",
                               "ducksync_device"})


def uses_a_browser(item: pytest.Item) -> bool:
    """Marked ``browser`` or asking for a Playwright fixture (an unmarked browser test
    sorted among the others left the loop running: 300 later tests failed)."""
    return (item.get_closest_marker("browser") is not None
            or not _BROWSER_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())))
