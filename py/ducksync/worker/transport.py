"""Rules of the remote worker's transports that need no browser: pure, CPython-tested.

``proxy`` (default) reaches the remote through our server's sync API; ``motherduck``
talks SQL to a MotherDuck connection that lives in a nested worker (see
docs/transports.md). Here: which service module may be loaded, how a failed login is
recognised and reported, and how a token is kept out of every text that leaves.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urljoin, urlsplit

from ducksync.errors import (
    AuthError,
    DucksyncError,
    ProtocolError,
    QueryError,
    RemoteUnavailableError,
)

__all__ = ["TRANSPORTS", "login_error", "scrub", "service_url"]

TRANSPORTS: Final = ("proxy", "motherduck")
LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
# A refused credential, as MotherDuck and its client word it ("Your request is not
# authenticated. Please check your MotherDuck token", "Invalid token", HTTP 401/403, a
# malformed JWT). The bare word "token" is not enough: a parser's "at or near token" or a
# URL path naming a token endpoint are not refusals.
_AUTH = re.compile(r"not authenticated|unauthenticated|unauthori[sz]ed|forbidden|"
                   r"authentication failed|invalid (access |md ?)?token|"
                   r"token (is )?(invalid|expired|revoked)|expired token|\bjwt\b|"
                   r"\b(http|status)\W*40[13]\b|\(40[13]\)", re.I)
# The database named at connect time is not one this account has (DuckDB's catalog
# wording, and MotherDuck's "no database/share named").
_NO_DATABASE = re.compile(r"catalog error|no database(/share|/schema)? named|"
                          r"database \S+ does not exist|database \S+ not found|"
                          r"unknown database", re.I)
AUTH_HINT: Final = ("check the token (app.motherduck.com → Settings → Access Tokens: copy a "
                    "fresh one), then connect again; nothing was synced with it")


def scrub(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` masked (secrets under 4 characters are not masked)."""
    return text.replace(secret, "***") if secret and len(secret) >= 4 else text


def service_url(requested: str | None, *, default: str, origin: str, hostname: str) -> str:
    """The SQL service module to load: ``default`` (MotherDuck), or a ``requested`` one.

    A requested service (the browser tests' loopback stand-in) is honoured only when
    the page itself is served from a loopback address and the module is same-origin:
    a deployed app cannot be talked into handing its token to another module.
    """
    if not requested:
        return default
    url = urljoin(origin + "/", requested)
    if hostname not in LOOPBACK or urlsplit(url).netloc != urlsplit(origin).netloc:
        raise ProtocolError("a custom SQL service is honoured only on a loopback origin",
                            hint="omit `service`: the motherduck transport loads MotherDuck")
    return url


def login_error(message: str, token: str | None, database: str | None = None) -> DucksyncError:
    """The typed error for a failed connect, by what the user must fix: AuthError for a
    refused token (get a fresh one), QueryError for a database the account does not have
    (check the name), else RemoteUnavailableError (offline, assets unreachable: retry)."""
    text = scrub(message, token)
    if _AUTH.search(text):
        return AuthError(f"MotherDuck refused the token: {text}", hint=AUTH_HINT)
    if _NO_DATABASE.search(text):
        named = f"`{database}`" if database else "the database"
        return QueryError(f"MotherDuck has no database {named} for this account: {text}",
                          hint="check the database name (app.motherduck.com lists yours), "
                               "or create it there first; the token was accepted")
    return RemoteUnavailableError(f"cannot connect to MotherDuck: {text}",
                                  hint="check the network; the motherduck transport needs "
                                       "app.motherduck.com (the proxy transport does not)")
