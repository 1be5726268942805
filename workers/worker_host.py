"""Glue between a raw Pyodide module worker and :class:`ducksync.worker.WorkerCore`.

The only Python allowed to touch ``js`` and ``pyodide.ffi`` (with local_worker.py and
remote_worker.py). It converts messages at the edge (JS object -> dict on the way in,
dict -> plain JS object on the way out), puts ArrayBuffers in the transfer list, and
carries the peer channel (a MessagePort from the main thread's MessageChannel).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import ducksync_host  # type: ignore[import-not-found]  # registered by workers/boot.mjs
import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, JsProxy, create_proxy, to_js  # type: ignore[import-not-found]

from ducksync import protocol
from ducksync.errors import ProtocolError, RemoteUnavailableError
from ducksync.protocol import Event, Reply, Request
from ducksync.worker import WorkerCore, tidy_error_message

Post = Callable[[Any, Any], None]


def js_message(exc: BaseException) -> str:
    """The JS error's own message (DuckDB's text), without Pyodide's wrapping."""
    if isinstance(exc, JsException):
        message = getattr(exc, "message", None)
        if message:
            return tidy_error_message(str(message))
    return tidy_error_message(str(exc).removeprefix("Error: "))


def is_crash(exc: BaseException) -> bool:
    """A WebAssembly trap in DuckDB (``RuntimeError``, the name DuckDB-WASM keeps in both
    hostings): workers/duck.mjs restarted DuckDB before this error arrived."""
    return isinstance(exc, JsException) and getattr(exc, "name", None) == "RuntimeError"


def to_plain_js(value: Any) -> Any:
    return to_js(value, dict_converter=js.Object.fromEntries)


def transfer_list(payload: dict[str, Any]) -> list[Any]:
    """ArrayBuffers of top-level typed-array values; each must own its whole buffer."""
    buffers = []
    for key, value in payload.items():
        if isinstance(value, JsProxy) and js.ArrayBuffer.isView(value):
            if value.byteOffset != 0 or value.byteLength != value.buffer.byteLength:
                value = payload[key] = value.slice()  # copy once so the transfer is exact
            buffers.append(value.buffer)
    return buffers


def send(target_post: Post, wire: dict[str, Any], transfer: list[Any] | None = None) -> None:
    target_post(to_plain_js(wire), to_plain_js(transfer or []))


class WorkerHost:
    """One worker: its core, the main-thread channel and (after CONNECT_PORT) the peer port."""

    def __init__(self) -> None:
        self.name: str = ducksync_host.worker
        self.core = WorkerCore(name=self.name, emit=self.emit,
                               boot_ms=js.performance.now() - ducksync_host.startedAt)
        self.port: Any = None
        self.port_ready = asyncio.Event()  # set once CONNECT_PORT gave us the peer channel
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._ids = itertools.count(1)
        self._proxies: list[Any] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.core.on(protocol.CONNECT_PORT, self._connect_port, when_failed=True)
        self.core.on(protocol.PEER_PING, self._peer_ping)
        for step, ms in ducksync_host.bootSteps.to_py().items():
            self.core.steps[step] = round(float(ms), 1)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background, keeping a reference until it is done."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- outgoing ----------------------------------------------------------------
    def emit(self, event: Event) -> None:
        send(ducksync_host.post, event.to_wire())

    def reply(self, post: Post, reply: Reply) -> None:
        transfer = transfer_list(reply.payload) if reply.ok else []
        send(post, reply.to_wire(), transfer)

    # --- incoming ----------------------------------------------------------------
    def on_main_message(self, data: Any, ports: Any) -> None:
        message = data.to_py(depth=2) if isinstance(data, JsProxy) else data
        if isinstance(message, dict) and message.get("type") == protocol.CONNECT_PORT \
                and ports is not None and ports.length:
            self._incoming_port = ports[0]
        self.spawn(self._answer(ducksync_host.post, message))

    def on_port_message(self, event: Any) -> None:
        message = event.data.to_py(depth=2) if isinstance(event.data, JsProxy) else event.data
        if isinstance(message, dict) and message.get("kind") == "reply":
            reply = protocol.parse(message)
            assert isinstance(reply, Reply)
            future = self._pending.pop(reply.id, None)
            if future is not None and not future.done():
                future.set_result(reply)
            return
        self.spawn(self._answer(self.port.postMessage, message))

    async def _answer(self, post: Post, message: Any) -> None:
        reply = await self.core.handle(message)
        if reply is not None:
            self.reply(post, reply)

    # --- the peer channel ----------------------------------------------------------
    async def _connect_port(self, payload: dict[str, Any]) -> dict[str, Any]:
        port = getattr(self, "_incoming_port", None)
        if port is None:
            raise ProtocolError("connect_port needs a MessagePort in the transfer list")
        self.port = port
        listener = create_proxy(self.on_port_message)
        self._proxies.append(listener)
        port.addEventListener("message", listener)
        port.start()
        self.port_ready.set()
        return {"worker": self.name, "peer": payload.get("peer")}

    async def peer_request(self, request_type: str, payload: dict[str, Any] | None = None,
                           timeout: float = 10.0) -> Reply:
        """Ask the peer worker; typed-array values of ``payload`` are transferred."""
        if self.port is None:
            raise RemoteUnavailableError(f"the {self.name} worker has no peer port yet",
                                         hint="the main thread sends connect_port at start-up")
        request = Request(id=next(self._ids), type=request_type, payload=payload or {})
        future: asyncio.Future[Reply] = asyncio.get_event_loop().create_future()
        self._pending[request.id] = future
        send(self.port.postMessage, request.to_wire(), transfer_list(request.payload))
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request.id, None)

    async def _peer_ping(self, _: dict[str, Any]) -> dict[str, Any]:
        started = js.performance.now()
        reply = await self.peer_request(protocol.PING)
        return {"peer": reply.unwrap(), "rtt_ms": round(js.performance.now() - started, 2)}

    def start(self, init: Callable[[], Awaitable[None]]) -> Any:
        """Run ``init`` (failures become a ``failed`` phase) and return the JS message handler."""
        async def boot() -> None:
            try:
                await init()
            except Exception as exc:
                js.console.error(f"[ducksync {self.name} worker] start-up failed: {exc!r}")
                self.core.fail(f"{self.core.step or 'init'}: {js_message(exc)}")

        self.spawn(boot())
        handler = create_proxy(self.on_main_message)
        self._proxies.append(handler)
        return handler
