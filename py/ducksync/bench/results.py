"""The result JSON (schema ``ducksync-bench/1``), target evaluation, and the markdown table.

A run is a flat list of measurements keyed ``suite/name`` (``native/push http``,
``browser/push``, ``start/warm first query``). Targets are ratios between two
measurements of the same run; a target whose inputs were not measured is SKIP,
never a silent PASS.
"""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SCHEMA = "ducksync-bench/1"
SUITES = ("start", "native", "latency", "slice", "browser", "feed")
Status = Literal["PASS", "MISS", "SKIP"]


@dataclass(kw_only=True)
class Measurement:
    """One number. ``unit``: ms, rows/s, B, MB, x, %; ``note`` says how it was obtained;
    ``samples``: every run's value when ``value`` is their median (see :func:`median`)."""

    suite: str
    name: str
    value: float | None
    unit: str
    note: str = ""
    samples: list[float] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.name}"


@dataclass(kw_only=True)
class Target:
    """``numerator / denominator`` (or ``numerator`` alone) compared with ``limit``."""

    name: str
    numerator: str
    denominator: str | None
    op: Literal["<=", ">=", "<"]
    limit: float
    unit: str = "x"

    def evaluate(self, values: dict[str, float]) -> TargetResult:
        num = values.get(self.numerator)
        den = values.get(self.denominator) if self.denominator else 1.0
        if num is None or den is None or den == 0:
            missing = [k for k in (self.numerator, self.denominator)
                       if k and values.get(k) is None]
            return TargetResult(name=self.name, value=None, limit=self.limit, op=self.op,
                                unit=self.unit, status="SKIP",
                                detail=f"not measured: {', '.join(missing) or 'zero'}")
        value = num / den
        ok = OPS[self.op](value, self.limit)
        return TargetResult(name=self.name, value=value, limit=self.limit, op=self.op,
                            unit=self.unit, status="PASS" if ok else "MISS",
                            detail=f"{self.numerator}" + (f" / {self.denominator}"
                                                          if self.denominator else ""))


@dataclass(kw_only=True)
class TargetResult:
    name: str
    value: float | None
    limit: float
    op: str
    unit: str
    status: Status
    detail: str = ""


OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt}

