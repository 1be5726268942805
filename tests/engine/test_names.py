"""Every ``__ds_*`` name the code uses is declared in :mod:`ducksync.engine.names`."""

from __future__ import annotations

import re
from pathlib import Path

from ducksync.engine import names

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"__ds_[a-z0-9_]*[a-z0-9]")
SOURCES = [*ROOT.glob("py/ducksync/**/*.py"), *ROOT.glob("workers/*.py"),
           *ROOT.glob("workers/*.mjs")]


def test_every_internal_name_is_declared() -> None:
    used: dict[str, str] = {}
    for path in SOURCES:
        for found in NAME.findall(path.read_text(encoding="utf-8")):
            used.setdefault(found, str(path.relative_to(ROOT)))
    assert used, "no sources found"
    # names built with a suffix (__ds_rng0, __ds_x1) are declared by their prefix
    undeclared = {n: where for n, where in used.items()
                  if not names.is_internal(n) and not names.is_internal(n.rstrip("0123456789"))}
    assert not undeclared, f"declare these in ducksync/engine/names.py: {undeclared}"
