"""Composite-key conflicts in the page: labels built by DuckDB-WASM (no JSON extension there)."""

from __future__ import annotations

from typing import Any

import pytest
from pageutil import ex, q, sync

pytestmark = pytest.mark.browser

MANUAL = "window.ducksync.configureSync({interval: 0, onWrite: false})"


def test_composite_keys_that_joined_alike_are_two_resolvable_conflicts(open_app: Any,
                                                                        server: Any) -> None:
    """('x|y', 'z') and ('x', 'y|z') were one label 'x|y|z': the second conflict failed
    every sync with a PRIMARY KEY violation."""
    a, b = open_app(server.url), open_app(server.url)
    for page in (a, b):
        page.evaluate(MANUAL)
    ex(a, "CREATE TABLE dev_pairs (a VARCHAR, b VARCHAR, v VARCHAR, PRIMARY KEY (a, b))")
    ex(a, "INSERT INTO dev_pairs VALUES ('x|y', 'z', '0'), ('x', 'y|z', '0'), "
          "('q\"' || chr(10), 'w', '0')")
    sync(a, tables=["dev_pairs"])
    sync(b, tables=["dev_pairs"])
    ex(a, "UPDATE dev_pairs SET v = 'A'")
    ex(b, "UPDATE dev_pairs SET v = 'B'")
    assert sync(a, tables=["dev_pairs"])["pushed"] == 3
    assert sync(b, tables=["dev_pairs"], policy="manual")["pending_conflicts"] == 3
    listed = b.evaluate("window.ducksync.conflicts('dev_pairs')")
    assert [c["key"] for c in listed] == ['["q\\"\\u000a","w"]', '["x","y|z"]', '["x|y","z"]']
    assert listed[0]["key_values"] == ['q"\n', "w"] and listed[0]["key_columns"] == ["a", "b"]
    assert "A" in listed[1]["remote"] and "B" in listed[1]["local"]
    for c, take in zip(listed, ("local", "remote", "local"), strict=True):
        b.evaluate("([k, t]) => window.ducksync.resolveConflict('dev_pairs', k, t)",
                   [c["key"], take])
    assert sync(b, tables=["dev_pairs"])["converged"]
    assert sync(a, tables=["dev_pairs"])["converged"]
    rows = "SELECT a, b, v FROM dev_pairs ORDER BY a, b"
    assert q(a, rows) == q(b, rows)
    assert [r["v"] for r in q(a, rows)] == ["B", "A", "B"]
