"""The ``ducksync`` command: the engine and server outside the browser.

Each subcommand lives in its own module exposing ``register(subparsers)``; the
module is imported only when listed here, and heavy imports (duckdb, uvicorn)
happen inside the handlers so ``ducksync --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from ducksync import __version__
from ducksync.errors import DucksyncError

# Modules under ducksync.cli that each register one or more subcommands.
COMMAND_MODULES: tuple[str, ...] = ("serve", "sync_commands", "backup", "bench")


def open_existing_local(spec: str, *, error: type[DucksyncError] = DucksyncError) -> Any:
    """The local store at ``spec``, which must exist: opening a DuckDB path creates the
    file, so a mistyped path would read as an empty database (and leave one behind)."""
    from ducksync.stores import open_local

    if not spec.startswith("md:") and spec != ":memory:" and not os.path.exists(spec):
        raise error(f"no database at {spec}", hint="pass the path of your local DuckDB file")
    return open_local(spec)


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
