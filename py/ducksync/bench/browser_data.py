"""Placeholder: the browser data path (push, seed, reference, incremental, memory)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ducksync.bench.results import Results


def run(pw: Any, tmp: Path, server: Any, res: Results, *, opts: Any,
        log: Callable[[str], None]) -> None:
    res.notes.append("browser data path: not measured yet (ducksync.sync not in the browser)")