# The targets. Rates are rows/s (bigger is better), times ms, sizes bytes.
TARGETS: tuple[Target, ...] = (
    Target(name="browser push >= 50x seed", numerator="browser/push rows/s",
           denominator="browser/seed rows/s", op=">=", limit=50),
    Target(name="native push (via server) >= 50x seed", numerator="native/push http rows/s",
           denominator="native/seed rows/s", op=">=", limit=50),
    Target(name="browser push <= 3x local Arrow round trip", numerator="browser/push ms",
           denominator="browser/reference arrow round trip ms", op="<=", limit=3),
    Target(name="native push (via server) <= 3x local Arrow round trip",
           numerator="native/push http ms", denominator="native/reference arrow round trip ms",
           op="<=", limit=3),
    *(Target(name=f"{side} initial pull <= 1.0x initial push", numerator=f"{side}/{pull} ms",
             denominator=f"{side}/{push} ms", op="<=", limit=1.0)
      for side, pull, push in (("native", "pull http", "push http"),
                               ("browser", "pull", "push"))),
    # Each pull against the floor taken in its own state (docs/benchmarks.md, "Which floor
    # a pull is judged against"): natively there is one state; in the page a new device
    # (cold code, bytes over HTTP) and a device in use (warm code) each have their own.
    Target(name="native initial pull <= 1.5x local Arrow round trip (the wire floor)",
           numerator="native/pull http ms", denominator="native/reference arrow round trip ms",
           op="<=", limit=1.5),
    Target(name="browser initial pull, new device <= 1.5x a new device's wire floor",
           numerator="browser/pull ms", denominator="browser/new-device wire floor ms",
           op="<=", limit=1.5),
    Target(name="browser initial pull, newly held table <= 1.5x local Arrow round trip "
                "(both warm)",
           numerator="browser/held-table pull ms",
           denominator="browser/reference arrow round trip ms", op="<=", limit=1.5),
    Target(name="browser no-op sync <= 5% of initial push", numerator="browser/no-op sync ms",
           denominator="browser/push ms", op="<=", limit=0.05, unit="ratio"),
    Target(name="native no-op sync <= 5% of initial push", numerator="native/no-op sync ms",
           denominator="native/push http ms", op="<=", limit=0.05, unit="ratio"),
    Target(name="browser 1k change < 1% of table bytes", numerator="browser/1k change bytes",
           denominator="browser/table bytes", op="<", limit=0.01, unit="ratio"),
    Target(name="native 1k change < 1% of table bytes", numerator="native/1k change bytes",
           denominator="native/table bytes", op="<", limit=0.01, unit="ratio"),
    *(Target(name=f"browser {w} worker memory bounded (memory run <= 1.5x its baseline)",
             numerator=f"browser/peak memory {w} worker, memory run MB",
             denominator=f"browser/peak memory {w} worker, memory baseline MB", op="<=",
             limit=1.5)
      for w in ("local", "remote", "duckdb")),
    *(Target(name=f"{label} of 3 tables <= {limit} requests (50 ms away)",
             numerator=f"latency/{label} @50ms requests", denominator=None, op="<=",
             limit=limit, unit="requests")
      for label, limit in (("no-op sync", 2), ("1-row push", 3), ("1k push", 5),
                           ("1k pull", 5))),
    # the same budget on the other legs (issue 15): page → server, store → cloud
    *(Target(name=f"{leg}{label} of 3 tables <= {limit} {unit} (50 ms away)",
             numerator=f"latency/{leg}{label} @50ms {unit}", denominator=None, op="<=",
             limit=limit, unit=unit)
      for leg, unit, labels in (("page ", "requests", ("no-op sync", "1-row push", "1k push")),
                                ("store ", "round trips", ("no-op sync", "1-row push",
                                                           "1k push", "1k pull")),
                                ("page both legs ", "store round trips",
                                 ("no-op sync", "1-row push", "1k push")),
                                ("page direct ", "round trips",
                                 ("no-op sync", "1-row push", "1k push")))
      for label, limit in (("no-op sync", 2), ("1-row push", 3), ("1k push", 5),
                           ("1k pull", 5)) if label in labels),
    Target(name="cross-device p50 <= 300 ms (synced on A → visible on idle B)",
           numerator="feed/cross-device p50 ms", denominator=None, op="<=", limit=300,
           unit="ms"),
    Target(name="cross-device p99 <= 1 s", numerator="feed/cross-device p99 ms",
           denominator=None, op="<=", limit=1000, unit="ms"),
    Target(name="warm start to first query <= 2.5 s", numerator="start/warm first query ms",
           denominator=None, op="<=", limit=2500, unit="ms"),
    *(Target(name=f"slice: one owner's {label} <= 2x the same rows in their own table",
             numerator=f"slice/{label} shared ms", denominator=f"slice/{label} own ms",
             op="<=", limit=2)
      for label in ("first pull", "no-op sync", "1-row change")),
)


def evaluate(measurements: Iterable[Measurement],
             targets: Iterable[Target] = TARGETS) -> list[TargetResult]:
    values = {m.key: m.value for m in measurements if m.value is not None}
    return [t.evaluate(values) for t in targets]


