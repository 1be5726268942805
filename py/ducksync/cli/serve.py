"""``ducksync serve``: the app, cross-origin isolated, with the remote behind it.

Every setting comes from the environment (docs/configuration.md); the flags
here override the few that are handy on a command line. Binding beyond loopback
without authentication is refused before the port is opened.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="serve the browser app and the sync API",
        description="Serve the app on HOST:PORT with the remote behind the server. "
                    "The remote defaults to the embedded DuckDB file .ducksync/remote.duckdb, "
                    "or md:$MOTHERDUCK_DATABASE when MOTHERDUCK_TOKEN is set. "
                    "See docs/configuration.md for every environment variable.")
    parser.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8000)")
    parser.add_argument("--remote", default=None, metavar="PATH|md:DB",
                        help="a DuckDB file path or md:DATABASE")
    parser.add_argument("--tables", default=None, metavar="T1,T2",
                        help="sync only these tables (DUCKSYNC_TABLES)")
    parser.add_argument("--rules", default=None, metavar="FILE",
                        help="sync rules: each user's rows of each table (DUCKSYNC_RULES; "
                             "docs/rules.md)")
    parser.add_argument("--app-root", default=None, metavar="DIR",
                        help="serve your app's pages from DIR at /, ducksync's assets "
                             "(/dist/, /sw.js) filling in (DUCKSYNC_APP_ROOT)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ducksync.server.app import check_bind, create_app
    from ducksync.server.observability import configure_logging
    from ducksync.server.settings import Settings

    tables = tuple(t.strip() for t in args.tables.split(",") if t.strip()) if args.tables else None
    settings = Settings.from_env(host=args.host, port=args.port, remote=args.remote,
                                 tables=tables, rules_file=Path(args.rules) if args.rules else None,
                                 app_root=Path(args.app_root) if args.app_root else None)
    check_bind(settings)
    _check_port_free(settings.host, settings.port)
    configure_logging(json_lines=settings.log_json)
    # Before "serving": a bad rules file or auth setup stops here, with why.
    app = create_app(settings)
    mode = "auth required" if settings.auth_configured else "open dev mode (loopback only)"
    logging.getLogger("ducksync.server").info(
        f"serving http://{settings.host}:{settings.port}/ (remote: {settings.kind_label}, {mode})")
    print(f"ducksync: serving http://{settings.host}:{settings.port}/ "
          f"(remote: {settings.kind_label})", flush=True)
    feed = app.state.ctx.feed

    class FeedClosingServer(uvicorn.Server):
        """uvicorn's server, ending the change feed's streams as soon as it is told to
        stop: uvicorn waits for open responses before it shuts down, and a feed stream
        never ends on its own (each stop with a client listening took the whole grace
        period)."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            feed.shutdown()
            super().handle_exit(sig, frame)

    FeedClosingServer(uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="info", access_log=False,
        log_config=None, timeout_keep_alive=15, timeout_graceful_shutdown=10)).run()
    return 0


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port another process listens on before saying "serving": uvicorn finds
    out only after the app started, logs it as a JSON line and exits 3."""
    import socket

    from ducksync.errors import DucksyncError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise DucksyncError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                hint="another process holds that port (a ducksync serve already running?): "
                     "stop it, or pass another --port") from None
