"""The server's read cache: an answer is served only while no write intervened."""

from __future__ import annotations

import asyncio

import duckdb
import pyarrow as pa

from ducksync.engine import sqlbuild as sb
from ducksync.server.read_cache import ReadCache, keep_all, shift_top
from ducksync.stores._arrow import from_ipc
from ducksync.stores.native import NativeRemoteStore


def test_answer_served_until_a_write() -> None:
    cache = ReadCache(enabled=True)
    cache.put("k", cache.generation, b"answer")
    assert cache.get("k") == b"answer"
    held = cache.begin_write()
    assert held == {"k": b"answer"}
    assert cache.get("k") is None  # not trusted while the write runs
    cache.end_write({})
    assert cache.get("k") is None


def test_read_that_raced_a_write_is_not_kept() -> None:
    cache = ReadCache(enabled=True)
    before = cache.generation  # a read starts...
    cache.begin_write()        # ...a write starts and commits meanwhile
    cache.put("k", before, b"maybe stale")
    assert cache.get("k") is None
    during = cache.generation  # a read inside the write may see either state
    cache.put("k", during, b"maybe stale")
    cache.end_write({})
    assert cache.get("k") is None


def test_write_carries_what_it_vouches_for() -> None:
    cache = ReadCache(enabled=True)
    cache.put("a", cache.generation, b"1")
    cache.put("b", cache.generation, b"2")
    held = cache.begin_write()
    cache.end_write({"a": held["a"]})
    assert (cache.get("a"), cache.get("b")) == (b"1", None)
    cache.end_write(keep_all(cache.begin_write()))
    assert cache.get("a") == b"1"


def test_disabled_cache_and_byte_bound() -> None:
    off = ReadCache(enabled=False)
    off.put("k", off.generation, b"x")
    assert off.get("k") is None
    small = ReadCache(enabled=True, max_bytes=10)
    small.put("big", small.generation, b"x" * 11)
    assert small.get("big") is None
    small.put("a", small.generation, b"x" * 6)
    small.put("b", small.generation, b"x" * 6)  # over the bound: the older answers go
    assert (small.get("a"), small.get("b")) == (None, b"x" * 6)


def _top(answer: bytes) -> tuple[int, int]:
    t = from_ipc(answer)
    return (int(t["checksum"][0].as_py()), int(t["n"][0].as_py())) if t.num_rows else (0, 0)


def test_shift_top_equals_a_fresh_checksum(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The carried whole-table answer after inserts is what the remote would compute."""
    store = NativeRemoteStore(spec=str(tmp_path / "r.duckdb"))
    con = duckdb.connect()
    cols = [{"name": "id", "type": "BIGINT", "nullable": False},
            {"name": "name", "type": "VARCHAR", "nullable": True}]
    key_hash = sb.key_hash_sql(["id"])
    row_hash = sb.row_hash_sql({"id": "BIGINT", "name": "VARCHAR"})

    def delta(lo: int, hi: int) -> int:
        """The client's prediction for rows lo..hi (what a verified batch carries)."""
        return int(con.execute(
            f"SELECT {sb.checksum_sql(key_hash, row_hash)} FROM (SELECT i::BIGINT AS id, "
            f"CASE WHEN i % 7 = 0 THEN NULL ELSE 'n' || i END AS name FROM range({lo}, {hi}) "
            "t(i))").fetchall()[0][0])

    async def main() -> None:
        await store.create_table("t", cols, ["id"])
        answer = await store.bucket_checksums("t", ["id"], 1, 1, [])
        for lo, hi in [(0, 1000), (1000, 1500), (1500, 4000)]:
            store.con.execute(f"INSERT INTO t SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE "
                              f"'n' || i END FROM range({lo}, {hi}) t(i)")
            shifted = shift_top(answer, delta(lo, hi), hi - lo)
            assert shifted is not None
            answer = shifted
            fresh = await store.bucket_checksums("t", ["id"], 1, 1, [])
            assert _top(answer) == _top(fresh)
            assert from_ipc(answer).schema == from_ipc(fresh).schema

    try:
        asyncio.run(main())
    finally:
        store.close()


def test_shift_top_refuses_what_it_cannot_read() -> None:
    from ducksync.stores._arrow import to_ipc

    two_rows = to_ipc(pa.table({"bucket": pa.array([0, 1], pa.uint32()),
                                "checksum": pa.array([1, 2], pa.uint64()),
                                "n": pa.array([1, 1], pa.uint32())}))
    assert shift_top(two_rows, 5, 1) is None
