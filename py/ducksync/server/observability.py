"""Metrics, structured logs with request ids, and the optional Sentry hook.

Why one module: every request passes through :class:`ObservabilityMiddleware`
once, which gives it an id (``X-Request-ID``, echoed or generated), times it,
counts it under its *route template* (never the raw path, so label cardinality
stays bounded) and writes one JSON log line. Metrics live in a per-app
``CollectorRegistry`` so several apps in one test process never collide.

Log lines carry ids, routes, statuses and timings; never headers, bodies or
settings, so no secret can reach a log through here.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ducksync.server.errors import error_response

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)
log = logging.getLogger("ducksync.server")


class Metrics:
    """Every counter the server exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("ducksync_http_requests", "HTTP requests served",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("ducksync_http_request_duration_seconds",
                                 "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS,
                                 registry=r)
        self.errors = Counter("ducksync_errors", "Error responses by stable code", ["code"],
                              registry=r)
        self.batches = Counter("ducksync_sync_batches", "Batches applied",
                               ["outcome"], registry=r)
        self.rows = Counter("ducksync_sync_rows", "Rows moved through the sync API",
                            ["direction"], registry=r)
        self.bytes = Counter("ducksync_sync_bytes", "Arrow bytes moved (after decoding)",
                             ["direction"], registry=r)
        self.read_cache = Counter("ducksync_read_cache", "Reads (checksums, describe, a "
                                  "descent's row hashes) "
                                  "answered from the cache (hit) or computed (miss)",
                                  ["read", "outcome"], registry=r)
        self.operation_latency = Histogram("ducksync_sync_operation_seconds",
                                           "Store operation latency", ["operation"],
                                           buckets=LATENCY_BUCKETS, registry=r)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3), "level": record.levelname.lower(),
            "logger": record.name, "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        entry.update(getattr(record, "fields", {}) or {})
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


def configure_logging(*, json_lines: bool) -> None:
    """Route ``ducksync.*`` and uvicorn's logs to stdout, as JSON when asked."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if json_lines
                         else logging.Formatter("%(levelname)s %(name)s %(message)s"))
    for name in ("ducksync", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False


def init_sentry(dsn: str | None) -> bool:
    """Enable Sentry when ``SENTRY_DSN`` is set *and* sentry-sdk is installed; else no-op."""
    if not dsn:
        return False
    try:
        import sentry_sdk  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        log.warning("SENTRY_DSN is set but sentry-sdk is not installed; "
                    "pip install sentry-sdk to report errors")
        return False
    sentry_sdk.init(dsn=dsn, send_default_pii=False, traces_sample_rate=0.0)
    return True


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    return path or "static"


class ObservabilityMiddleware:
    """Request ids, access log, request counters and latency. Pure ASGI (streams pass)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else secrets.token_hex(8)
        token = request_id_var.set(request_id)
        status = 500
        start = time.perf_counter()
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = int(message["status"]), True
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                # Answered here rather than by Starlette's outermost error handler, which
                # runs after this request's id is gone: the 500 carries X-Request-ID and
                # the log line with the traceback names the same id.
                log.error("unhandled error", exc_info=exc, extra={
                    "request_id": request_id, "fields": {"route": _route_label(scope)}})
                if started:
                    raise
                self.metrics.errors.labels("internal").inc()
                await error_response(exc)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_label(scope)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(elapsed)
            if route != "static" or status >= 400:
                log.info("request", extra={"request_id": request_id, "fields": {
                    "method": scope["method"], "route": route, "status": status,
                    "ms": round(elapsed * 1000, 2)}})
            request_id_var.reset(token)
