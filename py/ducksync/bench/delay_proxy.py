"""A TCP proxy that puts a network's distance between a browser and a local server.

Why a proxy and not the browser's request interception: the page's sync requests leave
from a worker nested in another worker (behind a service worker), which interception
hooks do not reliably see; bytes on a socket always pass here. The page loads from the
proxy's URL, so every request it makes crosses it: each HTTP request waits ``delay_s``
before it is forwarded (one round trip, as
:class:`~ducksync.stores.latency.CountingTransport` models it for the CLI), and the sync
API's requests are noted in :attr:`DelayProxy.paths`. Responses (the change feed's
stream too) flow back untouched.
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field
from typing import Final

from ducksync.sync_routes import API, FEED

__all__ = ["DelayProxy"]

# The first bytes of a request: ``METHOD /path HTTP/1.x`` (a body never starts so: it is
# JSON or Arrow IPC).
_REQUEST: Final = re.compile(rb"^(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) (\S+) HTTP/1")


@dataclass(kw_only=True)
class DelayProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target_port`` on its own thread's event loop."""

    target_port: int
    delay_s: float = 0.0
    paths: list[str] = field(default_factory=list)  # sync API requests (not the feed)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> int:
        return len(self.paths)

    def reset(self) -> None:
        self.paths.clear()

    def start(self) -> DelayProxy:
        started = threading.Event()

        async def serve() -> None:
            self._stopping = asyncio.Event()
            server = await asyncio.start_server(self._client, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            started.set()
            async with server:
                await self._stopping.wait()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:  # the connections still open
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_until_complete, args=(serve(),),
                                        daemon=True, name="delay-proxy")
        self._thread.start()
        if not started.wait(30):
            raise RuntimeError("the delaying proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._loop is not None:
            self._loop.close()

    def _counted(self, method: str, path: str) -> None:
        path = path.split("?", 1)[0]
        if path.startswith(API) and path != API + FEED.path:
            self.paths.append(f"{method} {path}")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def back() -> None:
            while data := await up_reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
            writer.close()

        returning = asyncio.create_task(back())
        try:
            while data := await reader.read(1 << 16):
                request = _REQUEST.match(data)
                if request:
                    self._counted(request.group(1).decode(), request.group(2).decode())
                    if self.delay_s:
                        await asyncio.sleep(self.delay_s)
                up_writer.write(data)
                await up_writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            up_writer.close()
            returning.cancel()
            writer.close()
