"""Progress reports for long exports and imports, as plain data.

Why a TypedDict: the browser worker forwards each report to the page as an
event, so it must be JSON-able; the CLI prints the same dicts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypedDict

__all__ = ["Progress", "ProgressFn", "noop"]


class Progress(TypedDict):
    """Where an export or import stands.

    ``table`` is the table being worked on (``schema.name``; ``""`` before the
    first). ``rows_total`` is ``-1`` when unknown (a script without a manifest).
    """

    phase: Literal["export", "import"]
    table: str
    tables_done: int
    tables_total: int
    rows_done: int
    rows_total: int


ProgressFn = Callable[[Progress], None]


def noop(_: Progress) -> None:
    """The default callback: ignore progress."""
