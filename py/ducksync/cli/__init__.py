"""The ``ducksync`` command: the engine and server outside the browser.

Each subcommand lives in its own module exposing ``register(subparsers)``; the
module is imported only when listed here, and heavy imports (duckdb, uvicorn)
happen inside the handlers so ``ducksync --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ducksync import __version__
from ducksync.errors import DucksyncError

# Modules under ducksync.cli that each register one or more subcommands.
COMMAND_MODULES: tuple[str, ...] = ("serve", "sync_commands", "backup", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ducksync", description="Offline-first DuckDB, kept in sync with MotherDuck.")
    parser.add_argument("--version", action="version", version=f"ducksync {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"ducksync.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; a :class:`DucksyncError` becomes a one-line message and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except DucksyncError as exc:
        print(f"ducksync: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
