"""Optional compression of Arrow IPC payloads on the wire.

A compressed payload is ``b"DSZ" + codec byte + data``; anything else is raw IPC
(an IPC stream starts with ``0xFFFFFFFF``), so receivers accept both. zstd comes
from the stdlib (``compression.zstd``, Python 3.14, so Pyodide 314 too) or the
``zstandard`` package; gzip (stdlib) is the fallback everywhere. Whether it pays
depends on link speed: see docs/engine.md (native measurement).
"""

from __future__ import annotations

import gzip
import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["ZSTD_LEVEL", "available", "compress", "decode", "encode"]

_MAGIC = b"DSZ"
# Every zstd on the wire (payloads here, HTTP bodies both ways). Level 1: the compressor
# runs on the critical path of a bulk pull (each page is compressed by the server as the
# client saves the last); level 3 made the pull measurably slower for few bytes saved
# (docs/benchmarks.md, issue 17).
ZSTD_LEVEL = 1


def _zstd() -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]] | None:
    for name in ("compression.zstd", "zstandard"):
        try:
            mod: Any = importlib.import_module(name)
        except ImportError:
            continue
        if name == "zstandard":
            return (lambda b, m=mod: bytes(m.ZstdCompressor(level=ZSTD_LEVEL).compress(b)),
                    lambda b, m=mod: bytes(m.ZstdDecompressor().decompressobj().decompress(b)))
        return (lambda b, m=mod: bytes(m.compress(b, level=ZSTD_LEVEL)),
                lambda b, m=mod: bytes(m.decompress(b)))
    return None


def available() -> list[str]:
    """Codecs usable in this interpreter, best first."""
    return (["zstd"] if _zstd() else []) + ["gzip"]


def compress(data: bytes, codec: str) -> bytes:
    """``data`` compressed with ``codec`` (``"zstd"`` or ``"gzip"``), bare: an HTTP body's
    ``Content-Encoding`` or the inside of :func:`encode`'s frame. The one place the
    compressors and their levels are chosen."""
    if codec == "zstd":
        z = _zstd()
        if z is None:
            raise ValueError("zstd is not available in this interpreter")
        return z[0](data)
    if codec == "gzip":
        return gzip.compress(data, compresslevel=1)
    raise ValueError(f"unknown codec {codec!r}")


def encode(data: bytes, codec: str | None) -> bytes:
    """Compress ``data`` with ``codec`` (``"zstd"``, ``"gzip"`` or ``None`` = raw)."""
    if codec is None:
        return data
    if codec == "zstd" and _zstd() is None:
        codec = "gzip"
    return _MAGIC + {"zstd": b"z", "gzip": b"g"}.get(codec, b"") + compress(data, codec)


def decode(data: bytes) -> bytes:
    """Undo :func:`encode`; raw IPC passes through untouched."""
    if not data.startswith(_MAGIC):
        return data
    kind, body = data[3:4], data[4:]
    if kind == b"g":
        return gzip.decompress(body)
    z = _zstd()
    if kind == b"z" and z is not None:
        return z[1](body)
    raise ValueError("payload compressed with a codec this interpreter lacks")
