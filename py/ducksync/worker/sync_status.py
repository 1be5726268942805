"""The sync status the page shows: phase, per-table progress, last sync, last error.

Phases, by priority: ``syncing`` (a run is in progress), ``offline`` (no network or
the server is unreachable), ``error`` (the last run failed), ``conflict`` (manual
conflicts wait for a decision), else ``idle``. Plain data in, plain dict out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["PHASES", "Progress", "SyncStatus"]

IDLE: Final = "idle"
SYNCING: Final = "syncing"
OFFLINE: Final = "offline"
ERROR: Final = "error"
CONFLICT: Final = "conflict"
PHASES: Final = (IDLE, SYNCING, OFFLINE, ERROR, CONFLICT)


@dataclass(kw_only=True)
class Progress:
    """One table's progress; totals grow as the engine learns them (pull, then push)."""

    table: str
    rows_done: int = 0
    rows_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0

    def add(self, rows: int, nbytes: int) -> None:
        self.rows_done += rows
        self.bytes_done += nbytes
        self.rows_total = max(self.rows_total, self.rows_done)
        if self.rows_done and self.rows_total:  # estimate from the average row size
            self.bytes_total = max(self.bytes_done,
                                   round(self.bytes_done / self.rows_done * self.rows_total))

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "rows_done": self.rows_done, "rows_total": self.rows_total,
                "bytes_done": self.bytes_done, "bytes_total": self.bytes_total}


@dataclass(kw_only=True)
class SyncStatus:
    running: bool = False
    trigger: str | None = None
    online: bool = True
    remote_down: bool = False
    failed: bool = False
    pending_conflicts: int = 0
    progress: Progress | None = None
    last_sync: str | None = None  # ISO time of the last successful run's end
    last_error: dict[str, Any] | None = None
    next_sync_at: float | None = None  # epoch seconds
    interval_s: float = 0.0
    tables_done: list[str] = field(default_factory=list)

    @property
    def phase(self) -> str:
        if self.running:
            return SYNCING
        if not self.online or self.remote_down:
            return OFFLINE
        if self.failed:
            return ERROR
        if self.pending_conflicts:
            return CONFLICT
        return IDLE

    def begin(self, trigger: str) -> None:
        self.running, self.trigger, self.progress = True, trigger, None
        self.tables_done = []

    def end(self, *, ok: bool, at: str, error: dict[str, Any] | None = None,
            remote_down: bool = False) -> None:
        self.running, self.progress = False, None
        self.failed = not ok
        self.remote_down = remote_down
        if ok:
            self.last_sync, self.last_error = at, None
        else:
            self.last_error = {**(error or {}), "at": at}

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "running": self.running, "trigger": self.trigger,
                "online": self.online, "progress": self.progress.to_dict()
                if self.progress else None, "last_sync": self.last_sync,
                "last_error": self.last_error, "pending_conflicts": self.pending_conflicts,
                "next_sync_at": self.next_sync_at, "interval_s": self.interval_s}
