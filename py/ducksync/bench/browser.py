"""Placeholder (filled in next)."""
from __future__ import annotations

from typing import Any


def run(tmp: Any, res: Any, *, opts: Any, log: Any) -> None:
    pass
