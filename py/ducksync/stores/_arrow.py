"""Arrow IPC helpers shared by the native stores (pyarrow lives only here and in native.py)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

from ducksync.engine import codec


def to_ipc(data: Any) -> bytes:
    """A pyarrow Table or RecordBatch as one complete IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        if isinstance(data, pa.RecordBatch):
            writer.write_batch(data)
        else:
            writer.write_table(data)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(payload: bytes) -> pa.Table:
    """Read one IPC stream (possibly wrapped by :mod:`ducksync.engine.codec`)."""
    return pa.ipc.open_stream(codec.decode(payload)).read_all()


def chunks(reader: Any, batch_bytes: int) -> Iterator[bytes]:
    """IPC chunks from a RecordBatchReader, splitting batches above ``batch_bytes``."""
    sent = False
    for batch in reader:
        if batch.num_rows == 0:
            continue
        parts = max(1, math.ceil(batch.nbytes / max(batch_bytes, 1)))
        step = math.ceil(batch.num_rows / parts)
        for start in range(0, batch.num_rows, step):
            sent = True
            yield to_ipc(batch.slice(start, step))
    if not sent:
        yield to_ipc(reader.schema.empty_table())
