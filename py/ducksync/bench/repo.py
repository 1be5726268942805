"""Where the checkout is, and the repo's own helpers the bench reuses (not duplicates).

``ducksync bench`` is a developer command run from a checkout (``make bench``): it
needs the built web assets, ``playwright.config.py`` and ``tests/serverutil.py``
(the one way to run a real server on a free port).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def load(relative: str) -> ModuleType:
    """Import a repo file that is not part of the package (by path)."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{path}: not found (run ducksync bench from a checkout)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serverutil() -> Any:
    return load("tests/serverutil.py")


def launch_options(**extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = load("playwright.config.py").launch_options(**extra)
    return options


def machine() -> dict[str, Any]:
    """CPU count and load averages: benchmark numbers mean little without them."""
    load1, load5, load15 = os.getloadavg()
    cpus = os.cpu_count() or 0
    return {"cpus": cpus, "load": [round(load1, 2), round(load5, 2), round(load15, 2)],
            "platform": platform.platform(), "python": platform.python_version(),
            "summary": f"{cpus} CPUs, load {load1:.2f}/{load5:.2f}/{load15:.2f} (1/5/15 min)"}


def build_assets() -> None:
    """Build the page's assets from this checkout before a suite runs the page.

    Why: the page runs what ``web/dist`` holds, not the checkout's ``py/`` and
    ``workers/``; a build left from older code measured that code (a session-11 run did,
    until a missing phase gave it away). ``make bench`` built them; ``ducksync bench``
    run alone did not. The build rewrites only what changed, so it is cheap when fresh.
    """
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_assets.py")], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL)
