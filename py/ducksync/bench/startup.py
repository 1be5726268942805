"""Start-up marks read from the page: shared by ``ducksync bench`` and scripts/measure_startup.py.

The page marks each milestone with ``performance.mark`` (ms since navigation):
``ducksync:ui-interactive`` (MicroPython UI wired), ``ducksync:<worker>:<phase>``
(each worker PHASE event), ``ducksync:ready`` (local ready and remote settled);
"first query result" is a ``SELECT`` issued as soon as the local worker is ready.
Worker boot steps come from ``status()``.
"""

from __future__ import annotations

import statistics
from typing import Any

MARKS = ("ducksync:client-created", "ducksync:ui-interactive", "ducksync:local:ready",
         "ducksync:remote:connected", "ducksync:ready")
READY = "() => window.ducksync && document.body.dataset.ready === 'true'"
FIRST_QUERY = "SELECT 42 AS answer"
# The three milestones the benchmark reports, by mark name.
MILESTONES = {"UI interactive": "ducksync:ui-interactive",
              "local worker ready": "ducksync:local:ready",
              "first query": "first query result",
              "app ready (remote settled too)": "ducksync:ready"}

# The first query goes out as soon as the *local* worker is ready (through the client
# the page created at once), as an app would; the app-wide `ready` also waits for the
# remote worker to settle, which the first query does not need.
_FIRST_QUERY_JS = """async (sql) => {
    const c = window.ducksyncClient;
    await new Promise((resolve) => {
        if (c.status().ready) return resolve();
        const off = c.on("phase", () => { if (c.status().ready) { off(); resolve(); } });
    });
    await c.query(sql);
    return performance.now();
}"""
_MARKS_JS = """() => {
    const out = {};
    for (const m of performance.getEntriesByType("mark")) out[m.name] ??= m.startTime;
    const s = window.ducksync.status();
    for (const [w, st] of [["local", s.local], ["remote", s.remote]])
        for (const [k, v] of Object.entries(st.steps ?? {})) out[`${w} step: ${k}`] = v;
    return out;
}"""


# The first visit is over when the service worker it registered (after ready) has
# precached the app and controls the page: a warm start is a *return* visit. Reloading
# before that measures the precache's 80 MB copy competing with the boot instead.
_OFFLINE_READY_JS = """async () => {
    const registration = await window.ducksyncSW;
    if (!registration) return false;
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) await new Promise((resolve) =>
        navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true }));
    return true;
}"""


def wait_offline_ready(page: Any) -> bool:
    """Wait until the service worker is installed and controls the page (False: none)."""
    return bool(page.evaluate(_OFFLINE_READY_JS))


def sample(page: Any, timeout_ms: float = 120_000) -> dict[str, float]:
    """Marks (ms since navigation), worker boot steps, and the first query's result time."""
    page.wait_for_function("() => window.ducksyncClient", timeout=timeout_ms)
    first = float(page.evaluate(_FIRST_QUERY_JS, FIRST_QUERY))
    page.wait_for_function(READY, timeout=timeout_ms)
    result: dict[str, float] = page.evaluate(_MARKS_JS)
    result["first query result"] = first
    return result


_TIMELINE_JS = """() => {
    const t = self.ducksyncTimeline;
    return t ? Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v])) : null;
}"""


def timeline(page: Any) -> dict[str, float]:
    """Each worker's boot milestones (``workers/boot.mjs`` ``mark``), in ms since navigation.

    Workers keep absolute times (``performance.timeOrigin + now``); the page's own
    ``timeOrigin`` turns them into the same scale as the page's marks. Keys are
    ``<worker>: <milestone>``, the worker named after its script.
    """
    origin = float(page.evaluate("performance.timeOrigin"))
    out: dict[str, float] = {}
    for worker in page.workers:
        name = worker.url.rsplit("/", 1)[-1].split(".", 1)[0]
        try:
            marks = worker.evaluate(_TIMELINE_JS)
        except Exception:  # a worker that went away (e.g. a closed nested worker)
            continue
        for key, at in (marks or {}).items():
            out[f"{name}: {key}"] = float(at) - origin
    return out


def median_table(samples: list[dict[str, float]]) -> dict[str, float]:
    """Per key, the median over the samples that all have it."""
    keys = [k for k in samples[0] if all(k in s for s in samples)]
    return {k: statistics.median(s[k] for s in samples) for k in keys}
