"""The remote worker's change feed: listens to the server, tells the local worker what to sync.

Only the owner tab runs workers (web/tabs.js), so one tab per browser listens. The loop:
open ``GET /api/v1/sync/changes`` (``sync_fetch.mjs``'s ``openFeed``, resuming with the
last event id), parse it (``ducksync.feed``), and for every table whose version this
device does not hold send ``SYNC_REMOTE_CHANGED`` to the local worker over the peer
port, which syncs just those tables. When the stream fails or ends: report ``fallback``
(interval syncs go on), wait with backoff, or less when the health probe sees the
server come back (:meth:`RemoteFeed.wake`). With the direct MotherDuck transport there
is no server and no feed: ``off``. Design: docs/change-feed.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

import ducksync_host  # type: ignore[import-not-found]
import js  # type: ignore[import-not-found]

from ducksync import protocol
from ducksync.feed import CONNECTING, OFF, FeedState, SseParser
from ducksync.sync_routes import FEED, route_path
from jsvalues import clean, py
from worker_host import WorkerHost, js_message

# Twice the server's heartbeat (15 s) and some: a stream silent this long is dead (a
# proxy dropped it without closing), so it is reopened.
SILENCE_S: Final = 40.0
# How long an announcement waits for this device's own batch still being answered
# (the server announces a commit as it answers it); longer: the table is synced.
OWN_WAIT_S: Final = 2.0


class RemoteFeed:
    """The feed of ``sync``'s server: none while the direct transport is in use; with the
    app's tokens (``connect({getToken})``) it listens as the app's user, like every call."""

    def __init__(self, host: WorkerHost, sync: Any) -> None:
        self.host = host
        self.sync = sync
        self.state = FeedState(own=sync.own)
        self._wake = asyncio.Event()
        self._stream: Any = None

    def uses_server(self) -> bool:
        return self.sync.sql is None

    def wake(self) -> None:
        """Reconnect now (the server answered the health probe, the transport changed)."""
        self._wake.set()
        if not self.uses_server() and self._stream is not None:
            self._stream.cancel()

    async def run(self) -> None:
        await self.host.port_ready.wait()
        while True:
            if not self.uses_server():
                await self._report(OFF, "this transport talks to MotherDuck directly: "
                                        "no change feed, interval syncs only")
                await self._sleep(None)
                continue
            reason = await self._listen()
            delay = self.state.dropped(reason)
            await self._tell([])
            await self._sleep(delay)

    async def _listen(self) -> str:
        """One connection, until it fails or ends; returns why."""
        self.state.state, self.state.reason = CONNECTING, None
        tokens = self.sync.tokens
        try:
            bearer = await tokens.get() if tokens is not None else None
            stream = await ducksync_host.openFeed(route_path(FEED), self.state.last_id, bearer)
        except Exception as exc:
            return f"cannot open the feed: {js_message(exc)}"
        if int(stream.status) == 401 and tokens is not None:
            tokens.refused(bearer)  # the next attempt asks the app for a fresh token
        if int(stream.status) != 200:
            error = py(stream.error) or {}
            return f"the server refused the feed (HTTP {int(stream.status)}): " \
                   f"{error.get('message') or 'no reason given'}"
        self._stream = stream
        self.state.opened()
        await self._tell([])
        parser = SseParser()
        try:
            while True:
                try:
                    chunk = clean(await asyncio.wait_for(stream.next(), SILENCE_S))
                except TimeoutError:
                    return f"no heartbeat for {SILENCE_S:g} s"
                if chunk is None:  # JS null (the stream ended), made None by clean()
                    return "the server closed the stream"
                for event in parser.feed(str(chunk)):
                    if self.state.own.busy():  # this device's batch is being answered:
                        with contextlib.suppress(TimeoutError):  # count it first
                            await asyncio.wait_for(self.sync.own_idle.wait(), OWN_WAIT_S)
                    tables = self.state.receive(event)
                    if tables:
                        await self._tell(tables, self.state.keys)
        except Exception as exc:  # the connection broke (server stopped, network gone)
            return f"the stream broke: {js_message(exc)}"
        finally:
            self._stream = None
            with contextlib.suppress(Exception):
                stream.cancel()

    async def _report(self, state: str, reason: str | None) -> None:
        if (self.state.state, self.state.reason) != (state, reason):
            self.state.state, self.state.reason = state, reason
            await self._tell([])

    async def _tell(self, tables: list[str], keys: dict[str, list[str]] | None = None) -> None:
        """The local worker syncs ``tables`` (``keys``: what their commits wrote, when the
        feed said) and shows the feed's state; a local worker that cannot hear now (still
        starting) learns the state with the next message."""
        try:
            await self.host.peer_request(protocol.SYNC_REMOTE_CHANGED,
                                         {"tables": tables, "feed": self.state.to_dict(),
                                          "keys": keys or {}},
                                         timeout=60.0)
        except Exception as exc:
            js.console.warn(f"[ducksync feed] the local worker did not take it: {exc}")

    async def _sleep(self, seconds: float | None) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
