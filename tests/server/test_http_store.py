"""The HTTP store against the real server: every RemoteStore method over the wire.

The server delegates to the engine's native store, so these check the transport
(routing, Arrow framing, encodings, errors, ledger scoping), not the SQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pytest
from server_env import API_KEY, OTHER_KEY, PASSWORD, USER

from ducksync.engine.sqlbuild import hash_probe_sql
from ducksync.errors import DucksyncError, ProtocolError, SchemaMismatchError
from ducksync.stores.http import HttpRemoteStore

T = TypeVar("T")
COLUMNS = [{"name": "id", "type": "INTEGER", "nullable": False},
           {"name": "name", "type": "VARCHAR", "nullable": True}]


def run(url: str, work: Callable[[HttpRemoteStore], Awaitable[T]], **kwargs: Any) -> T:
    async def main() -> T:
        store = HttpRemoteStore(url=url, **kwargs)
        try:
            return await work(store)
        finally:
            await store.aclose()

    return asyncio.run(main())


def ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read(payload: bytes) -> pa.Table:
    return pa.ipc.open_stream(payload).read_all()


def upserts(ids: list[int], names: list[str], expect: list[int | None] | None = None) -> bytes:
    n = len(ids)
    return ipc(pa.table({
        "id": pa.array(ids, pa.int32()), "name": pa.array(names, pa.string()),
        "__ds_op": pa.array(["U"] * n), "__ds_expect": pa.array(expect or [None] * n, pa.uint64()),
        "__ds_lh": pa.array(range(n), pa.uint64())}))


def test_remote_store_round_trip(auth_server: Any) -> None:
    async def work(store: HttpRemoteStore) -> dict[str, Any]:
        await store.create_table("items", COLUMNS, ["id"])
        await store.create_table("items", COLUMNS, ["id"])  # idempotent
        out: dict[str, Any] = {"info": await store.describe_table("items")}
        out["first"] = await store.apply_batch("items", ["id"], "b-1", upserts(
            [1, 2, 3], ["a", "b", "'); DROP TABLE items; --"]))
        out["replay"] = await store.apply_batch("items", ["id"], "b-1", upserts([9], ["x"]))
        out["stored"] = await store.batch_result("b-1")
        out["missing"] = await store.batch_result("never-sent")
        out["checksums"] = read(await store.bucket_checksums("items", ["id"], 4, 1, []))
        out["hashes"] = read(await store.bucket_hashes("items", ["id"], 4, []))
        keys = ipc(pa.table({"id": pa.array([1, 3, 42], pa.int32())}))
        out["rows"] = [read(c) async for c in store.fetch_rows("items", ["id"], keys,
                                                                batch_rows=1)]
        out["after"] = [read(c) async for c in store.fetch_rows_after("items", "id", "1",
                                                                       batch_rows=10)]
        # a composite key's keyset page: the rows after the pair ('a', 0), in pair order
        out["pair_told"], out["page_told"] = {}, {}
        out["after_pair"] = [read(c) async for c in store.fetch_rows_after(
            "items", ["name", "id"], ["a", "0"], batch_rows=10, limit=5,
            told=out["pair_told"])]
        out["plain_page"] = [read(c) async for c in store.fetch_rows_after(
            "items", "id", None, batch_rows=10, limit=2, hashes=False, told=out["page_told"])]
        out["survey"] = await store.survey(["items"], None)
        await store.add_columns("items", [{"name": "note", "type": "VARCHAR",
                                           "nullable": True}])
        out["info2"] = await store.describe_table("items")
        await store.ack_batches(["b-1"])
        out["tables"] = [t["name"] for t in await store.list_tables()]
        return out

    out = run(auth_server.url, work, api_key=API_KEY, compress="zstd")
    assert out["info"]["primary_key"] == ["id"]
    assert out["first"]["replayed"] is False
    assert read(out["first"]["result"]).column("__ds_status").to_pylist() == ["ok"] * 3
    assert out["replay"]["replayed"] is True and out["replay"]["batch_id"] == "b-1"
    assert out["stored"] is not None and out["missing"] is None
    assert sum(out["checksums"].column("n").to_pylist()) == 3
    assert out["hashes"].num_rows == 3
    assert [t.num_rows for t in out["rows"]] == [1, 1]  # split back into batch_rows chunks
    names = sorted(n for t in out["rows"] for n in t.column("name").to_pylist())
    assert names == ["'); DROP TABLE items; --", "a"]  # a value is only ever a value
    assert sum(t.num_rows for t in out["after"]) == 2
    assert [(r["name"], r["id"]) for t in out["after_pair"] for r in t.to_pylist()] == [
        ("a", 1), ("b", 2)]  # ('a', 1) follows ('a', 0); the quote sorts before 'a'
    # a bootstrap page without the remote's hashes, and the server engine's hash probe
    assert [t.column_names for t in out["plain_page"]] == [["id", "name"]]
    assert [r["id"] for t in out["plain_page"] for r in t.to_pylist()] == [1, 2]
    # each page's end told with it (headers), as the bootstrap would read it
    assert out["page_told"] == {"rows": 2, "last": "2"}
    assert out["pair_told"] == {"rows": 2, "last": '["b", "2"]'}
    local_probe = duckdb.sql(hash_probe_sql()).fetchall()[0][0]
    assert out["survey"]["hash_probe"] == local_probe  # one duckdb in both processes
    assert [c["name"] for c in out["info2"]["columns"]] == ["id", "name", "note"]
    assert "items" in out["tables"]


def test_compare_and_swap_conflict_and_gzip(auth_server: Any) -> None:
    async def work(store: HttpRemoteStore) -> pa.Table:
        await store.create_table("notes", COLUMNS, ["id"])
        await store.apply_batch("notes", ["id"], "n-1", upserts([1], ["v1"]))
        # Expecting the row to be absent, but it exists: a conflict, nothing written.
        result = await store.apply_batch("notes", ["id"], "n-2", upserts([1], ["v2"]))
        return read(result["result"])

    result = run(auth_server.url, work, api_key=API_KEY, compress="gzip")
    assert result.column("__ds_status").to_pylist() == ["conflict"]


def test_ledger_is_scoped_per_principal(auth_server: Any) -> None:
    async def apply(store: HttpRemoteStore) -> Any:
        await store.create_table("items", COLUMNS, ["id"])
        return await store.apply_batch("items", ["id"], "shared-id", upserts([100], ["k1"]))

    async def lookup(store: HttpRemoteStore) -> Any:
        return await store.batch_result("shared-id")

    assert run(auth_server.url, apply, api_key=API_KEY)["replayed"] is False
    assert run(auth_server.url, lookup, api_key=OTHER_KEY) is None
    # A user session (login, bearer token) works the same way.
    assert run(auth_server.url, lookup, username=USER, password=PASSWORD) is None
    assert run(auth_server.url, lookup, api_key=API_KEY) is not None


def test_typed_errors_cross_the_wire(auth_server: Any) -> None:
    async def missing_table(store: HttpRemoteStore) -> Any:
        return await store.bucket_checksums("kinds", ["id"], 4, 1, [])

    async def bad_type(store: HttpRemoteStore) -> Any:
        return await store.create_table("kinds", [{"name": "x", "type": "INTEGER); DROP TABLE "
                                                   "items; --", "nullable": True}], ["x"])

    async def not_allowed(store: HttpRemoteStore) -> Any:
        return await store.describe_table("secret_table")

    async def bad_name(store: HttpRemoteStore) -> Any:
        return await store.describe_table('items"; DROP TABLE items; --')

    with pytest.raises(SchemaMismatchError):
        run(auth_server.url, missing_table, api_key=API_KEY)
    with pytest.raises(SchemaMismatchError, match="unsupported column type"):
        run(auth_server.url, bad_type, api_key=API_KEY)
    with pytest.raises(DucksyncError, match="allowlist"):
        run(auth_server.url, not_allowed, api_key=API_KEY)
    with pytest.raises(ProtocolError, match="invalid table name"):
        run(auth_server.url, bad_name, api_key=API_KEY)


def test_unreachable_server_is_remote_unavailable() -> None:
    from ducksync.errors import RemoteUnavailableError

    async def work(store: HttpRemoteStore) -> Any:
        return await store.list_tables()

    with pytest.raises(RemoteUnavailableError, match="cannot reach"):
        run("http://127.0.0.1:9", work, retries=0)


def test_https_to_a_plain_http_server_says_to_use_http(auth_server: Any) -> None:
    """Was "cannot reach https://…: ConnectError (check the server is running…)" while it
    ran: the TLS failure was left out."""
    from ducksync.errors import RemoteUnavailableError

    async def work(store: HttpRemoteStore) -> Any:
        return await store.list_tables()

    https = auth_server.url.replace("http://", "https://", 1)
    with pytest.raises(RemoteUnavailableError, match="TLS failed") as caught:
        run(https, work, retries=0, api_key=API_KEY)
    assert caught.value.hint and auth_server.url.rstrip("/") in caught.value.hint
