"""Per-worker memory through the Chrome DevTools Protocol.

For every dedicated worker of the page (local, remote, DuckDB's nested worker):
``Runtime.getHeapUsage`` (JS heap used, ArrayBuffer backing stores) and the sum of its
live ``WebAssembly.Memory`` buffers, which each worker reports itself
(``globalThis.ducksyncWasmBytes()``, workers/wasm_memories.js): walking a worker's heap
for them (``Runtime.queryObjects``) crashes the page on Chromium 156. Playwright's CDP
sessions cannot address child sessions, so messages go through
``Target.sendMessageToTarget`` on a browser session.

A probe never fails the bench: what it cannot measure is a missing figure, and
:attr:`WorkerProbe.failures` says why.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

WORKERS = ("local", "remote", "duckdb")
_WASM_BYTES = "globalThis.ducksyncWasmBytes ? globalThis.ducksyncWasmBytes() : null"


class ProbeError(RuntimeError):
    """One measurement the probe could not take (the worker's reason is the message)."""


def worker_label(url: str) -> str:
    if "local.worker" in url:
        return "local"
    if "remote.worker" in url:
        return "remote"
    return "duckdb"  # AsyncDuckDB's nested worker (a blob: or vendor URL)


class WorkerProbe:
    """Attach once to the page's workers; :meth:`sample` returns MB per worker."""

    def __init__(self, browser: Any, page: Any) -> None:
        self.page = page
        self.replies: dict[tuple[str, int], dict[str, Any]] = {}
        self.ids = itertools.count(1)
        self.sessions: dict[str, str] = {}
        self.peak: dict[str, dict[str, float]] = {}
        self.failures: dict[str, str] = {}  # "worker" or "worker/figure" -> why it is missing
        try:
            self.cdp = browser.new_browser_cdp_session()
            self.cdp.on("Target.receivedMessageFromTarget", self._on_message)
            for info in self.cdp.send("Target.getTargets")["targetInfos"]:
                if info["type"] == "worker":
                    sid = self.cdp.send("Target.attachToTarget",
                                        {"targetId": info["targetId"], "flatten": False})
                    self.sessions[sid["sessionId"]] = worker_label(info["url"])
        except Exception as exc:  # any CDP failure is a missing figure
            for label in WORKERS:
                self.failures[label] = f"cannot attach to the workers: {exc}"

    def _on_message(self, event: dict[str, Any]) -> None:
        message = json.loads(event["message"])
        if "id" in message:
            self.replies[(event["sessionId"], message["id"])] = message

    def _call(self, sid: str, method: str, params: dict[str, Any] | None = None,
              timeout_ms: float = 15_000) -> dict[str, Any]:
        mid = next(self.ids)
        self.cdp.send("Target.sendMessageToTarget", {"sessionId": sid, "message": json.dumps(
            {"id": mid, "method": method, "params": params or {}})})
        waited = 0.0
        while (sid, mid) not in self.replies:
            if waited > timeout_ms:
                raise ProbeError(f"no CDP reply to {method} from the {self.sessions[sid]} worker")
            self.page.wait_for_timeout(20)  # lets Playwright dispatch the CDP events
            waited += 20
        reply = self.replies.pop((sid, mid))
        if "error" in reply:
            raise ProbeError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply["result"]
        return result

    def _wasm_bytes(self, sid: str) -> float:
        """The WASM memories the worker reports itself (workers/wasm_memories.js)."""
        reply = self._call(sid, "Runtime.evaluate",
                           {"expression": _WASM_BYTES, "returnByValue": True})
        value = reply["result"].get("value")
        if "exceptionDetails" in reply or value is None:
            raise ProbeError("the worker does not report its WASM memories "
                             "(no globalThis.ducksyncWasmBytes)")
        return float(value)

    def _measure(self, sid: str, wasm: bool) -> dict[str, float]:
        label = self.sessions[sid]
        heap = self._call(sid, "Runtime.getHeapUsage")
        mb = {"js heap MB": heap["usedSize"] / 1e6,
              "array buffers MB": heap.get("backingStorageSize", 0) / 1e6}
        if wasm:
            try:
                mb["wasm memory MB"] = self._wasm_bytes(sid) / 1e6
            except Exception as exc:  # a missing figure, with its reason
                self.failures[f"{label}/wasm memory MB"] = str(exc)
        return mb

    def sample(self, *, wasm: bool = False) -> dict[str, dict[str, float]]:
        """Heap usage per worker (cheap); ``wasm=True`` also the WASM memories (their size
        at the end of a run is its peak: a WASM memory never shrinks). A worker that does
        not answer is left out and its reason kept in :attr:`failures`."""
        out: dict[str, dict[str, float]] = {}
        for sid, label in self.sessions.items():
            try:
                mb = self._measure(sid, wasm)
            except Exception as exc:  # a missing figure, with its reason
                self.failures[label] = str(exc)
                continue
            out[label] = mb
            peak = self.peak.setdefault(label, {})
            for key, value in mb.items():
                peak[key] = max(peak.get(key, 0.0), value)
        return out

    def reset_peaks(self) -> None:
        self.peak = {}
