"""``ducksync bench``: measure the sync path natively and in the real browser.

Writes a result JSON and regenerates the table in ``docs/benchmarks.md``. It
measures, it does not gate: exit 0 regardless of the targets unless ``--check``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

ONLY = ("native", "latency", "slice", "browser", "start")


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "bench", help="benchmark the sync path (native + real browser)",
        description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=1_000_000, help="table rows (default 1M)")
    p.add_argument("--only", default=None, metavar="|".join(ONLY),
                   help="run only these suites (comma-separated; default all)")
    p.add_argument("--out", type=Path, default=Path("bench-results/results.json"),
                   help="result JSON (default bench-results/results.json)")
    p.add_argument("--seed-rows", type=int, default=50_000,
                   help="rows the seed's baseline is timed on (rate extrapolated)")
    p.add_argument("--memory-rows", type=int, default=5_000_000,
                   help="table size of the browser memory run (0 skips it)")
    p.add_argument("--runs", type=int, default=1,
                   help="samples of the start-up, the initial pushes (each in a fresh browser "
                        "profile or into a fresh server), the seed and the no-op syncs "
                        "(the median is reported)")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    p.set_defaults(handler=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from ducksync.bench.run import Options, run, summary, write
    from ducksync.errors import DucksyncError

    only = tuple(s.strip() for s in (args.only or ",".join(ONLY)).split(",") if s.strip())
    if bad := [s for s in only if s not in ONLY]:
        raise DucksyncError(f"unknown suite {', '.join(bad)}", hint=f"use {', '.join(ONLY)}")
    opts = Options(rows=args.rows, only=only, out=args.out, seed_rows=args.seed_rows,
                   memory_rows=args.memory_rows, runs=max(1, args.runs),
                   update_docs=not args.no_docs,
                   command="ducksync bench " + shlex.join(sys.argv[2:]) if sys.argv[1:2] ==
                   ["bench"] else "ducksync bench")
    res = run(opts)
    write(res, opts)
    text, misses = summary(res)
    print(text)
    print(f"results: {opts.out}" + ("" if args.no_docs else "; table: docs/benchmarks.md"))
    return 1 if args.check and misses else 0
