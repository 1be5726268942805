"""An httpx transport that counts requests and can add network latency.

A cloud remote is far away: what a sync costs there is mostly its round trips, which
loopback hides. Tests use :class:`CountingTransport` to hold the protocol to a
round-trip budget; the bench uses its ``delay_s`` to time syncs as if the server
were tens of milliseconds away.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

__all__ = ["CountingTransport"]


@dataclass(kw_only=True)
class CountingTransport(httpx.AsyncBaseTransport):
    """Forwards to a real transport; counts each request (``paths`` in order) and
    sleeps ``delay_s`` before it, as one network round trip would."""

    delay_s: float = 0.0
    inner: httpx.AsyncBaseTransport = field(default_factory=httpx.AsyncHTTPTransport)
    paths: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.paths)

    def reset(self) -> None:
        self.paths.clear()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(f"{request.method} {request.url.path}")
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
