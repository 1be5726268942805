"""One worker's phase machine and request dispatch, independent of how messages travel.

A worker boots in named steps (``booting`` + ``step``), then settles in a state
(``ready`` for the local worker; ``connected``/``offline`` for the remote one) or
``failed`` with a reason. Every change is emitted as a PHASE event. ``ping`` is
answered in every phase; other requests wait until the worker settles and are
refused with the failure reason if it never does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from ducksync import protocol
from ducksync.errors import DucksyncError, ProtocolError
from ducksync.protocol import Event, Reply, Request

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Emit = Callable[[Event], None]

SETTLED: Final = frozenset({protocol.READY, protocol.CONNECTED, protocol.OFFLINE})


class WorkerFailedError(DucksyncError):
    """The worker could not start; requests other than ping are refused."""

    code = "worker_failed"


class WorkerCore:
    """Phases + dispatch for the worker called ``name``; ``emit`` sends an event out."""

    def __init__(self, *, name: str, emit: Emit, boot_ms: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``boot_ms``: time the worker spent before this core existed (loading Pyodide)."""
        self.name = name
        self._boot_ms = boot_ms
        self._emit = emit
        self._clock = clock
        self._started = clock()
        self._handlers: dict[str, Handler] = {}
        self._when_failed: set[str] = set()
        self._settled: asyncio.Event | None = None
        self.phase: str = protocol.BOOTING
        self.step: str | None = None
        self.reason: str | None = None
        self.steps: dict[str, float] = {}  # step -> ms spent in it
        self._step_started = self._started

    # --- phases ------------------------------------------------------------------
    def booting(self, step: str) -> None:
        """Enter boot step ``step`` (the previous step's duration is recorded)."""
        self._close_step()
        self.step = step
        self._set(protocol.BOOTING)

    def settle(self, state: str = protocol.READY, **extra: Any) -> None:
        """Leave booting (or change connectivity): ``ready``, ``connected`` or ``offline``."""
        if state not in SETTLED:
            raise ValueError(f"{state!r} is not a settled state")
        self._close_step()
        self.step = None
        self.reason = extra.pop("reason", None)
        self._set(state, **extra)
        self._settled_event().set()

    def fail(self, reason: str) -> None:
        self._close_step()
        self.reason = reason
        self._set(protocol.FAILED)
        self._settled_event().set()

    def snapshot(self) -> dict[str, Any]:
        return {"worker": self.name, "phase": self.phase, "step": self.step,
                "reason": self.reason, "elapsed_ms": self._elapsed_ms(),
                "steps": dict(self.steps)}

    def _close_step(self) -> None:
        now = self._clock()
        if self.step is not None and self.phase == protocol.BOOTING:
            self.steps[self.step] = round((now - self._step_started) * 1000, 1)
        self._step_started = now

    def _set(self, phase: str, **extra: Any) -> None:
        self.phase = phase
        self._emit(Event(type=protocol.PHASE, payload={**self.snapshot(), **extra}))

    def _elapsed_ms(self) -> float:
        return round(self._boot_ms + (self._clock() - self._started) * 1000, 1)

    def _settled_event(self) -> asyncio.Event:
        if self._settled is None:
            self._settled = asyncio.Event()
        return self._settled

    # --- requests ----------------------------------------------------------------
    def on(self, request_type: str, handler: Handler, *, when_failed: bool = False) -> None:
        """Answer ``request_type`` with ``handler``; ``when_failed`` keeps it answering after
        :meth:`fail` (e.g. a health check that may bring the worker back)."""
        if request_type not in protocol.REQUEST_TYPES:
            raise ValueError(f"unknown request type {request_type!r}")
        self._handlers[request_type] = handler
        if when_failed:
            self._when_failed.add(request_type)

    async def handle(self, data: object) -> Reply | None:
        """Answer one received message; None for messages that need no reply (events)."""
        try:
            message = protocol.parse(data)
        except DucksyncError as exc:
            return protocol.error_reply_for(data, exc)
        if not isinstance(message, Request):
            return None
        try:
            return Reply(id=message.id, payload=await self._dispatch(message))
        except Exception as exc:  # every failure crosses the boundary as a typed error
            return Reply.failure(message.id, exc)

    async def _dispatch(self, request: Request) -> dict[str, Any]:
        if request.type == protocol.PING:
            return self.snapshot()
        handler = self._handlers.get(request.type)
        if handler is None:
            raise ProtocolError(f"the {self.name} worker does not handle {request.type!r}",
                                hint="send it to the other worker")
        if self.phase == protocol.BOOTING:
            await self._settled_event().wait()
        if self.phase == protocol.FAILED and request.type not in self._when_failed:
            raise WorkerFailedError(f"the {self.name} worker failed to start: {self.reason}",
                                    hint="reload the page; see the browser console for details")
        return await handler(dict(request.payload))

