"""DuckDB extensions in the page, in plain words, and WebAssembly crashes of DuckDB.

The page's DuckDB-WASM bundles only DuckDB's core functions: icu (``current_date``, time
zones), json (``->>``, ``JSON``) and parquet are extensions that DuckDB-WASM downloads
from extensions.duckdb.org on ``LOAD``. Autoload is off (workers/local_worker.py), so a
query that needs one fails with DuckDB's advice to ``INSTALL x; LOAD x`` — and in
DuckDB-WASM ``INSTALL`` does nothing, so it "succeeds" and ``LOAD`` then fails with an
XMLHttpRequest error. This module turns those into one message naming the extension and
why it is missing (:func:`explain`), and makes ``INSTALL x`` mean ``LOAD x``
(:func:`install_as_load`) so that it succeeds only when the extension really is usable.

Some statements that need icu without saying so (``AT TIME ZONE``, ``timezone()``) trap
inside DuckDB's WebAssembly instead (``RuntimeError: table index is out of bounds``);
:func:`is_wasm_crash` recognises such a trap so the worker restarts DuckDB, and
:func:`crash_error` says what happened.

May import: ducksync.errors, the standard library (pure: tested in CPython).
"""

from __future__ import annotations

import re
from typing import Final

from ducksync.errors import QueryError

REPOSITORY: Final = "extensions.duckdb.org"
# DuckDB: 'Scalar Function with name "current_date" is not in the catalog, but it exists
# in the icu extension.' (also Table Function, Copy Function, Type, ...).
_NEEDS = re.compile(r'(?:with name "?(?P<what>[^"\n]+?)"? is not in the catalog, )?'
                    r"but it exists in the (?P<ext>\w+) extension")
# DuckDB-WASM's download of an extension failing (offline, blocked): its XMLHttpRequest.
_DOWNLOAD = re.compile(r"(?P<ext>\w+)\.duckdb_extension\.wasm")
_NETWORK = re.compile(r"XMLHttpRequest|NetworkError|Failed to load")
_STATEMENT = re.compile(r"^\s*(?:FORCE\s+)?(?P<verb>INSTALL|LOAD)\s+"
                        r"(?P<ext>[A-Za-z_]\w*|'[A-Za-z_]\w*'|\"[A-Za-z_]\w*\")\s*;?\s*$",
                        re.IGNORECASE)
# WebAssembly traps (WebAssembly.RuntimeError messages in V8): the instance's state is
# undefined after one, so DuckDB is restarted rather than trusted.
WASM_TRAPS: Final = ("table index is out of bounds", "function signature mismatch",
                     "memory access out of bounds", "unreachable", "integer overflow",
                     "divide by zero", "null function or function signature mismatch")
_TIME_ZONE = re.compile(r"\bAT\s+TIME\s+ZONE\b|\btimezone\s*\(", re.IGNORECASE)

OFFLINE_BUILD: Final = ("this page's DuckDB bundles only its core functions (extensions are "
                        f"downloaded from {REPOSITORY} on LOAD)")


def _load_hint(ext: str) -> str:
    return (f"run LOAD {ext} while online (the service worker keeps the download for offline "
            "use), or write the query without it")


def install_as_load(sql: str) -> str | None:
    """``LOAD x`` for an ``INSTALL x`` / ``FORCE INSTALL x`` statement, else None.

    DuckDB-WASM's INSTALL does not download anything, so it reports success for an
    extension that cannot be loaded; LOAD is the step that proves it usable."""
    found = _STATEMENT.match(sql)
    if not found or found.group("verb").upper() != "INSTALL":
        return None
    return "LOAD " + found.group("ext").strip("'\"")


def explain(message: str, sql: str = "") -> QueryError | None:
    """One clear error for DuckDB's message about an extension that is not loaded (or
    could not be downloaded); None when the message is about something else."""
    needs = _NEEDS.search(message)
    if needs:
        ext, what = needs.group("ext"), needs.group("what")
        subject = f"{what} needs" if what else "this query needs"
        return QueryError(f"{subject} DuckDB's {ext} extension, which is not loaded: "
                          f"{OFFLINE_BUILD}.", hint=_load_hint(ext))
    if not _NETWORK.search(message):
        return None  # e.g. a file that is no extension: DuckDB's own words say it best
    download = _DOWNLOAD.search(message)
    statement = _STATEMENT.match(sql)
    ext = download.group("ext") if download else \
        statement.group("ext").strip("'\"") if statement else None
    if ext:
        return QueryError(f"DuckDB's {ext} extension could not be loaded: this page's DuckDB "
                          f"bundles only its core functions, and downloading {ext} from "
                          f"{REPOSITORY} failed (offline, or the site is unreachable).",
                          hint=f"connect to the internet and run LOAD {ext} again (the "
                               "service worker then keeps it for offline use), or write the "
                               "query without it")
    return None


def is_wasm_crash(message: str) -> bool:
    """True when DuckDB's error is a WebAssembly trap, not an SQL error."""
    text = message.strip().removeprefix("RuntimeError:").strip().lower()
    return any(text.startswith(trap) for trap in WASM_TRAPS)


def crash_error(message: str, sql: str) -> QueryError:
    """The error a query gets when it crashed DuckDB's WebAssembly (restarted since)."""
    why = (" Time zones need DuckDB's icu extension, which is not loaded: "
           f"{OFFLINE_BUILD}." if _TIME_ZONE.search(sql) else "")
    return QueryError(
        f"DuckDB crashed running this query (WebAssembly error: {message.strip()}). It was "
        "restarted and the database reopened; what was committed before is kept." + why,
        hint=("use TIMESTAMPTZ values without AT TIME ZONE, or run LOAD icu while online"
              if why else "check the query; if it crashes again, report it with the SQL"))
