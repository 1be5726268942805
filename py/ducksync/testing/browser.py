"""Which Chromium to launch, and with which flags, when Playwright has none of its own.

On machines where ``playwright install`` cannot download a browser (Debian CI boxes,
this project's own), the distribution's ``chromium`` is driven instead. The flags keep a
headless Chromium from reaching for Google's services, which such networks refuse, and
let it run as root in containers. Shared by the pytest plugin, ``playwright.config.py``
and the project's scripts: one place decides.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
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
# Names the distributions give their Chromium (Debian, Ubuntu's snap shim, Fedora/Arch).
SYSTEM_CHROMIUMS = ("chromium", "chromium-browser")


def system_chromium() -> str | None:
    """``DUCKSYNC_CHROMIUM`` if set, else a ``chromium`` on PATH, else None."""
    if explicit := os.environ.get("DUCKSYNC_CHROMIUM"):
        return explicit
    return next((found for name in SYSTEM_CHROMIUMS if (found := shutil.which(name))), None)


def chromium_path() -> str:
    """The system Chromium, or an error that says how to get one."""
    path = system_chromium()
    if not path:
        raise RuntimeError("chromium not found: install it (Debian: `apt-get install chromium`, "
                           "or `playwright install chromium`) or set "
                           "DUCKSYNC_CHROMIUM=/path/to/chromium")
    return path


def launch_options(**extra: Any) -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch`` with the system Chromium."""
    return {"executable_path": chromium_path(), "args": list(CHROMIUM_FLAGS),
            "headless": True, **extra}


def complete_launch_args(args: dict[str, Any], *, browser_name: str | None,
                         bundled_executable: str | None) -> dict[str, Any]:
    """pytest-playwright's launch arguments, made to work where no browser was downloaded.

    Only Chromium is touched, and only when nothing chose a browser already (a
    ``--browser-channel``, an ``executable_path``): ``DUCKSYNC_CHROMIUM`` wins, then the
    browser ``playwright install`` downloaded, then a ``chromium`` on PATH. The flags are
    added either way; ``--headed``, ``--slowmo`` and the rest pass through untouched.
    """
    if browser_name not in (None, "chromium"):
        return args
    completed = {**args, "args": [*args.get("args", ()), *CHROMIUM_FLAGS]}
    if "channel" in args or "executable_path" in args:
        return completed
    downloaded = bundled_executable if bundled_executable and Path(
        bundled_executable).exists() else None
    chosen = os.environ.get("DUCKSYNC_CHROMIUM") or downloaded or system_chromium()
    if chosen and chosen != downloaded:
        completed["executable_path"] = chosen
    return completed
