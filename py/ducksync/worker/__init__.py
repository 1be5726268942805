"""The browser workers' pure logic: phase machine, request dispatch, remote health rules.

No browser or network imports here: ``workers/*.py`` (the only code that touches
``js`` / ``pyodide.ffi``) wraps these classes, and CPython tests drive them directly.

May import: ducksync.protocol, ducksync.errors, the standard library.
"""

from ducksync.worker.core import Handler, WorkerCore
from ducksync.worker.health import HealthCheck, classify_health
from ducksync.worker.sql import (
    cannot_write,
    checkpoint_deferred,
    is_read_only,
    tidy_error_message,
)

__all__ = ["Handler", "HealthCheck", "WorkerCore", "cannot_write", "checkpoint_deferred",
           "classify_health",
           "is_read_only",
           "tidy_error_message"]
