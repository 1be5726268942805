"""The bench's initial pull in the page starts where its push does: after the first visit;
so does its new-device wire floor, in a fresh profile of its own; the same page then pulls
a table it never held (the warm bootstrap, judged against the warm reference).

The push is timed in a page whose service worker was installed long before (after a fill
and a reload); a pull timed at ``ready`` shared the machine with the first visit's
precache and measured it too (docs/benchmarks.md, session 12, page). Fakes stand in for
the browser and the page (the real path runs in ``ducksync bench --only browser``).
"""

from __future__ import annotations

from typing import Any

import pytest

from ducksync.bench import browser_data, startup
from ducksync.bench.results import Results


class FakePage:
    def __init__(self, steps: list[str]) -> None:
        self.steps = steps
        self.context = self

    def close(self) -> None:
        self.steps.append("closed")


def test_first_pull_waits_for_the_first_visit_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[str] = []
    rows = 10

    def sync(page: Any, probe: Any, **args: Any) -> dict[str, Any]:
        steps.append(f"pull {args['tables'][0]}")
        assert args["direction"] == "pull"
        return {"ms": 5.0, "engine_bytes": 0,
                "report": {"pulled": rows, "ms": 4.0, "tables": [{"timings": {}}]}}

    def offline_ready(page: Any) -> bool:
        steps.append("offline ready")
        return True

    def reference(page: Any, wire: dict[str, Any] | None = None) -> dict[str, Any]:
        steps.append("floor")
        fetched.append(wire)
        return {"export_ms": 1.0, "ingest_ms": 2.0, "bytes": 100}

    fetched: list[dict[str, Any] | None] = []
    monkeypatch.setattr(browser_data, "_reference", reference)
    monkeypatch.setattr(browser_data, "_open_manual", lambda *_: FakePage(steps))
    monkeypatch.setattr(startup, "wait_offline_ready", offline_ready)
    monkeypatch.setattr(browser_data, "_sync", sync)
    monkeypatch.setattr(browser_data, "metrics_bytes", lambda url: 0)
    server = type("Server", (), {"url": "http://x"})()
    res = Results(command="test", rows=rows, started_at="now", machine={})
    browser_data._first_pull(None, server, res, rows, runs=3, log=lambda _: None,
                             held=["bench_run0", "bench_run1"])
    assert steps == [
        step for held in ("bench_run0", "bench_run1", "bench_run0")
        for step in ("offline ready", "floor", "closed", "offline ready", "pull bench",
                     f"pull {held}", "closed")]
    pull = next(m for m in res.measurements if m.name == "pull ms")
    assert pull.samples == [5.0, 5.0, 5.0]
    # the pull's own bytes: the server's rows-after route, the table's columns only
    assert fetched[0] == {"url": "http://x/api/v1/sync/tables/bench/rows-after",
                          "body": {"column": "id", "batch_rows": rows, "hashes": False}}
    floor = next(m for m in res.measurements if m.name == "new-device wire floor ms")
    assert floor.samples == [3.0, 3.0, 3.0]
    later = next(m for m in res.measurements if m.name == "held-table pull ms")
    assert later.samples == [5.0, 5.0, 5.0]
    assert not res.notes


def test_without_a_table_pushed_by_another_run_the_held_pull_is_said_not_measured(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser_data, "_reference",
                        lambda page, wire=None: {"export_ms": 1.0, "ingest_ms": 2.0, "bytes": 1})
    monkeypatch.setattr(browser_data, "_open_manual", lambda *_: FakePage([]))
    monkeypatch.setattr(startup, "wait_offline_ready", lambda page: True)
    monkeypatch.setattr(browser_data, "_sync", lambda page, probe, **args: {
        "ms": 5.0, "engine_bytes": 0, "report": {"pulled": 10, "ms": 4.0, "tables": [{}]}})
    monkeypatch.setattr(browser_data, "metrics_bytes", lambda url: 0)
    res = Results(command="test", rows=10, started_at="now", machine={})
    browser_data._first_pull(None, type("S", (), {"url": "http://x"})(), res, 10, runs=1,
                             log=lambda _: None)
    assert "held-table pull ms" not in {m.name for m in res.measurements}
    assert any("--runs 2" in n for n in res.notes)
