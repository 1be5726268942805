"""The remote worker: reaches the remote and reports connectivity.

With the ``proxy`` transport (default) health is ``GET /readyz`` (connected /
offline / failed, see :mod:`ducksync.worker.health`), re-probed periodically and on
the browser's online/offline events; the first read query is
``GET /api/v1/remote/tables``. It also owns the change feed (``remote_feed``), woken
when the probe sees the server come back. With ``motherduck`` (``remote_sync``) the open SQL
service is the remote: connected while it is open, tables from its catalog.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]
from pyodide.http import pyfetch  # type: ignore[import-not-found]

from ducksync import protocol
from ducksync.errors import error_from_wire
from ducksync.worker import HealthCheck, classify_health
from ducksync.worker.remote_calls import HttpCall
from remote_feed import RemoteFeed
from remote_sync import register as register_sync
from worker_host import WorkerHost

HEALTH_URL = "/readyz"
TABLES_URL = "/api/v1/remote/tables"
RECHECK_CONNECTED_S = 30.0
RECHECK_DOWN_S = 5.0


class RemoteWorker:
    def __init__(self) -> None:
        self.host = WorkerHost()
        self.last: HealthCheck | None = None
        # Probes numbered as sent; the newest answered so far: an older probe (sent before
        # the network went off) may answer after a newer one did, and must not undo it.
        self._probes = 0
        self._answered = 0
        self._wake = asyncio.Event()
        core = self.host.core
        core.on(protocol.REMOTE_HEALTH, self.health, when_failed=True)
        core.on(protocol.REMOTE_TABLES, self.tables)
        self.sync = register_sync(self.host, self._transport_changed)
        self.feed = RemoteFeed(self.host, self.sync)
        self._listener = create_proxy(lambda _event: self._wake.set())
        js.self.addEventListener("online", self._listener)
        js.self.addEventListener("offline", self._listener)

    async def init(self) -> None:
        self.host.core.booting("remote-probe")
        await self.check()
        self.host.spawn(self._watch())
        self.host.spawn(self.feed.run())

    async def _transport_changed(self, remote: str | None) -> None:
        self.last = None  # report the new transport's state even if it looks the same
        self.feed.wake()
        await self.check()

    async def check(self) -> HealthCheck:
        if self.sync.sql is not None:  # motherduck: the open service is the remote
            result = HealthCheck(state=protocol.CONNECTED, remote=self.sync.sql.remote)
            if result != self.last:
                self.host.core.settle(result.state, reason=None, remote=result.remote)
            self.last = result
            return result
        self._probes += 1
        probe = self._probes
        try:
            response = await pyfetch(HEALTH_URL, cache="no-store")
            try:
                body = await response.json()
            except Exception:
                body = None
            result = classify_health(status=response.status, body=body)
        except Exception as exc:  # the request itself failed: no network, server down
            result = classify_health(status=None, error=str(exc))
        if probe < self._answered:  # a newer probe answered first: its answer is the
            return self.last or result  # current one, for this caller too
        self._answered = probe
        if result != self.last or self.host.core.phase == protocol.BOOTING:
            if result.state == protocol.CONNECTED and self.last is not None:
                self.feed.wake()  # back: reconnect the feed now, not after its backoff
            if result.state == protocol.FAILED:
                self.host.core.fail(result.reason or "remote failed")
            else:
                self.host.core.settle(result.state, reason=result.reason, remote=result.remote)
        self.last = result
        return result

    async def _watch(self) -> None:
        while True:
            delay = RECHECK_CONNECTED_S if self.host.core.phase == protocol.CONNECTED \
                else RECHECK_DOWN_S
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            await self.check()

    async def health(self, _: dict[str, Any]) -> dict[str, Any]:
        return (await self.check()).to_payload()

    async def tables(self, _: dict[str, Any]) -> dict[str, Any]:
        if self.sync.sql is not None:
            found = await self.sync.sql.store.list_tables()
            return {"remote": self.sync.sql.remote,
                    "tables": [{"schema": "main", "name": t["name"], "rows": None}
                               for t in found]}
        answer = await self.sync.fetch(HttpCall(method="GET", path=TABLES_URL), None)
        body = answer.json if isinstance(answer.json, dict) else {}
        if answer.status != 200:
            raise error_from_wire(body.get("error") or {"message": f"HTTP {answer.status}"})
        return {"remote": body.get("remote"), "tables": body.get("tables", [])}


def start() -> Any:
    worker = RemoteWorker()
    return worker.host.start(worker.init)
