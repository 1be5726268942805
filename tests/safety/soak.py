"""``make soak``: the safety suite at large sizes, with a table of what happened.

Kills the CLI at points of a first push and of a two-way sync (file remote), the
server while it applies, the CLI again while it recovers; then replicas syncing
concurrently under every conflict policy. Prints one line per run and the totals:
runs, kills, rows lost, duplicated, diverged. Exit 1 if anything was lost,
duplicated, diverged, left unsettled or did not converge.

Parameters (environment):
    DUCKSYNC_SOAK_ROWS=1000000        rows of each kill scenario
    DUCKSYNC_SOAK_BATCH_ROWS=100000   rows per batch (so a run has several)
    DUCKSYNC_SOAK_EVERY=0             1: kill at every occurrence of every point
                                      (default: each point's first, middle and last)
    DUCKSYNC_SOAK_REPLICAS=3          concurrent replicas per policy
    DUCKSYNC_SOAK_ROUNDS=90           write+sync rounds per replica and policy
    DUCKSYNC_SOAK_ONLY=kills,server,recover,replicas,browser   a subset (browser: the page
                                      reloaded/closed at each batch of a push, in Chromium;
                                      needs the built assets)
    DUCKSYNC_SOAK_DIR=                keep the run's files there (default: a temp dir)

Run: ``make soak``, or ``PYTHONPATH=py:tests:tests/safety .venv/bin/python tests/safety/soak.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

import harness as h  # noqa: E402
import replicas  # noqa: E402

from serverutil import running_server  # noqa: E402

SERVER_POINTS = ("remote.commit", "remote.committed", "server.answer")


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def faults_for(seen: list[str], every: bool) -> list[str]:
    """``POINT:N`` for each point a run reaches: every occurrence, or the first,
    middle and last."""
    counts = Counter(seen)
    out = []
    for point in dict.fromkeys(seen):
        n = counts[point]
        picks = range(1, n + 1) if every else sorted({1, (n + 1) // 2, n})
        out += [f"{point}:{k}" for k in picks]
    return out


def line(o: h.Outcome, seconds: float) -> str:
    d = o.damage
    return (f"{o.scenario:<11} {o.target:<6} {o.fault:<26} {'yes' if o.killed else 'NO':<6} "
            f"{'yes' if o.converged else 'NO':<9} {d.lost:>5} {d.duplicated:>5} "
            f"{d.diverged:>8} {d.unsettled:>9} {o.leftovers:>9} {seconds:>6.1f}"
            + ("" if o.ok else "   <-- " + "; ".join(d.notes)))


def browser_faults() -> tuple[int, int]:
    """The browser fault tests at every batch (``DUCKSYNC_SAFETY_BROWSER_SOAK``); one
    line per fault; returns (faults run, failed)."""
    print("\nbrowser: page reloaded/closed with the local worker frozen at a point", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(Path(__file__).parent / "test_browser_faults.py"),
         "-q", "-rA", "-p", "no:cacheprovider"], cwd=Path(__file__).parents[2],
        env={**os.environ, "DUCKSYNC_SAFETY_BROWSER_SOAK": "1"}, capture_output=True,
        text=True, check=False)
    results = [ln.split(" ", 1) for ln in done.stdout.splitlines()
               if ln.startswith(("PASSED ", "FAILED ", "ERROR "))]
    for status, test in results:
        print(f"  {status:<7} {test.split('[', 1)[-1].rstrip(']')}", flush=True)
    failed = sum(status != "PASSED" for status, _ in results)
    if done.returncode != 0 and not failed:
        print(done.stdout[-3000:], done.stderr[-3000:], flush=True)
        failed = 1
    print(f"  {len(results)} browser faults, {failed} failed", flush=True)
    return len(results), failed


def main() -> int:
    rows = env_int("DUCKSYNC_SOAK_ROWS", 1_000_000)
    batch = env_int("DUCKSYNC_SOAK_BATCH_ROWS", 100_000)
    every = bool(env_int("DUCKSYNC_SOAK_EVERY", 0))
    only = set((os.environ.get("DUCKSYNC_SOAK_ONLY") or "kills,server,recover,replicas,browser")
               .split(","))
    keep = os.environ.get("DUCKSYNC_SOAK_DIR")
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="ducksync-soak-"))
    root.mkdir(parents=True, exist_ok=True)
    outcomes: list[h.Outcome] = []
    header = (f"{'scenario':<11} {'target':<6} {'fault':<26} {'killed':<6} {'converged':<9} "
              f"{'lost':>5} {'dup':>5} {'diverged':>8} {'unsettled':>9} {'leftovers':>9} "
              f"{'s':>6}")
    try:
        t0 = time.perf_counter()
        scenarios = [h.first_push(root / "tpl-first-push", rows, batch),
                     h.two_way(root / "tpl-two-way", rows, batch)]
        print(f"templates: {rows} rows, batches of {batch}: "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        print(header, flush=True)
        for sc in scenarios:
            seen = h.points_reached(sc.copy_to(root / f"trace-{sc.name}"), sc.mode, sc.extra)
            shutil.rmtree(root / f"trace-{sc.name}")
            plan: list[tuple[str, str, str | None]] = []
            if "kills" in only:
                plan += [("cli", f, None) for f in faults_for(seen, every)]
            if "recover" in only:
                mid = f"push.record:{max(2, seen.count('push.record') // 2)}"
                plan.append(("cli", mid, "recover"))
            if "server" in only:
                applies = seen.count("remote.commit")
                plan += [("server", f"{p}:{k}", None) for p in SERVER_POINTS
                         for k in sorted({1, max(1, applies // 2)})]
            for i, (target, fault, then) in enumerate(plan):
                folder = sc.copy_to(root / f"{sc.name}-{i}")
                t1 = time.perf_counter()
                if target == "server":
                    o = h.kill_server(sc, folder, fault)
                else:
                    o = h.finish(h.kill_cli(sc, folder, fault, then_fault=then), folder)
                    if then:
                        o.fault = f"{fault}+{then}"
                outcomes.append(o)
                print(line(o, time.perf_counter() - t1), flush=True)
                if o.ok:
                    shutil.rmtree(folder)
                else:
                    (folder / "soak.log").write_text(o.log)
                    print(f"    kept {folder} (soak.log)", flush=True)
        results: list[replicas.Result] = []
        if "replicas" in only:
            n, rounds = env_int("DUCKSYNC_SOAK_REPLICAS", 3), env_int("DUCKSYNC_SOAK_ROUNDS", 90)
            print(f"\n{'policy':<12} {'replicas':>8} {'syncs':>6} {'writes':>6} "
                  f"{'conflicts':>9} {'lost':>5} {'unknown':>7} {'diverged':>8} "
                  f"{'errors':>6} {'s':>6}", flush=True)
            for k, policy in enumerate(replicas.POLICIES):
                folder = root / f"replicas-{k}"
                folder.mkdir()
                with running_server(folder, env={"DUCKSYNC_RATE_LIMIT": "0"}) as server:
                    r = replicas.run(folder, server.url, policy, replicas=n, rounds=rounds,
                                     initial_rows=50, seed=k)
                results.append(r)
                print(f"{policy:<12} {n:>8} {r.syncs:>6} {r.writes:>6} "
                      f"{r.conflicts_reported:>9} {len(r.lost):>5} {len(r.unknown_values):>7} "
                      f"{r.diverged:>8} {len(r.errors):>6} {r.seconds:>6.1f}"
                      + ("" if r.clean else f"   <-- {(r.lost + r.unknown_values + r.errors)[:3]}"),
                      flush=True)
        browser_runs, browser_bad = browser_faults() if "browser" in only else (0, 0)
        kills = sum(o.killed for o in outcomes)
        lost = sum(o.damage.lost for o in outcomes) + sum(len(r.lost) for r in results)
        dup = sum(o.damage.duplicated for o in outcomes)
        div = sum(o.damage.diverged for o in outcomes) + sum(r.diverged for r in results)
        bad: list[object] = [o for o in outcomes if not o.ok]
        bad += [r for r in results if not r.clean] + [None] * browser_bad
        print(f"\nTOTAL: {len(outcomes)} kill runs ({kills} processes killed at their point), "
              f"{sum(r.syncs for r in results)} concurrent syncs, {browser_runs} browser faults; "
              f"rows lost {lost}, "
              f"duplicated {dup}, diverged {div}; {len(bad)} runs not clean; "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        return 1 if bad else 0
    finally:
        if not keep and not any(root.glob("*/soak.log")):
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