@dataclass(kw_only=True)
class Results:
    """Everything one ``ducksync bench`` run produced."""

    command: str
    rows: int
    started_at: str
    machine: dict[str, Any]
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, suite: str, name: str, value: float | None, unit: str,
            note: str = "", samples: Sequence[float] = ()) -> Measurement:
        m = Measurement(suite=suite, name=name, value=value, unit=unit, note=note,
                        samples=[float(x) for x in samples])
        self.measurements = [x for x in self.measurements if x.key != m.key] + [m]
        return m

    def get(self, key: str) -> float | None:
        return next((m.value for m in self.measurements if m.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "command": self.command, "rows": self.rows,
                "started_at": self.started_at, "machine": self.machine,
                "measurements": [asdict(m) for m in self.measurements],
                "targets": [asdict(t) for t in evaluate(self.measurements)],
                "notes": list(self.notes)}


def carry_over(res: Results, previous: dict[str, Any], ran: Iterable[str]) -> list[str]:
    """Copy into ``res`` the measurements of the suites this run skipped, from ``previous``.

    A partial run (``ducksync bench --only start``) then regenerates the docs table whole
    (its targets need the other suites' numbers) instead of dropping their rows; a note
    says which rows come from which run. Returns the suites carried over.
    """
    if validate(previous):
        return []
    fresh = set(ran)
    kept = [m for m in previous["measurements"] if m["suite"] not in fresh]
    for m in kept:
        res.add(m["suite"], m["name"], m["value"], m["unit"], m.get("note", ""),
                m.get("samples") or ())
    suites = [s for s in SUITES if any(m["suite"] == s for m in kept)]
    if suites:
        machine = previous["machine"].get("summary", "")
        res.notes.append(f"{', '.join(suites)}: carried over from `{previous['command']}`, "
                         f"started {previous['started_at']} (machine: {machine}); "
                         f"this run measured {', '.join(s for s in SUITES if s in fresh)}")
    return suites


def validate(doc: dict[str, Any]) -> list[str]:
    """Problems with a result document (empty when it follows ``ducksync-bench/1``)."""
    problems: list[str] = []
    if doc.get("schema") != SCHEMA:
        problems.append(f"schema is {doc.get('schema')!r}, expected {SCHEMA!r}")
    for key, typ in (("command", str), ("rows", int), ("started_at", str),
                     ("machine", dict), ("measurements", list), ("targets", list),
                     ("notes", list)):
        if not isinstance(doc.get(key), typ):
            problems.append(f"{key} missing or not {typ.__name__}")
    for i, m in enumerate(doc.get("measurements") or []):
        if not isinstance(m, dict) or m.get("suite") not in SUITES \
                or not isinstance(m.get("name"), str) or not isinstance(m.get("unit"), str) \
                or not (m.get("value") is None or isinstance(m.get("value"), int | float)):
            problems.append(f"measurements[{i}] malformed: {m!r}")
        elif not all(isinstance(x, int | float) for x in m.get("samples") or []):
            problems.append(f"measurements[{i}] has non-numeric samples")
    for i, t in enumerate(doc.get("targets") or []):
        if not isinstance(t, dict) or t.get("status") not in ("PASS", "MISS", "SKIP"):
            problems.append(f"targets[{i}] malformed: {t!r}")
    return problems


def median(samples: Sequence[float], unit: str) -> tuple[float, str]:
    """The median of one number measured ``len(samples)`` times, and the note saying so.

    One run of a push or a seed moves with whatever else the two cores do at the time
    (the same push measured 3.4 to 6.4 s in one session); a target compares medians.
    """
    value = statistics.median(samples)
    if len(samples) == 1:
        return value, ""
    runs = " / ".join(_fmt(x, unit) for x in samples)
    return value, f"median of {len(samples)} runs ({runs})"


def phases(timings: dict[str, float] | None, top: int = 4) -> str:
    """The engine's biggest phases as shares of their sum: ``remote_apply 49%, record 30%``."""
    if not timings:
        return ""
    total = sum(timings.values()) or 1.0
    parts = sorted(timings.items(), key=lambda kv: -kv[1])[:top]
    return "phases: " + ", ".join(f"{k.removeprefix('push.')} {v / total:.0%}" for k, v in parts)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("B",):
        return f"{value:,.0f} B"
    if unit == "ratio":
        return f"{value:.2%}"
    if unit == "x":
        return f"{value:,.1f}x"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:,.2f} {unit}"


def markdown(doc: dict[str, Any]) -> str:
    """The results section of ``docs/benchmarks.md`` for one result document."""
    lines = [f"Command: `{doc['command']}` — {doc['rows']:,} rows, started "
             f"{doc['started_at']}; machine: {doc['machine'].get('summary', '')}", ""]
    for suite in SUITES:
        rows = [m for m in doc["measurements"] if m["suite"] == suite]
        if not rows:
            continue
        lines += [f"### {suite}", "", "| measurement | value | how |", "|---|---|---|"]
        lines += [f"| {m['name']} | {_fmt(m['value'], m['unit'])} | {m['note']} |" for m in rows]
        lines.append("")
    lines += ["### targets", "", "| target | measured | limit | status |", "|---|---|---|---|"]
    for t in doc["targets"]:
        lines.append(f"| {t['name']} | {_fmt(t['value'], t['unit'])} | {t['op']} "
                     f"{_fmt(t['limit'], t['unit'])} | **{t['status']}** |")
    if doc.get("notes"):
        lines += ["", *[f"* {n}" for n in doc["notes"]]]
    return "\n".join(lines) + "\n"


BEGIN = "<!-- bench:results:begin (generated by `ducksync bench`; edit outside these marks) -->"
END = "<!-- bench:results:end -->"


def splice(document: str, generated: str) -> str:
    """Replace the generated block of ``docs/benchmarks.md`` (appended when absent)."""
    block = f"{BEGIN}\n{generated}{END}"
    if BEGIN in document and END in document:
        head, rest = document.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1]
    return document.rstrip("\n") + "\n\n" + block + "\n"
