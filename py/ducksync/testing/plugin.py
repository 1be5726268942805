"""The pytest plugin (``pytest11`` entry point ``ducksync.testing.plugin``): hooks only.

The fixtures live in :mod:`ducksync.testing.fixtures`, registered from
``pytest_configure``: by then pytest-playwright is registered whatever order the entry
points loaded in, so the kit's ``browser_type_launch_args`` builds on (and wins over)
pytest-playwright's. A conftest can still override any of them.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

FIXTURES = "ducksync.testing.fixtures"
LOG_TAIL_CHARS = 20_000


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(FIXTURES):
        from ducksync.testing import fixtures

        config.pluginmanager.register(fixtures, FIXTURES)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failing test shows each kit server's log and each device's console errors."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed:
        return
    for server in item.stash.get(fixtures_key("servers"), []):
        report.sections.append((f"ducksync server {server.url} log",
                                server.logs()[-LOG_TAIL_CHARS:]))


def fixtures_key(name: str) -> pytest.StashKey[list[Any]]:
    """The stash slot where the fixtures list what a test started (servers, devices)."""
    return _KEYS.setdefault(name, pytest.StashKey[list[Any]]())


_KEYS: dict[str, pytest.StashKey[list[Any]]] = {}
