"""``stores._arrow.to_ipc``: one IPC stream, written once into memory of its exact size."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from ducksync.stores._arrow import from_ipc, to_ipc


def _table(n: int) -> Any:
    return pa.table({"id": pa.array(range(n), pa.int64()),
                     "name": [f"customer {i % 997} {i}" for i in range(n)],
                     "amount": pa.array([i / 100 if i % 97 else None for i in range(n)])})


@contextlib.contextmanager
def counted_pool() -> Iterator[Any]:
    """Arrow's default memory pool, counted on its own inside the block."""
    before = pa.default_memory_pool()
    counted = pa.proxy_memory_pool(before)
    pa.set_memory_pool(counted)
    try:
        yield counted
    finally:
        pa.set_memory_pool(before)


@pytest.mark.parametrize("shape", ["table", "batch", "batches"])
def test_the_stream_takes_no_more_of_arrows_memory_than_its_size(shape: str) -> None:
    """A stream that grew as it was written held up to twice its size (a server's first
    pages pay that as fresh memory) and was copied at each doubling."""
    table = _table(200_000)
    data = {"table": table, "batch": table.combine_chunks().to_batches()[0],
            "batches": table.to_batches(max_chunksize=30_000)}[shape]
    with counted_pool() as pool:
        out = to_ipc(data)
    assert pool.max_memory() <= len(out) + 64
    assert from_ipc(out).equals(table)


def test_every_shape_gives_the_same_stream() -> None:
    table = _table(1_000).combine_chunks()
    assert to_ipc(table) == to_ipc(table.to_batches()[0]) == to_ipc(table.to_batches())


def test_an_empty_table_is_a_stream_of_its_schema() -> None:
    empty = _table(0)
    assert from_ipc(to_ipc(empty)).schema == empty.schema
    assert from_ipc(to_ipc(empty)).num_rows == 0


def test_the_servers_merged_answer_is_written_once_too() -> None:
    """``merge_chunks`` (a store's several chunks as one HTTP answer) writes through
    ``to_ipc``: the same bound, the same rows, a chunk without rows dropped."""
    from ducksync.server.arrowio import merge_chunks

    table = _table(200_000)
    chunks = [to_ipc(t) for t in (table.slice(0, 90_000), table.slice(0, 0),
                                  table.slice(90_000))]
    with counted_pool() as pool:
        out, rows = merge_chunks(chunks)
    assert pool.max_memory() <= len(out) + 64
    assert rows == 200_000 and from_ipc(out).equals(table)
    empty, none = merge_chunks([to_ipc(table.slice(0, 0)), to_ipc(table.slice(0, 0))])
    assert none == 0 and from_ipc(empty).schema == table.schema
