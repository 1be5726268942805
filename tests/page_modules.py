"""The page's Python modules (``web/ui_*.py``, MicroPython under PyScript) imported in
CPython for their pure helpers, with a stand-in for PyScript's ``pyscript`` module (the
helpers tested never touch it)."""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

WEB = Path(__file__).resolve().parents[1] / "web"


@contextlib.contextmanager
def page_module(name: str) -> Iterator[Any]:
    """``web/<name>.py`` freshly imported (with ``ui_common``, which the others import)
    against the stand-in; ``sys.modules`` and ``sys.path`` are as they were afterwards."""
    stub = types.ModuleType("pyscript")
    stub.window = stub.document = None  # type: ignore[attr-defined]
    ffi = types.ModuleType("pyscript.ffi")
    ffi.create_proxy = lambda fn: fn  # type: ignore[attr-defined]
    names = ("pyscript", "pyscript.ffi", "ui_common", name)
    saved = {n: sys.modules.get(n) for n in names}
    sys.modules.update({"pyscript": stub, "pyscript.ffi": ffi})
    sys.modules.pop("ui_common", None)
    sys.modules.pop(name, None)
    sys.path.insert(0, str(WEB))
    try:
        yield __import__(name)
    finally:
        sys.path.remove(str(WEB))
        for n, module in saved.items():
            if module is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = module


class HeldPromise:
    """A JS promise as the page's modules use it (``then(ok, failed)``): it keeps both
    callbacks, and the test settles it when and in which order it chooses."""

    def __init__(self) -> None:
        self.ok: Any = None
        self.failed: Any = None

    def then(self, ok: Any, failed: Any) -> None:
        self.ok, self.failed = ok, failed
