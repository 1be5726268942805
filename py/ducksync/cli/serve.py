"""``ducksync serve``: the app, cross-origin isolated, with the remote behind it."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="serve the browser app and the sync API",
        description="Serve the app on HOST:PORT with the remote behind the server. "
                    "The remote defaults to the embedded DuckDB file .ducksync/remote.duckdb, "
                    "or md:$MOTHERDUCK_DATABASE when MOTHERDUCK_TOKEN is set.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--remote", default=None, metavar="PATH|md:DB",
                        help="a DuckDB file path or md:DATABASE")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ducksync.server.app import create_app
    from ducksync.server.settings import Settings

    settings = Settings.from_env(host=args.host, port=args.port, remote=args.remote)
    print(f"ducksync: serving http://{settings.host}:{settings.port}/ "
          f"(remote: {settings.remote})", flush=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", access_log=False)
    return 0
