"""Server-test fixtures: one real ``ducksync serve`` with auth on, shared by this folder.

It runs with API keys, a user, a known signing secret (so tests can forge and
expire tokens), a small body limit, the read-only console on, a table allowlist
and ``MOTHERDUCK_TOKEN`` set to a canary while the remote is a file: every
response and log line is later scanned for that canary.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_env import API_KEY, auth_env

from serverutil import RunningServer, running_server


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real server with auth configured and a canary MOTHERDUCK_TOKEN (file remote)."""
    with running_server(tmp_path_factory.mktemp("auth-server"), env=auth_env()) as running:
        yield running


@pytest.fixture
def key_headers() -> dict[str, str]:
    return {"authorization": f"Bearer {API_KEY}"}
