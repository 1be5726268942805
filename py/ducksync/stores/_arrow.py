"""Arrow IPC helpers shared by the native stores (pyarrow lives only here and in native.py)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

from ducksync.engine import codec


def to_ipc(data: Any) -> bytes:
    """A pyarrow Table, RecordBatch or list of RecordBatches as one complete IPC stream.

    The stream is measured first (a writer that only counts bytes), then written once
    into a buffer of exactly that size: a growing buffer is reallocated and copied as
    it doubles and touches up to twice the stream in fresh memory, which a server's
    first pages pay as freshly zeroed huge pages of Arrow's pool (docs/benchmarks.md,
    session 14, native)."""
    batches = data if isinstance(data, list) else None
    schema = batches[0].schema if batches else data.schema

    def write(sink: Any) -> None:
        with pa.ipc.new_stream(sink, schema) as writer:
            if batches:
                for b in batches:
                    writer.write_batch(b)
            elif isinstance(data, pa.RecordBatch):
                writer.write_batch(data)
            else:
                writer.write_table(data)

    measured = pa.MockOutputStream()
    write(measured)
    buffer = pa.allocate_buffer(measured.size())
    write(pa.FixedSizeBufferWriter(buffer))
    return bytes(buffer.to_pybytes())


def from_ipc(payload: bytes) -> pa.Table:
    """Read one IPC stream (possibly wrapped by :mod:`ducksync.engine.codec`)."""
    return pa.ipc.open_stream(codec.decode(payload)).read_all()


def chunks(reader: Any, batch_bytes: int, batch_rows: int | None = None) -> Iterator[bytes]:
    """IPC chunks from a RecordBatchReader, splitting batches above ``batch_bytes``.

    With ``batch_rows``, consecutive reader batches (duckdb yields row groups of
    ~122k rows) are merged into one IPC stream while it stays within ``batch_rows``
    rows and ``batch_bytes`` bytes: fewer, larger chunks (each one remote
    transaction when pushed) without copying the batches.
    """
    sent = False
    pending: list[Any] = []
    rows = size = 0
    for batch in reader:
        if batch.num_rows == 0:
            continue
        parts = max(1, math.ceil(batch.nbytes / max(batch_bytes, 1)))
        step = math.ceil(batch.num_rows / parts)
        for piece in (p for start in range(0, batch.num_rows, step)
                      for p in _fit(batch.slice(start, step), batch_bytes)):
            if batch_rows is None:
                sent = True
                yield to_ipc(piece)
                continue
            if pending and (rows + piece.num_rows > batch_rows
                            or size + piece.nbytes > batch_bytes):
                sent = True
                yield to_ipc(pending)
                pending, rows, size = [], 0, 0
            pending.append(piece)
            rows, size = rows + piece.num_rows, size + piece.nbytes
    if pending:
        sent = True
        yield to_ipc(pending)
    if not sent:
        yield to_ipc(reader.schema.empty_table())


def _fit(piece: Any, batch_bytes: int) -> Iterator[Any]:
    """``piece`` halved until each part holds at most ``batch_bytes`` or a single row.

    An even split by rows leaves a large row with its neighbours; halving isolates
    it, so a row that fits under a server's body limit goes on its own.
    """
    if piece.nbytes <= batch_bytes or piece.num_rows <= 1:
        yield piece
        return
    half = piece.num_rows // 2
    yield from _fit(piece.slice(0, half), batch_bytes)
    yield from _fit(piece.slice(half), batch_bytes)
