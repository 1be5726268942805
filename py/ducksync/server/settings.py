"""Server settings: one frozen object built from the command line and the environment.

Every knob has one name and one default here, so the docs table
(``docs/configuration.md``), the CLI and the tests agree. Secrets
(``MOTHERDUCK_TOKEN``, ``DUCKSYNC_SECRET``, API keys, passwords) are read where
they are used and never stored on this object in clear, so printing settings can
never leak them: API keys are hashed on read, users come as scrypt hashes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ducksync.errors import ProtocolError

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_REMOTE = ".ducksync/remote.duckdb"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    remote: str = DEFAULT_REMOTE
    web_root: Path = REPO_ROOT / "web"
    # An app's own pages, served at / over ducksync's (its files win; /dist/, /sw.js and the
    # rest of web_root fill in), so an app is served and tested as it ships.
    app_root: Path | None = None
    allowed_origins: tuple[str, ...] = field(default=("http://localhost:3000",))
    # Sync API scope: None = every user table (dev mode); otherwise an allowlist.
    tables: tuple[str, ...] | None = None
    # Sync rules (TOML, docs/rules.md): each principal's rows of each table.
    rules_file: Path | None = None
    # Auth. ``users_file`` holds ``name:scrypt$...`` lines (made by ``python -m
    # ducksync.server.auth NAME``: docs/configuration.md).
    users_file: Path | None = None
    users: tuple[str, ...] = ()  # inline ``name:scrypt$...`` entries (DUCKSYNC_USERS)
    api_key_hashes: tuple[str, ...] = ()  # sha256 hex digests of machine keys
    session_ttl_s: int = 900
    # JWTs of the app's own identity provider (docs/auth.md). The HS256 secret itself is
    # read where it is used (DUCKSYNC_JWT_SECRET); only whether it is set lives here.
    jwt_secret_set: bool = False
    jwt_jwks_file: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: tuple[str, ...] = ()
    jwt_leeway_s: int = 30
    # Hardening.
    max_body_bytes: int = 64 * 1024 * 1024
    rate_limit_per_s: float = 50.0
    rate_limit_burst: int = 200
    request_timeout_s: float = 60.0
    readonly_console: bool = False
    console_max_rows: int = 10_000
    pool_size: int = 8
    # Client-side knobs the server advertises (GET /api/v1/sync/config).
    sync_interval_s: float = 30.0
    batch_size: int = 100_000
    enable_compression: bool = True
    # The change feed (docs/change-feed.md): how often each process polls the remote's
    # table versions while clients listen, the heartbeat, and the bound on listeners.
    feed_poll_s: float = 0.5
    feed_heartbeat_s: float = 15.0
    feed_max_listeners: int = 1000
    # Writes by other tools (server/outside_writes.py): checked this often while clients
    # listen; None: every 30 s on md: remotes, never on a file (this process is its only
    # writer); 0: never.
    feed_outside_check_s: float | None = None
    # Monitoring.
    log_json: bool = True
    sentry_dsn_set: bool = False

    def outside_check_every_s(self, remote_kind: str) -> float:
        """How often the feed looks for other tools' writes (``feed_outside_check_s``)."""
        if self.feed_outside_check_s is not None:
            return self.feed_outside_check_s
        return 30.0 if remote_kind == "motherduck" else 0.0

    @property
    def auth_configured(self) -> bool:
        return bool(self.users or self.users_file or self.api_key_hashes
                    or self.jwt_secret_set or self.jwt_jwks_file)

    @property
    def kind_label(self) -> str:
        """The remote for humans and logs: a path, or ``md:DB`` (never a token)."""
        return self.remote.split("?", 1)[0]

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read every setting documented in ``docs/configuration.md``.

        With ``MOTHERDUCK_TOKEN`` set and no explicit remote, the remote is
        ``md:$MOTHERDUCK_DATABASE`` (default ``my_db``); otherwise the embedded file.
        Explicit keyword ``overrides`` (from the command line) win when not None.
        """
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        if origins := env.get("ALLOWED_ORIGINS"):
            values["allowed_origins"] = _csv(origins)
        if web_root := env.get("DUCKSYNC_WEB_ROOT"):
            values["web_root"] = Path(web_root)
        if app_root := env.get("DUCKSYNC_APP_ROOT"):
            values["app_root"] = Path(app_root)
        if remote := env.get("DUCKSYNC_REMOTE"):
            values["remote"] = remote
        elif env.get("MOTHERDUCK_TOKEN"):
            values["remote"] = "md:" + env.get("MOTHERDUCK_DATABASE", "my_db")
        if tables := env.get("DUCKSYNC_TABLES"):
            values["tables"] = _csv(tables)
        if rules := env.get("DUCKSYNC_RULES"):
            values["rules_file"] = Path(rules)
        if users_file := env.get("DUCKSYNC_USERS_FILE"):
            values["users_file"] = Path(users_file)
        if users := env.get("DUCKSYNC_USERS"):
            values["users"] = _csv(users)
        if keys := env.get("DUCKSYNC_API_KEYS"):
            from ducksync.server.auth import hash_api_key

            values["api_key_hashes"] = tuple(hash_api_key(k) for k in _csv(keys))
        values["jwt_secret_set"] = bool(env.get("DUCKSYNC_JWT_SECRET"))
        if jwks := env.get("DUCKSYNC_JWT_JWKS_FILE"):
            values["jwt_jwks_file"] = Path(jwks)
        if issuer := env.get("DUCKSYNC_JWT_ISSUER"):
            values["jwt_issuer"] = issuer.strip()
        if audience := env.get("DUCKSYNC_JWT_AUDIENCE"):
            values["jwt_audience"] = _csv(audience)
        numbers: dict[str, tuple[str, type[int] | type[float]]] = {
            "DUCKSYNC_SESSION_TTL": ("session_ttl_s", int),
            "DUCKSYNC_JWT_LEEWAY": ("jwt_leeway_s", int),
            "DUCKSYNC_MAX_BODY_BYTES": ("max_body_bytes", int),
            "DUCKSYNC_RATE_LIMIT": ("rate_limit_per_s", float),
            "DUCKSYNC_RATE_BURST": ("rate_limit_burst", int),
            "DUCKSYNC_REQUEST_TIMEOUT": ("request_timeout_s", float),
            "SYNC_INTERVAL": ("sync_interval_s", float),
            "BATCH_SIZE": ("batch_size", int),
            "DUCKSYNC_POOL_SIZE": ("pool_size", int),
            "DUCKSYNC_CONSOLE_MAX_ROWS": ("console_max_rows", int),
            "DUCKSYNC_FEED_POLL_S": ("feed_poll_s", float),
            "DUCKSYNC_FEED_HEARTBEAT_S": ("feed_heartbeat_s", float),
            "DUCKSYNC_FEED_MAX_LISTENERS": ("feed_max_listeners", int),
            "DUCKSYNC_FEED_OUTSIDE_CHECK_S": ("feed_outside_check_s", float),
        }
        for name, (attr, kind) in numbers.items():
            if (raw := env.get(name)) is not None and raw.strip():
                try:
                    values[attr] = kind(raw)
                except ValueError as exc:
                    raise ProtocolError(f"{name}={raw!r} is not a number",
                                        hint=f"set {name} to a {kind.__name__}") from exc
        if (raw := env.get("ENABLE_COMPRESSION")) is not None:
            values["enable_compression"] = _flag(raw)
        if (raw := env.get("DUCKSYNC_READONLY_CONSOLE")) is not None:
            values["readonly_console"] = _flag(raw)
        if (raw := env.get("DUCKSYNC_LOG_JSON")) is not None:
            values["log_json"] = _flag(raw)
        values["sentry_dsn_set"] = bool(env.get("SENTRY_DSN"))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
