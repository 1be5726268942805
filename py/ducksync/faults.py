"""Crashes on demand at named points of a sync, so the safety tests can kill a
process *inside* a phase instead of guessing the moment with sleeps.

``DUCKSYNC_FAULT=POINT[:N]`` in a process's environment makes it exit at once the
N-th time (default: the first) it reaches ``POINT``: :func:`os._exit` with
:data:`FAULT_EXIT`, after one line on stderr. Nothing else runs (no ``finally``,
no ROLLBACK, no atexit, no buffered output): the same as SIGKILL at that moment,
except that the moment is exact. Points are listed in ``tests/safety/README.md``;
the engine reaches one on entering each phase of ``TableReport.timings`` (``NAME``)
and on leaving it normally (``NAME.done``), the native remote store around its
commit, the server before answering an applied batch.

The variable is read once, at import. Unset, :func:`reached` is one comparison
(``None``), so the calls cost nothing in production. Tests that drive the engine
in-process may :func:`install` their own hook (e.g. to record which points a run
reaches); the browser's worker has no environment, so only such a hook applies there.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

__all__ = ["ENV", "FAULT_EXIT", "install", "reached"]

ENV = "DUCKSYNC_FAULT"
FAULT_EXIT = 86  # distinct from 0/1/2 (the CLI's) and from signals (128+n)

Hook = Callable[[str], None]


def _killer(spec: str) -> Hook:
    point, _, nth = spec.partition(":")
    target = int(nth) if nth else 1
    seen = 0
    lock = threading.Lock()  # the server reaches points on several threads

    def hook(name: str) -> None:
        nonlocal seen
        if name != point:
            return
        with lock:
            seen += 1
            if seen == target:
                os.write(2, f"ducksync: injected fault at {name} ({seen})\n".encode())
                os._exit(FAULT_EXIT)

    return hook


_hook: Hook | None = _killer(os.environ[ENV]) if os.environ.get(ENV) else None


def reached(point: str, suffix: str = "") -> None:
    """The process is at ``point + suffix``: exit here if a fault is armed for it.

    ``suffix`` (e.g. ``".done"``) is joined only when a hook is set, so a caller
    passing a variable name pays no string building in production."""
    if _hook is not None:
        _hook(point + suffix)


def install(hook: Hook | None) -> Hook | None:
    """Replace the hook (None: none); returns the previous one, to restore it."""
    global _hook
    previous, _hook = _hook, hook
    return previous
