"""The sync HTTP API, declared once: one route per :class:`~ducksync.engine.store.RemoteStore`
method (and the client knobs).

Three parties speak it: the server (``ducksync.server.sync_api`` mounts each handler on
its route), the native HTTP store (``ducksync.stores.http``) and the browser's remote
worker (``ducksync.worker.remote_calls``). Each used to spell the paths itself; now a
route changes here or nowhere, and ``tests/unit/test_sync_routes.py`` checks that the
server serves exactly these routes and that every store method has one.

Pure data (stdlib only): it loads in Pyodide like the protocol module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import quote, unquote

if TYPE_CHECKING:  # a type only: this module stays stdlib at run time
    from ducksync.engine.store import PageEnd

__all__ = ["API", "FEED", "PAGE_HEADERS", "ROUTES", "Route", "page_end_told", "page_headers",
           "page_told", "route_path"]

API: Final = "/api/v1/sync"


@dataclass(frozen=True, kw_only=True)
class Route:
    """``verb`` ``API + path``; ``{table}`` and ``{batch_id}`` are filled by :func:`route_path`.

    ``body``: what the request carries (``ipc``: one Arrow IPC stream); ``reply``: what
    comes back on success (errors are always ``{"error": {code, message, hint}}``; ``sse``:
    a Server-Sent Events stream that stays open).
    ``may_be_absent``: a 404 ``not_found`` is an answer ("never applied"), not an error.
    """

    method: str
    verb: Literal["GET", "POST", "PUT", "DELETE"]
    path: str
    body: Literal["none", "json", "ipc"] = "none"
    reply: Literal["json", "ipc", "sse"] = "json"
    may_be_absent: bool = False


ROUTES: Final[dict[str, Route]] = {r.method: r for r in (
    Route(method="config", verb="GET", path="/config"),
    Route(method="remote_id", verb="GET", path="/identity"),
    Route(method="list_tables", verb="GET", path="/tables"),
    Route(method="survey", verb="POST", path="/survey", body="json"),
    Route(method="describe_table", verb="GET", path="/tables/{table}"),
    Route(method="create_table", verb="PUT", path="/tables/{table}", body="json"),
    Route(method="drop_table", verb="DELETE", path="/tables/{table}"),
    Route(method="add_columns", verb="POST", path="/tables/{table}/columns", body="json"),
    Route(method="bucket_checksums", verb="POST", path="/tables/{table}/checksums",
          body="json", reply="ipc"),
    Route(method="bucket_hashes", verb="POST", path="/tables/{table}/hashes", body="json",
          reply="ipc"),
    Route(method="fetch_rows", verb="POST", path="/tables/{table}/rows", body="ipc",
          reply="ipc"),
    Route(method="fetch_rows_after", verb="POST", path="/tables/{table}/rows-after",
          body="json", reply="ipc"),
    Route(method="apply_batch", verb="POST", path="/tables/{table}/batches/{batch_id}",
          body="ipc", reply="ipc"),
    Route(method="batch_result", verb="GET", path="/batches/{batch_id}", reply="ipc",
          may_be_absent=True),
    Route(method="ack_batches", verb="POST", path="/batches/ack", body="json"),
)}

# The change feed (docs/change-feed.md): not a RemoteStore call but a stream that tells
# a client which tables changed, so it sits beside the table; served by
# ``ducksync.server.feed_api``, read by the remote worker (``workers/remote_feed.py``).
FEED: Final = Route(method="changes", verb="GET", path="/changes", reply="sse")


def route_path(route: Route, *, table: str | None = None, batch_id: str | None = None) -> str:
    """The request path of ``route`` (names percent-encoded: they are data, not paths)."""
    fill = {"table": table, "batch_id": batch_id}
    missing = [name for name, value in fill.items()
               if "{" + name + "}" in route.path and not value]
    if missing:
        raise ValueError(f"{route.method} needs {', '.join(missing)}")
    return API + route.path.format(**{k: quote(v or "", safe="") for k, v in fill.items()})


# A keyset page's end (``RemoteStore.fetch_rows_after``'s ``told``), beside its rows:
# response headers, so the body stays the one IPC stream every reader takes as is.
PAGE_ROWS: Final = "x-ducksync-page-rows"
PAGE_LAST: Final = "x-ducksync-page-last"  # the cursor text, percent-encoded (UTF-8)
PAGE_HEADERS: Final = (PAGE_ROWS, PAGE_LAST)
_LAST_MAX: Final = 2048  # a longer key is not told: the client reads the page itself


def page_headers(told: PageEnd) -> dict[str, str]:
    """The headers telling ``told`` (none when it is empty or its key too long)."""
    if "rows" not in told:
        return {}
    last = told.get("last")
    out = {PAGE_ROWS: str(int(told["rows"]))}
    if last is not None:
        out[PAGE_LAST] = quote(last, safe="")
        if len(out[PAGE_LAST]) > _LAST_MAX:
            return {}
    return out


def page_told(headers: Mapping[str, str]) -> PageEnd:
    """What :func:`page_headers` told (header names in lower case); empty when they are
    absent (an older server) or malformed: the page is then read where it arrives."""
    rows, last = headers.get(PAGE_ROWS), headers.get(PAGE_LAST)
    if rows is None or not (rows.isascii() and rows.isdigit()):
        return {}
    return page_end_told(int(rows), None if last is None else unquote(last))


def page_end_told(rows: object, last: object) -> PageEnd:
    """A told page's end, as received (headers, a worker's message): empty unless whole,
    a row count and, unless the page is empty, its last key's text."""
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        return {}
    if (last is None and rows) or (last is not None and not isinstance(last, str)):
        return {}
    return {"rows": rows, "last": last}
