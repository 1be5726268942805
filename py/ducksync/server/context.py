"""Everything one app instance shares, built once from :class:`Settings`.

Routes receive this object instead of reaching for globals, so two apps in one
test process (different settings, registries, secrets) never see each other.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ducksync.errors import ProtocolError
from ducksync.server.auth import Authenticator, Principal
from ducksync.server.backend import StorePool
from ducksync.server.errors import ForbiddenError
from ducksync.server.feed import ChangeFeed
from ducksync.server.jwt_auth import JwtVerifier
from ducksync.server.limits import RateLimiter
from ducksync.server.observability import Metrics
from ducksync.server.outside_writes import OutsideWrites
from ducksync.server.remote import RemoteDatabase
from ducksync.server.rules import Rules
from ducksync.server.settings import Settings
from ducksync.stores.scope import Scopes

if TYPE_CHECKING:
    from ducksync.stores.sql_remote import SqlRemoteStore

# Table names: one Unicode word, not one of the engine's internal names.
_TABLE_NAME = re.compile(r"^[^\W\d]\w{0,127}$")
_INTERNAL_PREFIX = "__ds"


def check_identifier(name: str, *, what: str) -> str:
    """A table name: letters, digits, underscore; no engine-internal prefix."""
    if not _TABLE_NAME.fullmatch(name) or name.lower().startswith(_INTERNAL_PREFIX):
        raise ProtocolError(f"invalid {what} name {name[:80]!r}",
                            hint=f"a {what} name is letters, digits and _, not starting "
                                 f"with a digit or {_INTERNAL_PREFIX}")
    return name


def check_column(name: str) -> str:
    """A column name: 1-128 printable characters, no engine-internal prefix (quoted later)."""
    if (not name or len(name) > 128 or not name.isprintable()
            or name.lower().startswith(_INTERNAL_PREFIX)):
        raise ProtocolError(f"invalid column name {name[:80]!r}",
                            hint="column names are 1-128 printable characters, not __ds*")
    return name


@dataclass(kw_only=True)
class ServerContext:
    settings: Settings
    database: RemoteDatabase
    pool: StorePool
    auth: Authenticator
    limiter: RateLimiter
    metrics: Metrics
    feed: ChangeFeed
    rules: Rules | None = None
    outside: OutsideWrites | None = None

    @classmethod
    def build(cls, settings: Settings, *, database: RemoteDatabase | None = None,
              store_factory: Callable[[Any], Any] | None = None) -> ServerContext:
        """``database``/``store_factory``: injected by tests only (see
        :func:`ducksync.server.app.create_app`)."""
        database = database or RemoteDatabase(spec=settings.remote)
        rules = None
        if settings.rules_file is not None:
            rules = Rules.load(settings.rules_file)
            with database.cursor() as cursor:
                rules.check_remote(cursor)
        pool = StorePool(database=database, size=settings.pool_size,
                         timeout_s=settings.request_timeout_s, store_factory=store_factory)
        ctx = cls(
            rules=rules,
            settings=settings, database=database, pool=pool,
            auth=Authenticator.from_settings(
                users=settings.users, users_file=settings.users_file,
                api_key_hashes=settings.api_key_hashes,
                secret=os.environ.get("DUCKSYNC_SECRET"), ttl_s=settings.session_ttl_s,
                open_mode=not settings.auth_configured,
                jwt=JwtVerifier.from_config(
                    secret=os.environ.get("DUCKSYNC_JWT_SECRET"),
                    jwks_file=settings.jwt_jwks_file, issuer=settings.jwt_issuer,
                    audience=settings.jwt_audience, leeway_s=settings.jwt_leeway_s)),
            limiter=RateLimiter(rate=settings.rate_limit_per_s,
                                burst=settings.rate_limit_burst),
            metrics=Metrics(),
            feed=ChangeFeed(poll=lambda: _table_versions(pool, ctx.outside),
                            poll_s=settings.feed_poll_s,
                            max_listeners=settings.feed_max_listeners))
        ctx.outside = OutsideWrites(
            snapshot=lambda: _fingerprints(pool, ctx.table_allowed),
            bump=lambda table: _bump(pool, table),
            every_s=settings.outside_check_every_s(database.kind))
        return ctx

    def table_allowed(self, name: str) -> bool:
        allow = self.settings.tables
        return (allow is None or name in allow) and (self.rules is None or self.rules.allows(name))

    def check_table(self, name: str) -> str:
        check_identifier(name, what="table")
        if not self.table_allowed(name):
            if self.rules is not None and not self.rules.allows(name):
                raise ForbiddenError(f"table {name!r} has no section in this server's sync "
                                     "rules, so it is not synced",
                                     hint=f"ask the operator to add [tables.{name}] to the "
                                          "rules file (DUCKSYNC_RULES)")
            raise ForbiddenError(f"table {name!r} is not on this server's allowlist",
                                 hint="ask the operator to add it to DUCKSYNC_TABLES")
        return name

    def scopes(self, who: Principal, table: str | None = None) -> Scopes | None:
        """``who``'s rows of each table (None: no rules, every row); ``table``: the
        one the request is about, refused with the reason if ``who`` has none."""
        return None if self.rules is None else self.rules.scopes_for(who, table)



async def _table_versions(pool: StorePool, outside: OutsideWrites | None) -> dict[str, int]:
    """The change feed's poll: every table's version, in one statement on a pooled store
    (after counting other tools' writes, when that check is due)."""
    from ducksync.server.backend import run_coroutine

    if outside is not None:
        await outside.check_if_due()
    versions: dict[str, int] = await pool.call(
        lambda store: run_coroutine(cast("SqlRemoteStore", store).table_versions))
    return versions


async def _fingerprints(pool: StorePool, synced: Callable[[str], bool],
                        ) -> tuple[dict[str, int], dict[str, str]]:
    """Versions and fingerprints of the tables this server syncs (others are not scanned)."""
    from ducksync.server.backend import run_coroutine

    found: tuple[dict[str, int], dict[str, str]] = await pool.call(
        lambda store: run_coroutine(
            lambda: cast("SqlRemoteStore", store).versions_and_fingerprints(synced)))
    return found


async def _bump(pool: StorePool, table: str) -> None:
    from ducksync.server.backend import run_coroutine

    await pool.call(lambda store: run_coroutine(
        lambda: cast("SqlRemoteStore", store).bump_version(table)), write=True)
