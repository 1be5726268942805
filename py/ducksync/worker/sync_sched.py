"""When to sync next: interval, debounced local writes, reconnects, and backoff after failures.

A pure state machine over a clock value (seconds): the local worker feeds it events
(``wrote``, ``online``, ``finished``) and sleeps until :meth:`Schedule.next_due`;
CPython tests drive it with made-up times and a fixed random source.

The change feed (docs/change-feed.md) adds one trigger: tables another device changed
(``remote_changed``) are synced at once, only those, unless ``on_remote`` is off (a page
that syncs only when asked). Tables announced while a sync runs wait for the next one.

A page syncs once as soon as it can (``start_pending``), whether or not anything was
written: a new device must pull what the remote holds, a reloaded one what other
devices wrote meanwhile. The interval then counts from the end of the last sync; it
must never count from "now", or the due time moves forward on every look and the
sync never comes (the bug of a device that had not written since it loaded).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

__all__ = ["Backoff", "Schedule"]

# After the last write of a burst: short enough that a write leaves the device promptly
# (another device sees it sooner by the same amount), long enough that a burst of writes
# at typing speed is still one sync. The measurement behind 0.5 s (it was 2 s), and
# what 0 (an immediate push) costs instead: docs/change-feed.md.
DEBOUNCE_S: Final = 0.5


@dataclass(kw_only=True)
class Backoff:
    """Exponential backoff with "equal jitter": attempt n waits in [d/2, d], d = base·2ⁿ ≤ cap."""

    base_s: float = 1.0
    cap_s: float = 300.0
    rng: Callable[[], float] = random.random
    failures: int = 0

    def next_delay(self) -> float:
        """Record a failure and return how long to wait before the next attempt."""
        ceiling = min(self.cap_s, self.base_s * 2 ** min(self.failures, 30))
        self.failures += 1
        return float(ceiling / 2 + self.rng() * ceiling / 2)

    def reset(self) -> None:
        self.failures = 0


@dataclass(kw_only=True)
class Schedule:
    """Decides the next automatic sync. ``interval_s`` 0 disables the periodic sync;
    ``on_write`` False ignores local writes; ``start_pending`` False skips the sync at
    start (a page that syncs only when asked); ``on_remote`` False ignores the change
    feed. Times are the caller's clock, in seconds."""

    interval_s: float = 30.0
    on_write: bool = True
    on_remote: bool = True
    remote_tables: set[str] = field(default_factory=set)  # announced by the feed, not synced
    # per announced table, the keys its commits wrote (engine/feed_pull.py), or None when
    # one announcement came without them (then the general round decides)
    remote_keys: dict[str, list[str] | None] = field(default_factory=dict)
    debounce_s: float = DEBOUNCE_S
    online: bool = True
    backoff: Backoff = field(default_factory=Backoff)
    last_end: float | None = None
    write_due: float | None = None
    retry_due: float | None = None
    asap: bool = False  # reconnected: sync as soon as possible
    start_pending: bool = True  # no sync has started since this page loaded
    _last_write: float | None = None
    _anchor: float | None = None  # where the interval counts from before any sync ended

    def wrote(self, now: float) -> None:
        """A local write: sync ``debounce_s`` after the last one of a burst."""
        self._last_write = now
        if self.on_write:
            self.write_due = now + self.debounce_s

    def remote_changed(self, tables: list[str],
                       keys: dict[str, list[str]] | None = None) -> None:
        """The change feed announced ``tables`` (with the keys their commits wrote, when
        the feed knew them all): sync them as soon as possible."""
        if not self.on_remote:
            return
        for t in tables:
            hint = (keys or {}).get(t)
            had = self.remote_keys.get(t, []) if t in self.remote_tables else []
            self.remote_keys[t] = (None if hint is None or had is None
                                   else sorted({*had, *hint}))
        self.remote_tables.update(tables)

    def take_remote(self) -> list[str]:
        """The announced tables, for the sync that starts now (later ones wait)."""
        return self.take_remote_hinted()[0]

    def take_remote_hinted(self) -> tuple[list[str], dict[str, list[str]]]:
        """:meth:`take_remote`, and the keys announced for those tables that have them."""
        tables, self.remote_tables = sorted(self.remote_tables), set()
        keys, self.remote_keys = self.remote_keys, {}
        return tables, {t: k for t, k in keys.items() if k is not None and t in tables}

    def set_online(self, online: bool, now: float) -> None:
        """Connectivity changed; coming back online triggers a sync (and resets backoff)."""
        if online and not self.online:
            self.asap = True
            self.retry_due = None
            self.backoff.reset()
        self.online = online

    def started(self, now: float) -> float:
        """A sync starts now; returns the start mark to pass to :meth:`finished`."""
        self.asap = self.start_pending = False
        return now

    def finished(self, started: float, now: float, *, ok: bool, retry: bool = True,
                 whole: bool = True) -> None:
        """A sync ended. Writes made before it started are covered by it, if it synced
        every table (``whole``): a run of the tables the feed announced is not."""
        self.last_end = now
        if whole and self._last_write is not None and self._last_write <= started:
            self.write_due = None
        if ok:
            self.backoff.reset()
            self.retry_due = None
        elif retry:
            self.retry_due = now + self.backoff.next_delay()

    def next_due(self, now: float) -> float | None:
        """When the next automatic sync should start (``None``: nothing is scheduled)."""
        if not self.online:
            return None
        if self.retry_due is not None:  # failing: only the backoff decides
            return self.retry_due
        if self.asap or self.start_pending or self.remote_tables:
            return now
        due = [t for t in (self.write_due,) if t is not None]
        if self.interval_s > 0:
            if self.last_end is None and self._anchor is None:
                self._anchor = now  # fixed once: a later look must not push it forward
            since = self.last_end if self.last_end is not None else self._anchor
            assert since is not None
            due.append(since + self.interval_s)
        return min(due) if due else None

    def trigger(self, now: float) -> str:
        """What the sync due ``now`` is for (ask when :meth:`next_due` says it is due)."""
        if self.asap:
            return "reconnect"
        if self.retry_due is not None:
            return "retry"
        if self.start_pending:
            return "start"
        if self.remote_tables:
            return "feed"
        return "write" if self.write_due is not None and self.write_due <= now else "interval"
