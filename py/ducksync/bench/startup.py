"""Start-up marks read from the page: shared by ``ducksync bench`` and scripts/measure_startup.py.

The page marks each milestone with ``performance.mark`` (ms since navigation):
``ducksync:ui-interactive`` (MicroPython UI wired), ``ducksync:<worker>:<phase>``
(each worker PHASE event), ``ducksync:ready``; "first query result" is a ``SELECT``
issued as soon as the app is ready. Worker boot steps come from ``status()``.
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
              "first query": "first query result"}

_SAMPLE_JS = """async (sql) => {
    const out = {};
    for (const m of performance.getEntriesByType("mark")) out[m.name] ??= m.startTime;
    await window.ducksync.query(sql);
    out["first query result"] = performance.now();
    const s = window.ducksync.status();
    for (const [w, st] of [["local", s.local], ["remote", s.remote]])
        for (const [k, v] of Object.entries(st.steps ?? {})) out[`${w} step: ${k}`] = v;
    return out;
}"""


def sample(page: Any, timeout_ms: float = 120_000) -> dict[str, float]:
    """Marks (ms since navigation), worker boot steps, and the first query's result time."""
    page.wait_for_function(READY, timeout=timeout_ms)
    result: dict[str, float] = page.evaluate(_SAMPLE_JS, FIRST_QUERY)
    return result


def median_table(samples: list[dict[str, float]]) -> dict[str, float]:
    """Per key, the median over the samples that all have it."""
    keys = [k for k in samples[0] if all(k in s for s in samples)]
    return {k: statistics.median(s[k] for s in samples) for k in keys}
