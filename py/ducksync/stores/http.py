"""The engine's :class:`RemoteStore` over our server's sync API (``http(s)://HOST``).

Native only (CLI, tests): the browser's remote worker has its own transport.
Each method is one request on its route (declared once in ``ducksync.sync_routes``,
served by ``ducksync.server.sync_api``); Arrow travels as IPC bodies, gzip/zstd negotiated
by HTTP. Errors come back as ``{"error": {code, message, hint}}`` and are raised
as the same typed :mod:`ducksync.errors` class.

Credentials, in order: ``api_key=`` / ``DUCKSYNC_API_KEY`` (sent as a bearer
key), else ``DUCKSYNC_TOKEN`` (a bearer token as is: the JWT of the app's identity
provider, docs/auth.md), else ``username=``/``password=`` or ``DUCKSYNC_USER``/``DUCKSYNC_PASSWORD``
(logged in once, then the session token is used and refreshed on expiry), else
none (a loopback dev server runs open). ``MOTHERDUCK_TOKEN`` is never sent.

Retries: connection failures, 429 and 503 are retried with backoff; that is safe
for every call, writes included, because batches are idempotent (ledger). A body
above the server's limit (``GET /sync/config``) is never sent, so never retried: the
server would answer 413, usually by closing the connection mid-upload, which would
look like a network failure. Every error the server answered carries its
``X-Request-ID`` (``DucksyncError.request_id``), the line to find in its log.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx

from ducksync.engine import codec
from ducksync.engine.limits import describe_key, too_large
from ducksync.engine.store import ApplyResult, ColumnInfo, PageEnd, Survey, TableInfo
from ducksync.errors import AuthError, DucksyncError, RemoteUnavailableError, error_from_wire
from ducksync.sync_routes import ROUTES, page_told, route_path

__all__ = ["HttpRemoteStore"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
AUTH = "/api/v1/auth"
RETRY_STATUSES = frozenset({429, 503})


@functools.cache
def _ca_verified_context() -> ssl.SSLContext:
    """httpx's default verification (certifi's CA bundle), built once per process.

    httpx builds this context for every client, and loading the bundle costs 60 to 80 ms:
    a third of a no-op sync of 1M rows when each sync opens a new store.
    """
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _tls_for(url: str) -> ssl.SSLContext:
    """The context for ``url``: CA-verified for https; for plain http (nothing to
    verify) one that trusts no CA at all, so TLS could never succeed through it
    unverified."""
    if url.startswith("https:"):
        return _ca_verified_context()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verify + hostname check, no CA


class HttpRemoteStore:
    """:class:`ducksync.engine.store.RemoteStore` talking to ``ducksync serve``."""

    def __init__(self, *, url: str, api_key: str | None = None, username: str | None = None,
                 password: str | None = None, timeout_s: float = 120.0, retries: int = 4,
                 compress: str | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 ) -> None:
        self.url = url.rstrip("/")
        self._api_key = api_key if api_key is not None else (
            os.environ.get("DUCKSYNC_API_KEY") or os.environ.get("DUCKSYNC_TOKEN"))
        self._username = username or os.environ.get("DUCKSYNC_USER")
        self._password = password or os.environ.get("DUCKSYNC_PASSWORD")
        self._timeout = httpx.Timeout(timeout_s, connect=10.0)
        self._retries = retries
        self._compress = compress
        self._transport = transport
        self._token: str | None = None
        self._max_body: int | None = None  # the server's limit (0: none), asked once
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:  # never shows credentials
        return f"HttpRemoteStore(url={self.url!r})"

    # -- plumbing ----------------------------------------------------------------------
    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(
                base_url=self.url, timeout=self._timeout, transport=self._transport,
                verify=_tls_for(self.url),
                headers={"accept-encoding": "zstd, gzip", "user-agent": "ducksync-http-store"})
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def close(self) -> None:
        """Synchronous close for callers outside a loop (best effort)."""
        loop = self._loop
        if (self._client is not None and loop is not None and not loop.is_closed()
                and not loop.is_running()):
            loop.run_until_complete(self.aclose())
        self._client = None

    async def _auth_headers(self) -> dict[str, str]:
        if self._api_key:
            return {"authorization": f"Bearer {self._api_key}"}
        if self._username and self._password:
            if self._token is None:
                await self.login()
            return {"authorization": f"Bearer {self._token}"}
        return {}

    async def login(self) -> None:
        """Trade DUCKSYNC_USER/DUCKSYNC_PASSWORD for a session token."""
        response = await self._send("POST", f"{AUTH}/login", authed=False,
                                    json={"username": self._username,
                                          "password": self._password})
        self._token = str(response.json()["token"])

    async def _send(self, method: str, path: str, *, authed: bool = True,
                    accept: frozenset[int] = frozenset(), **kwargs: Any) -> httpx.Response:
        relogged = False
        base_headers = dict(kwargs.pop("headers", {}) or {})
        for attempt in range(self._retries + 1):
            headers = dict(base_headers)
            if authed:
                headers.update(await self._auth_headers())
            try:
                response = await self._http().request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                if attempt < self._retries:
                    await asyncio.sleep(0.2 * 2**attempt)
                    continue
                raise _unreachable(self.url, exc) from exc
            if response.status_code < 400 or response.status_code in accept:
                return response
            if (response.status_code == 401 and authed and not relogged and self._token
                    and not self._api_key):
                self._token, relogged = None, True  # session expired: log in again once
                continue
            if response.status_code in RETRY_STATUSES and attempt < self._retries:
                await asyncio.sleep(0.1 * 2**attempt)
                continue
            raise self._error(response)
        raise RemoteUnavailableError(f"{self.url} kept refusing the request",
                                     hint="retry later")

    async def _call(self, method: str, *, table: str | None = None,
                    batch_id: str | None = None, **kwargs: Any) -> httpx.Response:
        """One request on ``method``'s route (declared in :mod:`ducksync.sync_routes`)."""
        route = ROUTES[method]
        return await self._send(route.verb, route_path(route, table=table, batch_id=batch_id),
                                **kwargs)

    def _error(self, response: httpx.Response) -> DucksyncError:
        error = self._answered_error(response)
        error.request_id = error.request_id or response.headers.get("x-request-id")
        return error

    def _answered_error(self, response: httpx.Response) -> DucksyncError:
        try:
            return error_from_wire(response.json()["error"])
        except (ValueError, KeyError, TypeError):
            pass
        if response.status_code == 401:
            return AuthError(f"{self.url} refused the credentials",
                             hint="set DUCKSYNC_API_KEY or DUCKSYNC_USER/DUCKSYNC_PASSWORD")
        return RemoteUnavailableError(f"{self.url} answered HTTP {response.status_code}",
                                      hint="check the server log for this request")

    async def max_body_bytes(self) -> int | None:
        """The server's request body limit (:class:`ducksync.engine.store.BodyLimited`)."""
        if self._max_body is None:
            config = (await self._call("config")).json()
            self._max_body = int(config.get("max_body_bytes") or 0)
        return self._max_body or None

    async def _check_fits(self, table: str, key: list[str], ipc: bytes, body: bytes) -> None:
        """Refuse a batch body above the server's limit, naming its (first) row."""
        limit = await self.max_body_bytes()
        if limit is None or len(body) <= limit:
            return
        import pyarrow as pa  # type: ignore[import-untyped]

        rows = pa.ipc.open_stream(codec.decode(ipc)).read_all()
        first = [rows.column(k)[0].as_py() for k in key] if rows.num_rows else []
        what = (f"row {describe_key(key, first)}" if rows.num_rows == 1 else
                f"a batch of {rows.num_rows} rows starting at {describe_key(key, first)}")
        raise too_large(table, what, len(body), limit, self.url)

    def _ipc_request(self, payload: bytes) -> dict[str, Any]:
        headers = {"content-type": ARROW_STREAM}
        if self._compress in ("gzip", "zstd"):
            payload = codec.compress(codec.decode(payload), self._compress)
            headers["content-encoding"] = self._compress
        return {"content": payload, "headers": headers}

    # -- RemoteStore -------------------------------------------------------------------
    async def remote_id(self) -> str:
        return str((await self._call("remote_id")).json()["remote_id"])

    async def list_tables(self) -> list[TableInfo]:
        tables: list[TableInfo] = (await self._call("list_tables")).json()
        return tables

    async def survey(self, tables: list[str] | None, key: list[str] | None) -> Survey:
        answer: Survey = (await self._call("survey", json={"tables": tables,
                                                           "key": key})).json()
        self._max_body = int(answer.get("max_body_bytes") or 0)  # no config call to ask
        return answer

    async def describe_table(self, table: str) -> TableInfo | None:
        body = (await self._call("describe_table", table=table)).json()
        info: TableInfo | None = body["table"]
        return info

    async def create_table(self, table: str, columns: list[ColumnInfo],
                           primary_key: list[str]) -> None:
        await self._call("create_table", table=table,
                         json={"columns": columns, "primary_key": primary_key})

    async def drop_table(self, table: str) -> bool:
        body = (await self._call("drop_table", table=table)).json()
        return bool(body["dropped"])

    async def add_columns(self, table: str, columns: list[ColumnInfo]) -> None:
        await self._call("add_columns", table=table, json={"columns": columns})

    async def bucket_checksums(self, table: str, key: list[str], modulus: int,
                               parent_modulus: int, parents: list[int]) -> bytes:
        response = await self._call(
            "bucket_checksums", table=table,
            json={"key": key, "modulus": modulus, "parent_modulus": parent_modulus,
                  "parents": parents})
        return response.content

    async def bucket_hashes(self, table: str, key: list[str], modulus: int,
                            buckets: list[int]) -> bytes:
        response = await self._call("bucket_hashes", table=table,
                                    json={"key": key, "modulus": modulus, "buckets": buckets})
        return response.content

    async def fetch_rows(self, table: str, key: list[str], keys_ipc: bytes, *,
                         batch_rows: int) -> AsyncIterator[bytes]:
        response = await self._call("fetch_rows", table=table,
                                    params={"key": key, "batch_rows": batch_rows},
                                    **self._ipc_request(keys_ipc))
        for chunk in _split(response.content, batch_rows):
            yield chunk

    async def fetch_rows_after(self, table: str, column: str | list[str],
                               after: str | list[str] | None, *, batch_rows: int,
                               limit: int | None = None, hashes: bool = True,
                               told: PageEnd | None = None) -> AsyncIterator[bytes]:
        response = await self._call("fetch_rows_after", table=table,
                                    json={"column": column, "after": after,
                                          "batch_rows": batch_rows, "limit": limit,
                                          "hashes": hashes})
        if told is not None:
            told.update(page_told(response.headers))
        for chunk in _split(response.content, batch_rows):
            yield chunk

    async def apply_batch(self, table: str, key: list[str], batch_id: str,
                          ipc: bytes, *, checksum: str | None = None) -> ApplyResult:
        params: dict[str, Any] = {"key": key}
        if checksum is not None:
            params["checksum"] = checksum
        request = self._ipc_request(ipc)
        await self._check_fits(table, key, ipc, request["content"])
        response = await self._call(
            "apply_batch", table=table, batch_id=batch_id, params=params, **request)
        return _apply_result(response, batch_id)

    async def batch_result(self, batch_id: str) -> ApplyResult | None:
        response = await self._call("batch_result", batch_id=batch_id,
                                    accept=frozenset({404}))
        if response.status_code == 404:
            if _error_code(response) == "not_found":
                return None
            raise self._error(response)
        return _apply_result(response, batch_id)

    async def ack_batches(self, batch_ids: list[str]) -> None:
        await self._call("ack_batches", json={"batch_ids": batch_ids})


