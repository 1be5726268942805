"""Writes the change feed would not hear: another tool writing a MotherDuck table.

The feed announces a table when its version in ``ducksync.table_writes`` moves, and
every ducksync writer bumps it inside its write transaction. MotherDuck's UI, a
notebook or dbt writing the same database bump nothing, and MotherDuck offers no
per-table change counter to read instead (its snapshots are per database, taken about
once a minute). So, while clients listen, every ``every_s`` one statement reads each
table's version *and* a fingerprint of its content (the whole-table checksum and row
count the no-op sync compares): both from one snapshot. A table whose fingerprint moved
while its version did not was written from outside, and its version is bumped in the
remote; every server process's feed then announces it like any ducksync commit, with
no process-local state deciding what clients hear. A table created from outside counts
the same way (a device holding every table pulls it).

The cost is a scan of every synced table per check, so it runs only where someone else
can write: on by default for ``md:`` remotes, off for a file (DuckDB's file lock makes
this process its only writer). ``DUCKSYNC_FEED_OUTSIDE_CHECK_S`` sets the interval
(docs/change-feed.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from ducksync.errors import DucksyncError

__all__ = ["OutsideWrites"]

log = logging.getLogger("ducksync.server.outside_writes")
Snapshot = tuple[dict[str, int], dict[str, str]]  # (versions, fingerprints)
EMPTY = "0:0"  # an empty table's fingerprint: a new empty table has nothing to pull


class OutsideWrites:
    """``snapshot()``: versions and fingerprints from one snapshot; ``bump(table)``:
    count one write of ``table``; ``every_s`` <= 0: never check."""

    def __init__(self, *, snapshot: Callable[[], Awaitable[Snapshot]],
                 bump: Callable[[str], Awaitable[None]], every_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._snapshot = snapshot
        self._bump = bump
        self.every_s = every_s
        self._clock = clock
        self._last: Snapshot | None = None
        self._at: float | None = None
        self.found = 0  # tables bumped so far (metrics, tests)

    async def check_if_due(self) -> list[str]:
        """Bump and return the tables written from outside since the last check; [] when
        the interval has not passed (the first check only takes the baseline)."""
        now = self._clock()
        if self.every_s <= 0 or (self._at is not None and now - self._at < self.every_s):
            return []
        self._at = now
        try:
            current = await self._snapshot()
        except DucksyncError as exc:  # the remote is down: the feed's own poll says so
            log.warning("outside-writes check failed", extra={"fields": {"code": exc.code}})
            return []
        before, self._last = self._last, current
        if before is None:
            return []
        moved = written_outside(before, current)
        for table in moved:
            await self._bump(table)
        if moved:
            self.found += len(moved)
            log.info("tables written outside ducksync", extra={"fields": {"tables": moved}})
        return moved


def written_outside(before: Snapshot, now: Snapshot) -> list[str]:
    """Tables whose content moved between two snapshots while their version did not."""
    (old_versions, old_prints), (versions, prints) = before, now
    return sorted(t for t, p in prints.items()
                  if old_prints.get(t, EMPTY) != p and versions.get(t, 0) == old_versions.get(t, 0))
