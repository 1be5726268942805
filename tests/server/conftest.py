"""Server-test fixtures: one real ``ducksync serve`` with auth on, shared by this folder.

It runs with API keys, a user, a known signing secret (so tests can forge and
expire tokens), a small body limit, the read-only console on, a table allowlist
and ``MOTHERDUCK_TOKEN`` set to a canary while the remote is a file: every
response and log line is later scanned for that canary.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ducksync.server.auth import hash_password

API_KEY = "dsk_test_0123456789abcdef0123456789abcdef"
OTHER_KEY = "dsk_test_fedcba9876543210fedcba9876543210"
USER, PASSWORD = "alice", "correct horse battery staple"
SECRET = "test-signing-secret-not-for-production"
CANARY = "mdcanary_7f3a9c1e5b2d4f6a8c0e1d3b5a7f9e2c"
ORIGIN = "http://good.test"
TABLES = ("items", "notes", "kinds", "engine_items", "cli_items", "fuzz_items")
MAX_BODY = 256 * 1024


def _root_conftest(config: pytest.Config) -> Any:
    """tests/conftest.py as pytest loaded it (it owns ``start_server``)."""
    root = Path(__file__).resolve().parents[1] / "conftest.py"
    for plugin in config.pluginmanager.get_plugins():
        if Path(getattr(plugin, "__file__", "") or "").resolve() == root:
            return plugin
    raise RuntimeError("tests/conftest.py is not loaded")


@pytest.fixture(scope="session")
def start_server_fn(pytestconfig: pytest.Config) -> Any:
    return _root_conftest(pytestconfig).start_server


def auth_env() -> dict[str, str]:
    return {
        "DUCKSYNC_API_KEYS": f"{API_KEY},{OTHER_KEY}",
        "DUCKSYNC_USERS": f"{USER}:{hash_password(PASSWORD)}",
        "DUCKSYNC_SECRET": SECRET,
        "DUCKSYNC_TABLES": ",".join(TABLES),
        "DUCKSYNC_MAX_BODY_BYTES": str(MAX_BODY),
        "DUCKSYNC_READONLY_CONSOLE": "1",
        "DUCKSYNC_RATE_LIMIT": "100000",
        "DUCKSYNC_RATE_BURST": "100000",
        "ALLOWED_ORIGINS": ORIGIN,
        "MOTHERDUCK_TOKEN": CANARY,
    }


@pytest.fixture(scope="session")
def auth_server(start_server_fn: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real server with auth configured and a canary MOTHERDUCK_TOKEN (file remote)."""
    running = start_server_fn(tmp_path_factory.mktemp("auth-server"), env=auth_env())
    yield running
    running.process.terminate()
    try:
        running.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        running.process.kill()


@pytest.fixture
def key_headers() -> dict[str, str]:
    return {"authorization": f"Bearer {API_KEY}"}
