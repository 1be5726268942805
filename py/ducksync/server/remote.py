"""The database the server fronts: a native DuckDB file (the embedded stand-in for
MotherDuck) or ``md:DB`` through native duckdb with ``MOTHERDUCK_TOKEN``.

One connection per process; each request uses its own cursor (DuckDB cursors are
independent connections to the same database), and requests run in the thread pool.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ducksync.engine.sqlbuild import quote_ident
from ducksync.errors import AuthError, RemoteUnavailableError
from ducksync.motherduck_versions import check_client_version

if TYPE_CHECKING:
    import duckdb


class RemoteDatabase:
    """``opener(spec, config)`` replaces ``duckdb.connect`` (tests: a cloud stand-in
    behind an ``md:`` spec, so the ``md:`` code paths run here). Only Python callers can
    pass it: no setting or environment variable reaches it."""

    def __init__(self, *, spec: str,
                 opener: Callable[[str, dict[str, Any]], duckdb.DuckDBPyConnection] | None = None,
                 ) -> None:
        self.spec = spec
        self._opener = opener
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    @property
    def kind(self) -> str:
        return "motherduck" if self.spec.startswith("md:") else "duckdb-file"

    def connection(self) -> duckdb.DuckDBPyConnection:
        """Open lazily so the server starts (and serves the app) even if the remote is down."""
        with self._lock:
            if self._connection is None:
                self._connection = self._open()
            return self._connection

    def _open(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        from ducksync.stores.native import known_without_pandas

        check_client_version(self.spec)
        known_without_pandas()
        config: dict[str, Any] = {"autoload_known_extensions": self.kind == "motherduck"}
        if self.kind == "motherduck":
            token = os.environ.get("MOTHERDUCK_TOKEN")
            if not token:
                raise AuthError("remote is md: but MOTHERDUCK_TOKEN is not set",
                                hint="export MOTHERDUCK_TOKEN=... or pass --remote PATH")
            config["motherduck_token"] = token
        else:
            try:
                Path(self.spec).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RemoteUnavailableError(
                    f"cannot create the folder for remote {self.spec}: {exc.strerror}",
                    hint="check the server's --remote path and its permissions") from exc
        try:
            if self._opener is not None:
                return self._opener(self.spec, config)
            return duckdb.connect(self.spec, config=config)
        except duckdb.Error as exc:
            # duckdb's message can echo the connection string but never the config,
            # so the token cannot leak through it.
            raise RemoteUnavailableError(f"cannot open remote {self.spec}: {exc}",
                                         hint="check the path or MotherDuck database name") from exc

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new independent connection; Arrow exports lossless (UUID, HUGEINT… survive)."""
        cur = self.connection().cursor()
        cur.execute("SET arrow_lossless_conversion = true")
        return cur

    def ping(self) -> None:
        """Raise unless the remote answers ``SELECT 1``."""
        with self.cursor() as cur:
            cur.execute("SELECT 1").fetchall()

    def list_tables(self) -> list[dict[str, Any]]:
        """User tables of the configured database with their exact row counts: the remote
        worker's first read query. Only that database's: ``md:`` attaches the whole
        workspace by default, and other databases' tables are not the ones this server
        syncs. ``duckdb_tables().estimated_size`` is not a row count (deleted rows stay in
        it until a checkpoint compacts them), so the counts are ``count(*)`` of every
        table, all in one statement (:func:`row_counts_sql`)."""
        with self.cursor() as cur:
            found = cur.execute(
                "SELECT schema_name, table_name, column_count "
                "FROM duckdb_tables() WHERE NOT internal AND schema_name <> 'ducksync' "
                "AND database_name = current_database() "
                "ORDER BY schema_name, table_name").fetchall()
            counts = cur.execute(row_counts_sql([(s, n) for s, n, _ in found])).fetchone() \
                if found else ()
        return [{"schema": s, "name": n, "rows": int(counts[i] if counts else 0),
                 "columns": int(c)} for i, (s, n, c) in enumerate(found)]

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


def row_counts_sql(tables: list[tuple[str, str]]) -> str:
    """One statement, one row: ``count(*)`` of each ``(schema, table)``, in order."""
    return "SELECT " + ", ".join(f"(SELECT count(*) FROM {quote_ident(s)}.{quote_ident(t)})"
                                 for s, t in tables)
