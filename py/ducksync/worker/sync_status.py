"""The sync status the page shows: phase, per-table progress, last sync, last error.

Phases, by priority: ``syncing`` (a run is in progress), ``offline`` (no network or
the server is unreachable), ``error`` (the last run failed; a cancelled run did not
fail), ``conflict`` (manual conflicts wait for a decision), ``pending`` (nothing proves
this device in sync: no sync yet, the last one was cancelled or covered only some
tables, or the page wrote since), else ``idle``: in sync, as proved by a sync after
which nothing was written. ``unsent`` counts the local changes not yet sent (None:
written since the last count; then ``unsent_tables`` are unknown too, each None).
``keyless_tables``: user tables no sync covers for want of a primary key, so the page
does not call the device "in sync" without naming them; ``not_held_changed``: copies
kept after unsubscribing that were changed here, which no sync sends (named, as the
keyless ones are, and left out of ``unsent``). Plain data in, plain dict out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["PHASES", "Progress", "SyncStatus"]

IDLE: Final = "idle"
PENDING: Final = "pending"
SYNCING: Final = "syncing"
OFFLINE: Final = "offline"
ERROR: Final = "error"
CONFLICT: Final = "conflict"
PHASES: Final = (IDLE, PENDING, SYNCING, OFFLINE, ERROR, CONFLICT)


@dataclass(kw_only=True)
class Progress:
    """One table's progress; totals grow as the engine learns them (pull, then push)."""

    table: str
    rows_done: int = 0
    rows_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    started: float = field(default_factory=time.monotonic)  # when this table's rows began

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds left at the pace so far (None until rows moved and a total is known)."""
        if not self.rows_done or self.rows_total <= self.rows_done:
            return None if not self.rows_done else 0.0
        elapsed = (time.monotonic() if now is None else now) - self.started
        return round(elapsed / self.rows_done * (self.rows_total - self.rows_done), 1)

    def add(self, rows: int, nbytes: int) -> None:
        self.rows_done += rows
        self.bytes_done += nbytes
        self.rows_total = max(self.rows_total, self.rows_done)
        if self.rows_done and self.rows_total:  # estimate from the average row size
            self.bytes_total = max(self.bytes_done,
                                   round(self.bytes_done / self.rows_done * self.rows_total))

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "rows_done": self.rows_done, "rows_total": self.rows_total,
                "bytes_done": self.bytes_done, "bytes_total": self.bytes_total,
                "eta_s": self.eta_s()}


@dataclass(kw_only=True)
class SyncStatus:
    running: bool = False
    trigger: str | None = None
    online: bool = True
    remote_down: bool = False
    failed: bool = False
    pending_conflicts: int = 0
    rejections: int = 0  # rows the server's sync rules refused, kept here (engine/rejections)
    progress: Progress | None = None
    last_sync: str | None = None  # ISO time of the last successful run's end
    last_error: dict[str, Any] | None = None
    last_outcome: str | None = None  # ok | nothing | error | cancelled, this page's last run
    proved: bool = False  # a whole sync proved this device in sync; nothing written since
    unsent: int | None = 0  # local changes not yet sent; None: written since the last count
    unsent_tables: dict[str, int] = field(default_factory=dict)
    # User tables left out of every sync for want of a primary key, as the tables list
    # (SyncService.tables) last found them.
    keyless_tables: list[str] = field(default_factory=list)
    # Local tables this device does not hold (kept copies) with changes no sync sends.
    not_held_changed: list[str] = field(default_factory=list)
    next_sync_at: float | None = None  # epoch seconds
    interval_s: float = 0.0
    tables_done: list[str] = field(default_factory=list)
    # Tables a structural stop holds (dropped on one side, or a mass delete waiting for
    # a yes): {table: {"dropped_on": side} | {"mass_delete": {side, rows, of}}}. They
    # stay until a run syncs the table again, so the page can offer the way out.
    stopped: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Each table whose last run failed, with that error ({code, name, message, hint}):
    # the tables list must not call it "synced" on the strength of an older sync.
    table_errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The change feed as the remote worker last reported it (docs/change-feed.md): live
    # (another device's write shows within a second), connecting, fallback (interval
    # syncs only, with the reason) or off (this transport has none).
    feed: dict[str, Any] = field(default_factory=lambda: {"state": "connecting",
                                                          "reason": None})
    # Where this page's last run spent its time (ms): the service's own steps and each
    # table's engine phases and paths. A profile for the bench and for a developer
    # asking why a sync was slow; None before the first run.
    last_run: dict[str, Any] | None = None

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
        return IDLE if self.proved and self.unsent == 0 else PENDING

    def wrote(self) -> None:
        """The page wrote: nothing is proved any more, and the count is stale."""
        self.proved, self.unsent = False, None

    def begin(self, trigger: str) -> None:
        self.running, self.trigger, self.progress = True, trigger, None
        self.tables_done = []

    def end(self, *, outcome: str, at: str, error: dict[str, Any] | None = None,
            remote_down: bool = False, proved: bool = False) -> None:
        """A run ended with ``outcome`` (ok | nothing | error | cancelled); ``proved``:
        it covered every table, converged, and nothing was written since it started."""
        self.running, self.progress = False, None
        self.last_outcome = outcome
        self.failed = outcome == "error"
        self.remote_down = remote_down
        self.proved = proved
        if outcome in ("ok", "nothing"):
            self.last_sync, self.last_error = at, None
        elif outcome == "error":
            self.last_error = {**(error or {}), "at": at}

    def note_tables(self, tables: list[dict[str, Any]]) -> None:
        """A run's table reports: remember the structural stops and the failures, forget
        the tables that synced again (or were dropped everywhere)."""
        for t in tables:
            name = str(t.get("table"))
            if t.get("error"):
                self.table_errors[name] = dict(t["error"])
            else:
                self.table_errors.pop(name, None)
            if t.get("dropped_on"):
                self.stopped[name] = {"dropped_on": t["dropped_on"]}
            elif t.get("mass_delete"):
                self.stopped[name] = {"mass_delete": dict(t["mass_delete"])}
            elif not t.get("error"):
                self.stopped.pop(name, None)

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "running": self.running, "trigger": self.trigger,
                "online": self.online, "progress": self.progress.to_dict()
                if self.progress else None, "last_sync": self.last_sync,
                "last_error": self.last_error, "last_outcome": self.last_outcome,
                "in_sync": self.phase == IDLE, "unsent": self.unsent,
                # written since the count: no table's older count stands (was 0)
                "unsent_tables": dict(self.unsent_tables) if self.unsent is not None
                else dict.fromkeys(self.unsent_tables),
                "keyless_tables": list(self.keyless_tables),
                "not_held_changed": list(self.not_held_changed),
                "pending_conflicts": self.pending_conflicts, "rejections": self.rejections,
                "next_sync_at": self.next_sync_at, "interval_s": self.interval_s,
                "stopped": [{"table": k, **v} for k, v in sorted(self.stopped.items())],
                "feed": dict(self.feed), "last_run": self.last_run}
