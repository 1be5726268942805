"""JS values as plain Python at the worker edge (JS ``null`` arrives as Pyodide's ``JsNull``)."""

from __future__ import annotations

from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsProxy  # type: ignore[import-not-found]


def clean(value: Any) -> Any:
    """JS ``null`` (Pyodide's ``JsNull``) as None, recursively through dicts and lists."""
    if type(value).__name__ == "JsNull":
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def py(value: Any) -> Any:
    """A JS value as plain Python (typed arrays stay JS: they are bulk bytes)."""
    if isinstance(value, JsProxy) and not js.ArrayBuffer.isView(value):
        return clean(value.to_py())
    return clean(value)
