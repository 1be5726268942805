"""Arrow IPC at the HTTP edge: one stream per response, counted and validated.

A store yields several IPC *chunks* (each a complete stream); over HTTP the
server sends one stream with all their batches, which any Arrow reader (pyarrow,
apache-arrow in the browser) reads directly. The HTTP client store splits it back
into chunks. Request bodies are checked to *be* IPC before a store sees them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

from ducksync.engine import codec
from ducksync.errors import ProtocolError
from ducksync.stores._arrow import to_ipc

ARROW_STREAM = "application/vnd.apache.arrow.stream"


def merge_chunks(chunks: Iterable[bytes]) -> tuple[bytes, int]:
    """Concatenate IPC chunks (same schema) into one stream; returns (bytes, rows).
    A single chunk is returned as it is (a bootstrap page: no re-encode of ~26 MB)."""
    chunks = list(chunks)
    if len(chunks) == 1:
        single = codec.decode(chunks[0])
        return single, sum(b.num_rows for b in pa.ipc.open_stream(single))
    schema = None
    batches: list[Any] = []  # views of the chunks' buffers: written once, by to_ipc
    for chunk in chunks:
        reader = pa.ipc.open_stream(codec.decode(chunk))
        schema = reader.schema if schema is None else schema
        batches.extend(batch for batch in reader if batch.num_rows)
    if schema is None:
        raise ProtocolError("the remote returned no Arrow schema")
    return (to_ipc(batches) if batches else to_ipc(schema.empty_table()),
            sum(b.num_rows for b in batches))


def checked_rows(payload: bytes) -> int:
    """Rows in an IPC stream (or codec-wrapped one); anything else is a 400."""
    try:
        return int(pa.ipc.open_stream(codec.decode(payload)).read_all().num_rows)
    except (pa.ArrowInvalid, ValueError, OSError) as exc:
        raise ProtocolError(f"body is not an Arrow IPC stream: {str(exc)[:200]}",
                            hint=f"send {ARROW_STREAM} (one complete stream)") from exc


def batch_keys(payload: bytes, key: list[str], limit: int) -> list[str] | None:
    """The key values of a pushed batch as text, for the change feed's hint
    (engine/feed_pull.py); None when they cannot be told exactly: a key of several
    columns, of a type other than an integer or a string, or more than ``limit`` rows."""
    try:
        table = pa.ipc.open_stream(codec.decode(payload)).read_all()
        if len(key) != 1 or table.num_rows > limit or key[0] not in table.column_names:
            return None
        column = table.column(key[0])
        if not (pa.types.is_integer(column.type) or pa.types.is_string(column.type)
                or pa.types.is_large_string(column.type)):
            return None
        return [str(v) for v in column.to_pylist() if v is not None]
    except (pa.ArrowInvalid, ValueError, OSError):
        return None
