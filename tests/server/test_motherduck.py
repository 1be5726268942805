"""Live: the server in front of MotherDuck (``md:``). Needs MOTHERDUCK_TOKEN and internet."""

from __future__ import annotations

import os
import uuid

import httpx
import pytest
from remote_scenarios import run_scenario

from serverutil import running_server

TOKEN = os.environ.get("MOTHERDUCK_TOKEN")
DATABASE = os.environ.get("MOTHERDUCK_DATABASE", "my_db")
NO_TOKEN = "MOTHERDUCK_TOKEN is not set: the live MotherDuck test needs a token"


@pytest.mark.motherduck
def test_server_fronts_motherduck(tmp_path_factory: pytest.TempPathFactory) -> None:
    token = os.environ.get("MOTHERDUCK_TOKEN")
    if not token:
        pytest.skip("MOTHERDUCK_TOKEN is not set: the live MotherDuck test needs a token")
    database = os.environ.get("MOTHERDUCK_DATABASE", "my_db")
    table = f"ducksync_live_{uuid.uuid4().hex[:8]}"
    with running_server(tmp_path_factory.mktemp("md"),
                        extra_args=("--remote", f"md:{database}")) as server:
        assert httpx.get(server.url + "/readyz", timeout=60).status_code == 200
        created = httpx.put(server.url + f"/api/v1/sync/tables/{table}", timeout=60, json={
            "columns": [{"name": "id", "type": "INTEGER", "nullable": False}],
            "primary_key": ["id"]})
        assert created.status_code == 200, created.text
        described = httpx.get(server.url + f"/api/v1/sync/tables/{table}", timeout=60).json()
        assert described["table"]["primary_key"] == ["id"]
        assert token not in server.output()


@pytest.mark.motherduck
@pytest.mark.skipif(not TOKEN, reason=NO_TOKEN)
def test_devices_sync_every_type_updates_cas_and_two_writers_through_motherduck(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """The scenario tests/server/test_cloud_standin_server.py proves on the cloud
    stand-in, against the real service: every type, updates and a delete, a
    compare-and-swap conflict, two writers at once. Tables ``ducksync_live_<id>_*`` stay
    in the database for inspection."""
    assert TOKEN is not None
    prefix = f"ducksync_live_{uuid.uuid4().hex[:8]}"
    with running_server(tmp_path_factory.mktemp("md-scenario"),
                        extra_args=("--remote", f"md:{DATABASE}")) as server:
        assert httpx.get(server.url + "/readyz", timeout=60).status_code == 200
        run_scenario(server.url, tmp_path_factory.mktemp("md-devices"), prefix)
        assert TOKEN not in server.output()
