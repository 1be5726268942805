"""What a server's first requests would import on their way, imported at start-up instead.

DuckDB's Python client imports ``pyarrow.dataset`` (and with it pyarrow's compute
functions, whose docstrings it builds, its file systems and parquet: some 40 modules)
the first time a connection registers an Arrow table, to tell a dataset from a table.
The server registers one for every pushed batch and for the row hashes behind a file
remote's checksums (``stage_arrow``), so the first device a just-started server answered
paid that import inside its first push or survey: 70-100 ms of CPU (docs/benchmarks.md,
issue 17, session 13).

The import runs on a thread of its own once the server starts, so readiness is not
delayed by it (imported before serving, it made ``/healthz`` answer ≈ 150 ms later); a
request that needs the module meanwhile waits for the same import (Python's import
lock), never runs it twice.
"""

from __future__ import annotations

import importlib
import logging
import threading

# What the request path imports lazily, through libraries, on first use.
PRELOADED = ("pyarrow.dataset",)
log = logging.getLogger("ducksync.server")


def _load() -> None:
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except Exception as exc:  # an optional speed-up: the request path imports it again
            log.warning(f"could not preload {name} ({type(exc).__name__})")


def preload() -> threading.Thread:
    """Start importing :data:`PRELOADED` in the background; the thread, to wait on."""
    thread = threading.Thread(target=_load, name="ducksync-preload", daemon=True)
    thread.start()
    return thread
