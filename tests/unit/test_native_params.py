"""Binding a list parameter on a native connection does not search for pandas per element
(ducksync.stores.native.known_without_pandas; the cost: docs/benchmarks.md, session 12)."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest

from ducksync.stores import native


class _CountPandas(importlib.abc.MetaPathFinder):
    """Counts the searches for pandas (finds nothing itself)."""

    def __init__(self) -> None:
        self.searches = 0

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> Any:
        if fullname == "pandas":
            self.searches += 1
        return None


@pytest.mark.skipif(importlib.util.find_spec("pandas") is not None,
                    reason="pandas is installed: duckdb imports it once and keeps it")
def test_a_bound_list_does_not_search_for_pandas_per_element(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Was one failed import of pandas per element (twice, through sys.path): a bound
    list of a thousand keys or buckets cost more than its statement."""
    monkeypatch.delitem(sys.modules, "pandas", raising=False)  # as in a fresh process
    counter = _CountPandas()
    monkeypatch.setattr(sys, "meta_path", [counter, *sys.meta_path])
    con = native.connect(":memory:")
    try:
        values = [str(i) for i in range(200)]
        assert con.execute("SELECT len(?::VARCHAR[])", [values]).fetchall() == [(200,)]
    finally:
        con.close()
    assert counter.searches <= 1  # the one check that pandas is not installed (was 402)
