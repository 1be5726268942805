"""The ASGI application: static app, health endpoints and the remote API.

``create_app(settings)`` builds everything from one :class:`Settings`, so tests
start the very same app on a free port that ``ducksync serve`` runs.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from ducksync import __version__
from ducksync.errors import DucksyncError, RemoteUnavailableError, error_to_wire
from ducksync.server.isolation import IsolationMiddleware
from ducksync.server.remote import RemoteDatabase
from ducksync.server.settings import Settings

# Some systems' mime tables lack these; browsers refuse wasm streaming and module
# scripts served with the wrong type.
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/x-python", ".py")
mimetypes.add_type("application/json", ".map")

_STATUS_BY_CODE = {"auth": 401, "protocol": 400, "query": 400, "no_primary_key": 422,
                   "schema_mismatch": 409, "conflict": 409, "remote_unavailable": 503}


def create_app(settings: Settings) -> FastAPI:
    remote = RemoteDatabase(spec=settings.remote)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        remote.close()

    app = FastAPI(title="ducksync", version=__version__, lifespan=lifespan,
                  docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None)
    app.state.settings = settings
    app.state.remote = remote

    @app.exception_handler(DucksyncError)
    async def ducksync_error(_: Request, exc: DucksyncError) -> JSONResponse:
        return JSONResponse(status_code=_STATUS_BY_CODE.get(exc.code, 500),
                            content={"error": error_to_wire(exc)})

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
            raise RemoteUnavailableError(f"remote does not answer: {exc}",
                                         hint="check the server's --remote setting") from exc
        return {"status": "ready", "remote": remote.kind}

    @app.get("/api/v1/remote/tables", tags=["remote"])
    def remote_tables() -> dict[str, Any]:
        """The remote's user tables with row estimates (a fixed, read-only query)."""
        return {"remote": remote.kind, "tables": remote.list_tables()}

    app.mount("/", StaticFiles(directory=settings.web_root, html=True, check_dir=False),
              name="web")
    app.add_middleware(IsolationMiddleware)
    return app
