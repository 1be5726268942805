"""Per-worker memory through the Chrome DevTools Protocol (no cooperation from the workers).

For every dedicated worker of the page (local, remote, DuckDB's nested worker):
``Runtime.getHeapUsage`` (JS heap used, ArrayBuffer backing stores) and the sum of
all live ``WebAssembly.Memory`` buffers (found with ``Runtime.queryObjects`` on
``WebAssembly.Memory.prototype``). Playwright's CDP sessions cannot address child
sessions, so messages go through ``Target.sendMessageToTarget`` on a browser session.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

_WASM_SUM = "function () { return this.reduce((s, m) => s + m.buffer.byteLength, 0); }"


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
        self.cdp = browser.new_browser_cdp_session()
        self.replies: dict[tuple[str, int], dict[str, Any]] = {}
        self.ids = itertools.count(1)
        self.cdp.on("Target.receivedMessageFromTarget", self._on_message)
        self.sessions: dict[str, str] = {}
        for info in self.cdp.send("Target.getTargets")["targetInfos"]:
            if info["type"] == "worker":
                sid = self.cdp.send("Target.attachToTarget",
                                    {"targetId": info["targetId"], "flatten": False})["sessionId"]
                self.sessions[sid] = worker_label(info["url"])
        self.peak: dict[str, dict[str, float]] = {}

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
                raise TimeoutError(f"no CDP reply to {method} from the {self.sessions[sid]} worker")
            self.page.wait_for_timeout(20)  # lets Playwright dispatch the CDP events
            waited += 20
        reply = self.replies.pop((sid, mid))
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply["result"]
        return result

    def _wasm_bytes(self, sid: str) -> float:
        proto = self._call(sid, "Runtime.evaluate",
                           {"expression": "WebAssembly.Memory.prototype"})["result"]["objectId"]
        found = self._call(sid, "Runtime.queryObjects", {"prototypeObjectId": proto})
        total = self._call(sid, "Runtime.callFunctionOn", {
            "objectId": found["objects"]["objectId"], "functionDeclaration": _WASM_SUM,
            "returnByValue": True})
        self._call(sid, "Runtime.releaseObjectGroup", {"objectGroup": ""})
        return float(total["result"].get("value") or 0)

    def sample(self, *, wasm: bool = False) -> dict[str, dict[str, float]]:
        """Heap usage per worker (cheap). ``wasm=True`` also sums the WASM memories, which
        walks the heap: do it after a run (a WASM memory never shrinks, so its size at the
        end is its peak), not while timing one."""
        out: dict[str, dict[str, float]] = {}
        for sid, label in self.sessions.items():
            heap = self._call(sid, "Runtime.getHeapUsage")
            mb = {"js heap MB": heap["usedSize"] / 1e6,
                  "array buffers MB": heap.get("backingStorageSize", 0) / 1e6}
            if wasm:
                mb["wasm memory MB"] = self._wasm_bytes(sid) / 1e6
            out[label] = mb
            peak = self.peak.setdefault(label, {})
            for key, value in mb.items():
                peak[key] = max(peak.get(key, 0.0), value)
        return out

    def reset_peaks(self) -> None:
        self.peak = {}
