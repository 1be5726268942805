"""HTTP ``Content-Encoding`` for Arrow bodies: gzip or zstd, bounded both ways.

Independent of the engine's in-band codec (:mod:`ducksync.engine.codec`, a
``DSZ`` prefix the stores understand): HTTP encoding is what browsers and proxies
speak natively. Decompression is streamed with a hard output cap, so a small
compressed body cannot expand into gigabytes (a "zip bomb") inside the server.
"""

from __future__ import annotations

import zlib

import zstandard

from ducksync.engine.codec import compress
from ducksync.errors import ProtocolError
from ducksync.server.errors import PayloadTooLargeError, UnsupportedMediaError

ENCODINGS = ("zstd", "gzip")
MIN_COMPRESS_BYTES = 1024


def _bomb(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"decoded request body exceeds {limit} bytes",
                                hint="send smaller batches or raise DUCKSYNC_MAX_BODY_BYTES")


def decode_body(body: bytes, encoding: str | None, *, max_bytes: int) -> bytes:
    """Undo ``Content-Encoding`` (identity, gzip, zstd) with output at most ``max_bytes``."""
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        return body
    try:
        if name == "gzip":
            inflater = zlib.decompressobj(wbits=31)
            out = inflater.decompress(body, max_bytes + 1)
            if len(out) > max_bytes or inflater.unconsumed_tail:
                raise _bomb(max_bytes)
            if not inflater.eof:
                raise ProtocolError("truncated gzip body", hint="resend the whole request")
            return out
        if name == "zstd":
            reader = zstandard.ZstdDecompressor().stream_reader(body)
            out = reader.read(max_bytes + 1)
            if len(out) > max_bytes:
                raise _bomb(max_bytes)
            return bytes(out)
    except (zlib.error, zstandard.ZstdError, ValueError) as exc:
        raise ProtocolError(f"cannot decode {name} body: {exc}",
                            hint="check the Content-Encoding header matches the body") from exc
    raise UnsupportedMediaError(f"unsupported Content-Encoding {encoding!r}",
                                hint="use gzip, zstd or none")


def choose_encoding(accept_encoding: str | None, *, enabled: bool) -> str | None:
    """The best encoding the client accepts (zstd before gzip), or None."""
    if not enabled or not accept_encoding:
        return None
    offered = {part.split(";")[0].strip().lower() for part in accept_encoding.split(",")}
    return next((name for name in ENCODINGS if name in offered), None)


def encode_body(body: bytes, encoding: str | None) -> bytes:
    return compress(body, encoding) if encoding in ENCODINGS else body