def _apply_result(response: httpx.Response, batch_id: str) -> ApplyResult:
    return {"batch_id": response.headers.get("x-ducksync-batch-id", batch_id),
            "replayed": response.headers.get("x-ducksync-replayed") == "true",
            "verified": response.headers.get("x-ducksync-verified") == "true",
            "result": response.content}


def _error_code(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def _split(stream: bytes, batch_rows: int) -> list[bytes]:
    """One IPC stream → complete IPC chunks of at most ``batch_rows`` rows (≥ 1 chunk)."""
    import pyarrow as pa

    from ducksync.stores._arrow import to_ipc

    table = pa.ipc.open_stream(stream).read_all()
    if table.num_rows <= batch_rows:  # one chunk already (a bootstrap page): no re-encode
        return [stream]
    return [to_ipc(batch) for batch in table.to_batches(max_chunksize=batch_rows)]


def _unreachable(url: str, exc: httpx.TransportError) -> RemoteUnavailableError:
    """Why ``url`` could not be reached, in httpx's words (refused, unknown name, TLS),
    with the fix that fits: an https:// URL to a plain-HTTP server is no server down."""
    why = str(exc) or type(exc).__name__
    if url.startswith("https://") and "SSL" in why:
        return RemoteUnavailableError(
            f"cannot reach {url}: TLS failed ({why})",
            hint="a ducksync serve speaks plain HTTP unless a proxy adds TLS: use "
                 + "http://" + url.removeprefix("https://"))
    return RemoteUnavailableError(
        f"cannot reach {url}: {why}",
        hint="check the server is running (ducksync serve) and the URL")
