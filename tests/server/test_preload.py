"""A just-started server imports at start-up what its first requests would import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

# In a fresh interpreter (this process has imported everything already): the app
# started (its lifespan run, its background import done), then the first survey of a
# file remote holding a keyed table, which stages the table's row hashes as an Arrow
# table (``con.register``).
FIRST_SURVEY = """
import json, sys
from fastapi.testclient import TestClient
from ducksync.server.app import create_app
from ducksync.server.settings import Settings

app = create_app(Settings(remote=sys.argv[1]))
with TestClient(app) as client:
    preloading = getattr(app.state, "preloading", None)  # a thread (ducksync.server.preload)
    if preloading is not None:
        preloading.join(timeout=60)
    before = set(sys.modules)
    reply = client.post("/api/v1/sync/survey", json={"tables": ["t"]})
    assert reply.status_code == 200, reply.text
    print(json.dumps({"rows": [t["rows"] for t in reply.json()["tables"]],
                      "imported": sorted(set(sys.modules) - before)}))
"""


def test_the_first_survey_imports_no_pyarrow_module(tmp_path: Path) -> None:
    remote = tmp_path / "remote.duckdb"
    with duckdb.connect(str(remote)) as con:
        con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR)")
        con.execute("INSERT INTO t SELECT i, 'v' || i FROM range(100) r(i)")
    out = subprocess.run([sys.executable, "-c", FIRST_SURVEY, str(remote)], env=os.environ,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer["rows"] == [100]  # the checksum was computed, not an empty answer
    assert [m for m in answer["imported"] if m.split(".")[0] == "pyarrow"] == []
