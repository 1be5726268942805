"""The change feed's client side, pure: read the stream, decide what to sync, back off.

The server (``ducksync.server.feed_api``) tells each client which tables changed, as
Server-Sent Events carrying ``{"tables": {name: version}}``. A client keeps the version
it last acted on per table (:class:`FeedState`) and syncs only the tables whose version
it does not hold, so a repeated or stale announcement costs nothing. It resumes with
the id of the last event (``Last-Event-ID``), reconnects with backoff after a failure,
and meanwhile relies on its interval syncs.

Stdlib only: the browser's remote worker (``workers/remote_feed.py``), the bench and
the tests share it. Design: docs/change-feed.md.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["CONNECTING", "FALLBACK", "LIVE", "OFF", "FeedEvent", "FeedState", "OwnCommits",
           "SseParser"]

# What the page shows (``status().sync.feed.state``).
CONNECTING: Final = "connecting"  # opening the stream (first time, or again after a drop)
LIVE: Final = "live"  # the stream is open: another device's write shows within a second
FALLBACK: Final = "fallback"  # no stream (offline, refused, unsupported): interval syncs
OFF: Final = "off"  # this transport has no feed (direct MotherDuck): interval syncs


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One Server-Sent Event: ``kind`` (the ``event:`` field), parsed ``data``, ``id``."""

    kind: str
    data: dict[str, Any]
    id: str | None = None


class SseParser:
    """Incremental ``text/event-stream`` parser: feed it text as it arrives, get events.

    Follows the WHATWG rules the feed uses: ``field: value`` lines, a blank line ends an
    event, ``:`` starts a comment (the heartbeat), ``data`` lines join with newlines,
    ``retry`` sets the reconnection delay. An event whose data is not a JSON object
    is skipped (a newer server's kind this client does not know).
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._kind = ""
        self._data: list[str] = []
        self._id: str | None = None
        self.retry_ms: int | None = None
        self.comments = 0

    def feed(self, text: str) -> Iterator[FeedEvent]:
        self._buffer += text.replace("\r\n", "\n").replace("\r", "\n")
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            event = self._line(line)
            if event is not None:
                yield event

    def _line(self, line: str) -> FeedEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._kind = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> FeedEvent | None:
        kind, data, self._kind, self._data = self._kind or "message", self._data, "", []
        if not data:
            return None
        try:
            parsed = json.loads("\n".join(data))
        except ValueError:
            return None
        if not isinstance(parsed, dict):
            return None
        return FeedEvent(kind=kind, data=parsed, id=self._id)


@dataclass(kw_only=True)
class OwnCommits:
    """This device's own commits per table, so it does not sync for them.

    Every committed write bumps the table's version by exactly one (the claim in the
    write transaction; a replayed batch commits nothing), so when a table moved from v
    to n and this device committed exactly n - v batches to it meanwhile, with none
    still in flight, the announcement is of its own writes only: it already holds them
    (its push recorded them in its base). Counting one commit too few (an answer lost on
    the way) costs a sync, as before; a table whose count is not known (None: an
    announcement came while a batch was in flight) is synced and counted afresh.
    """

    counts: dict[str, int | None] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)

    def started(self, table: str) -> None:
        self.in_flight[table] = self.in_flight.get(table, 0) + 1

    def finished(self, table: str, committed: bool) -> None:
        self.in_flight[table] = max(0, self.in_flight.get(table, 0) - 1)
        n = self.counts.get(table, 0)
        if committed and n is not None:
            self.counts[table] = n + 1

    def busy(self) -> bool:
        return any(self.in_flight.values())

    def only_mine(self, table: str, moved_by: int) -> bool:
        """The table moved by ``moved_by`` commits: were they all this device's? Starts
        the count afresh for the next announcement."""
        mine = self.counts.get(table, 0)
        if self.in_flight.get(table):
            self.counts[table] = None  # an answer still on its way: unknown next time
            return False
        self.counts[table] = 0
        return mine is not None and moved_by > 0 and mine == moved_by


@dataclass(kw_only=True)
class FeedState:
    """One client's view of the feed: versions acted on, the last id, the backoff.

    ``base_s``/``cap_s``: reconnect after n failures in a row waits in [d/2, d],
    d = base·2ⁿ ≤ cap (equal jitter, like the sync's own backoff); an open stream
    resets it.
    """

    versions: dict[str, int] = field(default_factory=dict)
    last_id: str | None = None
    state: str = CONNECTING
    reason: str | None = None
    failures: int = 0
    base_s: float = 0.5
    cap_s: float = 30.0
    rng: Callable[[], float] = random.random
    # The last event's keys per table, for the tables it announced with every key their
    # commits wrote since the version this client held (no gap): a hint for a fast
    # pull (engine/feed_pull.py); a table without one gets the general sync.
    keys: dict[str, list[str]] = field(default_factory=dict)
    own: OwnCommits = field(default_factory=OwnCommits)

    def receive(self, event: FeedEvent) -> list[str]:
        """The tables to sync for ``event`` (those whose version this client lacks)."""
        self.keys = {}
        if event.id is not None:
            self.last_id = event.id
        if event.kind != "changes":
            return []
        tables = event.data.get("tables")
        if not isinstance(tables, dict):
            return []
        stale = sorted(t for t, v in tables.items()
                       if isinstance(t, str) and isinstance(v, int) and self.versions.get(t) != v)
        hints = event.data.get("keys")
        mine = {t for t in stale if t in self.versions
                and self.own.only_mine(t, int(tables[t]) - self.versions[t])}
        for t in stale:
            hint = hints.get(t) if isinstance(hints, dict) else None
            if (isinstance(hint, dict) and t in self.versions
                    and hint.get("since") == self.versions[t]
                    and isinstance(keys := hint.get("keys"), list)
                    and all(isinstance(k, str) for k in keys)):
                self.keys[t] = list(keys)
            self.versions[t] = int(tables[t])
        return [t for t in stale if t not in mine]

    def opened(self) -> None:
        self.state, self.reason, self.failures = LIVE, None, 0

    def dropped(self, reason: str) -> float:
        """The stream failed or ended: fall back, and return the wait before the next try."""
        self.state, self.reason = FALLBACK, reason
        ceiling = min(self.cap_s, self.base_s * 2 ** min(self.failures, 30))
        self.failures += 1
        return float(ceiling / 2 + self.rng() * ceiling / 2)

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason}
