"""Cross-origin isolation and caching headers for every response.

DuckDB-WASM's threads and MotherDuck's client need ``crossOriginIsolated``, which
the browser grants only when the *document* carries COOP/COEP; sub-resources need
CORP. A pure ASGI middleware (not BaseHTTPMiddleware) so large wasm responses
stream through untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ISOLATION_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-embedder-policy", b"require-corp"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
)
# Vendor files live under a versioned path, so they never change in place.
IMMUTABLE_PREFIX = "/dist/vendor/"


class IsolationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        cache = (b"public, max-age=31536000, immutable" if path.startswith(IMMUTABLE_PREFIX)
                 else b"no-cache")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in {name for name, _ in ISOLATION_HEADERS}]
                headers.extend(ISOLATION_HEADERS)
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", cache))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
