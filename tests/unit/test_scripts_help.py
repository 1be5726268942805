"""Every measuring script in scripts/ answers ``--help`` with its usage and does nothing else.

docs/benchmarks.md and scripts/README.md send readers to these scripts' ``--help``; a
script that read ``sys.argv`` by hand crashed on it (``int('--help')``) or, worse, started
its whole run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MEASURING = ("bench_", "probe_", "measure_", "check_")
SCRIPTS = sorted(p for p in (ROOT / "scripts").glob("*.py") if p.name.startswith(MEASURING))


def _help(script: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "py")}
    return subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env=env, check=False)


def test_every_measuring_script_answers_help_without_running() -> None:
    assert len(SCRIPTS) >= 10, "the glob found the scripts"
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = dict(zip(SCRIPTS, pool.map(_help, SCRIPTS), strict=True))
    wrong = {p.name: (a.returncode, (a.stderr or a.stdout)[-300:])
             for p, a in answers.items()
             if a.returncode != 0 or not a.stdout.startswith(f"usage: {p.name}")}
    assert not wrong, wrong
