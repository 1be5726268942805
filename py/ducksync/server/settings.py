"""Server settings: one frozen object built from the command line and the environment.

Every knob has one name and one default here, so the docs table, the CLI and the
tests agree. Secrets (``MOTHERDUCK_TOKEN``) are read where they are used and never
stored on this object, so printing settings can never leak them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_REMOTE = ".ducksync/remote.duckdb"


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    remote: str = DEFAULT_REMOTE
    web_root: Path = REPO_ROOT / "web"
    allowed_origins: tuple[str, ...] = field(default=("http://localhost:3000",))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``ALLOWED_ORIGINS``, ``DUCKSYNC_REMOTE`` and ``MOTHERDUCK_DATABASE``.

        With ``MOTHERDUCK_TOKEN`` set and no explicit remote, the remote is
        ``md:$MOTHERDUCK_DATABASE`` (default ``my_db``); otherwise the embedded file.
        """
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        if origins := env.get("ALLOWED_ORIGINS"):
            values["allowed_origins"] = tuple(o.strip() for o in origins.split(",") if o.strip())
        if remote := env.get("DUCKSYNC_REMOTE"):
            values["remote"] = remote
        elif env.get("MOTHERDUCK_TOKEN"):
            values["remote"] = "md:" + env.get("MOTHERDUCK_DATABASE", "my_db")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
