"""The memory probe's failures become missing figures with a reason, never a crashed bench.

A fake CDP session stands in for Chromium's DevTools protocol (the real probe runs in
``ducksync bench --only browser``): one worker answers, one worker's heap call errors,
one worker does not report its WASM memories.
"""

from __future__ import annotations

import json
from typing import Any

from ducksync.bench.browser_data import _record_memory
from ducksync.bench.probe import WorkerProbe
from ducksync.bench.results import Results

WORKERS = {"t-local": "http://x/dist/local.worker.js", "t-remote": "http://x/dist/remote.worker.js",
           "t-duck": "http://x/dist/duckdb.worker.js?worker=a"}


class FakeCDP:
    def __init__(self, broken: set[str], silent: set[str]) -> None:
        self.broken, self.silent = broken, silent  # labels: heap errors / no wasm report
        self.handler: Any = None
        self.label: dict[str, str] = {}

    def on(self, _event: str, handler: Any) -> None:
        self.handler = handler

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if method == "Target.getTargets":
            return {"targetInfos": [{"type": "worker", "targetId": t, "url": u}
                                    for t, u in WORKERS.items()] + [{"type": "page"}]}
        if method == "Target.attachToTarget":
            sid = "s-" + params["targetId"]  # type: ignore[index]
            self.label[sid] = params["targetId"].removeprefix("t-")  # type: ignore[index]
            return {"sessionId": sid}
        assert method == "Target.sendMessageToTarget"
        sid, message = params["sessionId"], json.loads(params["message"])  # type: ignore[index]
        label = self.label[sid]
        if message["method"] == "Runtime.getHeapUsage":
            crashed = {"error": {"message": "Target crashed"}}
            heap = {"result": {"usedSize": 5e6, "backingStorageSize": 1e6}}
            reply: dict[str, Any] = crashed if label in self.broken else heap
        else:  # Runtime.evaluate of the worker's own WASM report
            value = None if label in self.silent else 64e6
            reply = {"result": {"result": {"type": "number", "value": value}}}
        self.handler({"sessionId": sid, "message": json.dumps({"id": message["id"], **reply})})
        return {}


class FakeBrowser:
    def __init__(self, cdp: FakeCDP) -> None:
        self.cdp = cdp

    def new_browser_cdp_session(self) -> FakeCDP:
        return self.cdp


class FakePage:
    def wait_for_timeout(self, _ms: float) -> None:
        raise AssertionError("replies are synchronous here")


def test_probe_failures_are_missing_figures_with_their_reason() -> None:
    probe = WorkerProbe(FakeBrowser(FakeCDP(broken={"remote"}, silent={"duck"})), FakePage())
    probe.sample()
    got = probe.sample(wasm=True)  # does not raise
    assert got["local"] == {"js heap MB": 5.0, "array buffers MB": 1.0, "wasm memory MB": 64.0}
    assert "remote" not in got and "Target crashed" in probe.failures["remote"]
    assert "does not report its WASM memories" in probe.failures["duckdb/wasm memory MB"]

    res = Results(command="test", rows=1, started_at="now", machine={})
    _record_memory(res, probe, "table push", 1000)
    figures = {m.name: m for m in res.measurements}
    assert figures["peak memory local worker, table push MB"].value == 69.0
    remote = figures["peak memory remote worker, table push MB"]
    assert remote.value is None and "Target crashed" in remote.note
    duck = figures["peak memory duckdb worker, table push MB"]
    assert duck.value is None and "does not report its WASM memories" in duck.note


def test_a_probe_that_cannot_attach_leaves_every_figure_missing() -> None:
    class NoCDP:
        def new_browser_cdp_session(self) -> Any:
            raise RuntimeError("Target page crashed")

    probe = WorkerProbe(NoCDP(), FakePage())
    assert probe.sample(wasm=True) == {}
    res = Results(command="test", rows=1, started_at="now", machine={})
    _record_memory(res, probe, "table push", 1000)
    assert len(res.measurements) == 3
    assert all(m.value is None and "page crashed" in m.note for m in res.measurements)
