"""Two writers on one remote database, and a hook between a statement and COMMIT.

DuckDB (and MotherDuck, which follows its model) runs transactions optimistically:
a conflict surfaces at a statement or only at ``COMMIT``. To test what a loser sees,
deterministically and without sleeps, :class:`Pausing` wraps one writer's duckdb
connection and runs a hook right before a chosen statement (its next ``COMMIT``):
the hook lets the *other* writer do its whole write, so the first one commits
second. Both connector kinds of the one remote store run on it: the native one
(``NativeRemoteStore``) and the browser's kind (``SqlRemoteStore`` over a connector
that binds scalars only).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
from engine_helpers import ScalarConnector

from ducksync.stores.native import NativeRemoteStore
from ducksync.stores.sql_remote import SqlRemoteStore

KINDS = ["native", "sql"]


class Pausing:
    """A duckdb connection that runs ``hook()`` once, right before the next statement
    ``when(sql)`` accepts (by default: its next ``COMMIT``). Everything else is the
    connection's own."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.hook: Callable[[], None] | None = None
        self.when: Callable[[str], bool] = lambda sql: sql.strip().upper() == "COMMIT"
        self.seen: list[str] = []

    def pause(self, hook: Callable[[], None],
              when: Callable[[str], bool] | None = None) -> None:
        self.hook = hook
        if when is not None:
            self.when = when

    def execute(self, sql: str, *args: Any) -> Any:
        self.seen.append(sql)
        if self.hook is not None and self.when(sql):
            hook, self.hook = self.hook, None
            hook()
        return self.con.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)


def writer(kind: str, path: str, **settings: Any) -> tuple[Any, Pausing]:
    """A remote store of ``kind`` on its own connection to ``path`` (threaded, so a
    hook runs on the store's thread and may drive another store to completion)."""
    con = duckdb.connect(path)
    con.execute("SET arrow_lossless_conversion = true")
    paused = Pausing(con)
    store: Any
    if kind == "native":
        store = NativeRemoteStore(spec=path, con=paused)
    else:
        store = SqlRemoteStore(connector=ScalarConnector(spec=path, con=paused))
    for name, value in settings.items():
        setattr(store, name, value)
    return store, paused


def batch(ids: list[int], v: str, expect: Any = None) -> bytes:
    """A batch of upserts of ``(id, v)``, each expecting ``expect`` (None: absent)."""
    from ducksync.stores._arrow import to_ipc

    n = len(ids)
    return to_ipc(pa.table({
        "id": pa.array(ids, pa.int64()), "v": pa.array([f"{v}{i}" for i in ids]),
        "__ds_op": pa.array(["U"] * n), "__ds_expect": pa.array([expect] * n, pa.uint64()),
        "__ds_lh": pa.array([i * 7 + 1 for i in ids], pa.uint64())}))


def statuses(result: bytes) -> dict[int, str]:
    from ducksync.stores._arrow import from_ipc

    table = from_ipc(result)
    return dict(zip(table.column("id").to_pylist(), table.column("__ds_status").to_pylist(),
                    strict=True))


def now(coro: Any) -> Any:
    """Run a store coroutine to completion from a hook (a worker thread: its own loop)."""
    return asyncio.run(coro)
