"""Browser settings for the end-to-end tests, shared by pytest and the scripts.

Playwright cannot download its own browser on these machines, so tests drive
Debian's ``chromium`` (``make test`` installs it). The flags keep a headless
Chromium from reaching for Google's services, which this network refuses.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str:
    """``DUCKSYNC_CHROMIUM`` if set, else the ``chromium`` on PATH."""
    path = os.environ.get("DUCKSYNC_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise RuntimeError("chromium not found: run `make test` (installs Debian's chromium) "
                           "or set DUCKSYNC_CHROMIUM=/path/to/chromium")
    return path


def launch_options(**extra: Any) -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch`` / ``launch_persistent_context``."""
    return {"executable_path": chromium_path(), "args": list(CHROMIUM_FLAGS),
            "headless": True, **extra}
