"""The ASGI application: static app, health, metrics, auth, sync API and console.

``create_app(settings)`` builds everything from one :class:`Settings`, so tests
start the very same app on a free port that ``ducksync serve`` runs. API routes
are registered before the static mount, which must stay last (it answers every
other path).
"""

from __future__ import annotations

import logging
import mimetypes
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from ducksync import __version__
from ducksync.errors import AuthError, DucksyncError, ProtocolError, RemoteUnavailableError
from ducksync.server import auth_api, console_api, feed_api, sync_api
from ducksync.server.context import ServerContext
from ducksync.server.errors import NotFoundError, error_response, wire_error
from ducksync.server.isolation import IsolationMiddleware
from ducksync.server.limits import BodySizeLimitMiddleware, shape_limit_error
from ducksync.server.observability import ObservabilityMiddleware, init_sentry
from ducksync.server.preload import preload
from ducksync.server.remote import RemoteDatabase
from ducksync.server.settings import Settings
from ducksync.sync_routes import PAGE_HEADERS

# Some systems' mime tables lack these; browsers refuse wasm streaming and module
# scripts served with the wrong type.
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/x-python", ".py")
mimetypes.add_type("application/json", ".map")
log = logging.getLogger("ducksync.server")


def check_bind(settings: Settings) -> None:
    """Refuse to serve an open API beyond this machine."""
    if not settings.loopback and not settings.auth_configured:
        raise AuthError(
            f"refusing to bind {settings.host} with no authentication configured: "
            "anyone who can reach it could read and write the remote",
            hint="set DUCKSYNC_USERS_FILE, DUCKSYNC_API_KEYS or DUCKSYNC_JWT_* "
                 "(see docs/configuration.md), "
                 "or bind 127.0.0.1 for open dev mode")


def _install_error_handlers(app: FastAPI, ctx: ServerContext) -> None:
    def reply(exc: BaseException, headers: dict[str, str] | None = None) -> JSONResponse:
        code = wire_error(exc)["code"]
        ctx.metrics.errors.labels(code).inc()
        # the code only (a message may echo request content); the line carries the
        # request id the client shows, next to the request's access line
        log.info("error answered", extra={"fields": {"code": code}})
        return error_response(exc, headers=headers)

    @app.exception_handler(DucksyncError)
    async def ducksync_error(_: Request, exc: DucksyncError) -> JSONResponse:
        headers = {"www-authenticate": "Bearer"} if isinstance(exc, AuthError) else None
        return reply(exc, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        limit = shape_limit_error(request.path_params.get("table"), first, exc.body)
        if limit is not None:
            return reply(limit)
        where = ".".join(str(p) for p in first.get("loc", ()))
        return reply(ProtocolError(f"invalid request: {where}: {first.get('msg', 'invalid')}",
                                   hint="see the schema at /api/openapi.json"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return reply(NotFoundError("no such resource", hint="check the URL"))
        code = "method_not_allowed" if exc.status_code == 405 else "protocol"
        ctx.metrics.errors.labels(code).inc()
        return JSONResponse(status_code=exc.status_code, headers=exc.headers, content={
            "error": {"code": code, "message": str(exc.detail),
                      "hint": "see the API schema at /api/docs"}})

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return reply(exc)


async def _prepare_ledger(ctx: ServerContext) -> None:
    """Create the remote's ledger now, so that no request (even a rejected one) does DDL."""
    from ducksync.server.backend import run_coroutine

    try:
        await ctx.pool.call(lambda store: run_coroutine(
            lambda: store.batch_result("startup-probe")), write=True)
    except Exception as exc:  # the server still serves the app; /readyz reports the remote
        code = exc.code if isinstance(exc, DucksyncError) else type(exc).__name__
        log.warning(f"remote not ready at startup ({code}); /readyz will say why")


def _static_files(settings: Settings) -> StaticFiles:
    """``web_root``, or ``app_root`` over it: a path is looked up in the app's folder first."""
    files = StaticFiles(directory=settings.web_root, html=True, check_dir=False)
    if settings.app_root is not None:
        files.all_directories = [settings.app_root, *files.all_directories]
    return files


def create_app(settings: Settings, *, database: RemoteDatabase | None = None,
               store_factory: Callable[[Any], Any] | None = None) -> FastAPI:
    """The app. ``database``/``store_factory`` let an in-process test put a cloud
    stand-in behind an ``md:`` remote; deliberately not reachable from settings or the
    environment (no production backdoor)."""
    check_bind(settings)
    ctx = ServerContext.build(settings, database=database, store_factory=store_factory)
    remote = ctx.database
    sentry = init_sentry(os.environ.get("SENTRY_DSN"))

    @asynccontextmanager
    async def lifespan(served: FastAPI) -> AsyncIterator[None]:
        if settings.tables is None and not settings.loopback:
            log.warning("DUCKSYNC_TABLES is not set: every user table is synced")
        await _prepare_ledger(ctx)
        served.state.preloading = preload()  # not inside the first device's requests
        yield
        ctx.feed.shutdown()
        ctx.pool.close()
        remote.close()

    app = FastAPI(title="ducksync", version=__version__, lifespan=lifespan,
                  docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None)
    app.state.settings = settings
    app.state.remote = remote
    app.state.ctx = ctx
    app.state.sentry = sentry
    _install_error_handlers(app, ctx)

    @app.get("/healthz", tags=["monitoring"])
    def healthz() -> dict[str, Any]:
        """Alive: the process answers. Says nothing about the remote."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["monitoring"])
    def readyz() -> dict[str, Any]:
        """Ready: the remote answers ``SELECT 1``."""
        try:
            remote.ping()
        except DucksyncError:
            raise
        except Exception as exc:
            raise RemoteUnavailableError(f"remote does not answer: {type(exc).__name__}",
                                         hint="check the server's --remote setting") from exc
        return {"status": "ready", "remote": remote.kind}

    @app.get("/metrics", tags=["monitoring"], response_class=Response)
    def metrics() -> Response:
        """Prometheus text: requests, latency, batches, rows, bytes, errors."""
        return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/remote/tables", tags=["remote"])
    def remote_tables(request: Request) -> dict[str, Any]:
        """The remote's user tables with exact row counts (two fixed, read-only queries)."""
        from ducksync.server.deps import principal

        principal(request)
        tables = [t for t in remote.list_tables() if ctx.table_allowed(t["name"])]
        if ctx.rules is not None:  # a table's size counts every user's rows
            tables = [t | {"rows": None} for t in tables]
        return {"remote": remote.kind, "tables": tables}

    app.include_router(auth_api.router)
    app.include_router(sync_api.router)
    app.include_router(feed_api.router)
    app.include_router(console_api.router)
    app.mount("/", _static_files(settings), name="web")
    # Outermost last: observability sees everything, isolation headers go on every
    # response (errors included), CORS answers preflights, the size limit guards the rest.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.allowed_origins),
                       allow_credentials=True, allow_methods=["GET", "POST", "PUT"],
                       allow_headers=["authorization", "content-type", "content-encoding",
                                      "x-api-key", "x-request-id"],
                       expose_headers=["x-request-id", "x-ducksync-batch-id",
                                       "x-ducksync-replayed", *PAGE_HEADERS])
    app.add_middleware(IsolationMiddleware)
    app.add_middleware(ObservabilityMiddleware, metrics=ctx.metrics)
    return app
