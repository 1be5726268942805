"""Helpers for tests of the page's sync service (``py/ducksync/worker/sync_service.py``)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ducksync.worker.sync_service import SyncService


async def status_at_start(svc: SyncService, timeout_s: float = 30) -> dict[str, Any]:
    """The status of ``svc`` started offline (so no sync runs), read once its loop has
    loaded what the database holds and counted the unsent changes: what a reloaded page
    shows before its first sync."""
    svc.set_online(False)
    svc.status.unsent = None  # not counted yet: offline, the loop counts after loading
    task = asyncio.ensure_future(svc.run_forever())
    try:
        async with asyncio.timeout(timeout_s):
            while svc.snapshot()["unsent"] is None:
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return svc.snapshot()
