"""One ``ducksync bench`` run: the chosen suites → result JSON + ``docs/benchmarks.md``."""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ducksync.bench import repo
from ducksync.bench.repo import ROOT, machine
from ducksync.bench.results import Results, carry_over, evaluate, markdown, splice

SUITES = ("start", "native", "latency", "slice", "browser", "feed")
PAGE_SUITES = frozenset({"start", "latency", "browser", "feed"})  # they run the page
DOC = ROOT / "docs" / "benchmarks.md"


@dataclass(kw_only=True)
class Options:
    rows: int = 1_000_000
    only: tuple[str, ...] = SUITES
    out: Path = Path("bench-results/results.json")
    seed_rows: int = 50_000
    memory_rows: int = 5_000_000
    runs: int = 1
    update_docs: bool = True
    command: str = "ducksync bench"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(opts: Options) -> Results:
    res = Results(command=opts.command, rows=opts.rows,
                  started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                  machine=machine())
    if PAGE_SUITES & set(opts.only):
        log("building the page's assets from this checkout")
        repo.build_assets()
    with tempfile.TemporaryDirectory(prefix="ducksync-bench-") as tmpdir:
        tmp = Path(tmpdir)
        if "native" in opts.only:
            from ducksync.bench import native

            (tmp / "native").mkdir()
            native.run(tmp / "native", res, rows=opts.rows, seed_rows=opts.seed_rows,
                       runs=opts.runs, log=log)
        if "latency" in opts.only:
            from ducksync.bench import latency

            (tmp / "latency").mkdir()
            latency.run(tmp / "latency", res, log=log)
        if "slice" in opts.only:
            from ducksync.bench import slice as slice_suite

            (tmp / "slice").mkdir()
            slice_suite.run(tmp / "slice", res, rows=opts.rows, runs=opts.runs, log=log)
        if "feed" in opts.only:
            from ducksync.bench import feed

            (tmp / "feed").mkdir()
            feed.run(tmp / "feed", res, log=log)
        if "start" in opts.only or "browser" in opts.only:
            from ducksync.bench import browser

            browser.run(tmp, res, opts=opts, log=log)
    after = machine()
    res.machine["load_after"] = after["load"]
    res.machine["summary"] += f"; after: {after['load'][0]:.2f}"
    return res


def write(res: Results, opts: Options) -> dict[str, object]:
    """The result JSON at ``opts.out`` and the docs table. A partial run (``--only``) keeps
    the other suites' rows from the result file it replaces (see ``carry_over``)."""
    if set(opts.only) != set(SUITES) and opts.out.exists():
        try:
            carry_over(res, json.loads(opts.out.read_text()), opts.only)
        except (OSError, ValueError):
            log(f"{opts.out}: unreadable, the other suites' rows are not carried over")
    doc = res.to_dict()
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(doc, indent=2) + "\n")
    if opts.update_docs and DOC.exists():
        DOC.write_text(splice(DOC.read_text(), markdown(doc)))
    return doc


def summary(res: Results) -> tuple[str, int]:
    """Human lines (PASS/MISS per target) and the number of misses."""
    lines, misses = [], 0
    for m in res.measurements:
        value = "—" if m.value is None else f"{m.value:,.1f}"
        lines.append(f"  {m.key:<44} {value:>16} {m.unit}")
    lines.append("targets:")
    for t in evaluate(res.measurements):
        misses += t.status == "MISS"
        value = "—" if t.value is None else f"{t.value:,.3f}"
        lines.append(f"  {t.status:<4}  {t.name:<56} {value} ({t.op} {t.limit:g}) {t.detail}")
    return "\n".join(lines), misses
