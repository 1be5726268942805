"""Two independent calls awaited at once, without leaving either behind on failure.

The engine overlaps a remote round trip with local work where neither depends on
the other (catalogs, the remote's id). ``asyncio.gather`` would leave the other call
running, unobserved, when one fails; here it is cancelled and awaited, and the first
failure is raised as itself (not wrapped in an ExceptionGroup as a TaskGroup would).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["both"]

A = TypeVar("A")
B = TypeVar("B")


async def both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """``(await first, await second)``, run concurrently."""
    tasks = (asyncio.ensure_future(first), asyncio.ensure_future(second))
    try:
        return await tasks[0], await tasks[1]
    except BaseException:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        raise
