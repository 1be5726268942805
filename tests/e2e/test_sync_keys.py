"""Composite-key conflicts in the page: labels built by DuckDB-WASM (no JSON extension there).

Written with the testing kit: the end state is checked on both devices *and* the remote.
"""

from __future__ import annotations

from typing import Any

import pytest

from ducksync.testing import assert_converged

pytestmark = pytest.mark.browser


def test_composite_keys_that_joined_alike_are_two_resolvable_conflicts(
        ducksync_server: Any, ducksync_device: Any) -> None:
    """('x|y', 'z') and ('x', 'y|z') were one label 'x|y|z': the second conflict failed
    every sync with a PRIMARY KEY violation."""
    server = ducksync_server()
    a, b = (ducksync_device(server, path="/?sync=manual") for _ in range(2))
    a.exec("CREATE TABLE dev_pairs (a VARCHAR, b VARCHAR, v VARCHAR, PRIMARY KEY (a, b))")
    a.exec("INSERT INTO dev_pairs VALUES ('x|y', 'z', '0'), ('x', 'y|z', '0'), "
           "('q\"' || chr(10), 'w', '0')")
    a.sync(tables=["dev_pairs"])
    b.sync(tables=["dev_pairs"])
    a.exec("UPDATE dev_pairs SET v = 'A'")
    b.exec("UPDATE dev_pairs SET v = 'B'")
    assert a.sync(tables=["dev_pairs"])["pushed"] == 3
    assert b.sync(tables=["dev_pairs"], policy="manual")["pending_conflicts"] == 3
    listed = b.call("conflicts", "dev_pairs")
    assert [c["key"] for c in listed] == ['["q\\"\\u000a","w"]', '["x","y|z"]', '["x|y","z"]']
    assert listed[0]["key_values"] == ['q"\n', "w"] and listed[0]["key_columns"] == ["a", "b"]
    assert "A" in listed[1]["remote"] and "B" in listed[1]["local"]
    for c, take in zip(listed, ("local", "remote", "local"), strict=True):
        b.call("resolveConflict", "dev_pairs", c["key"], take)
    assert b.sync(tables=["dev_pairs"])["converged"]
    assert a.sync(tables=["dev_pairs"])["converged"]
    rows = assert_converged(server, a, b, table="dev_pairs")
    assert [r["v"] for r in rows] == ["B", "A", "B"]
