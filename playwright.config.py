"""Browser settings for the end-to-end tests, shared by pytest and the scripts.

Playwright cannot download its own browser on these machines, so tests drive
Debian's ``chromium`` (``make test`` installs it). The choice and the flags live in
the testing kit (``ducksync.testing.browser``), which apps' tests use too.
"""

from __future__ import annotations

from ducksync.testing.browser import CHROMIUM_FLAGS, chromium_path, launch_options

__all__ = ["CHROMIUM_FLAGS", "chromium_path", "launch_options"]
