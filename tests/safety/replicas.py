"""Replicas writing and syncing at the same time, checked against a model of what
each writer saw.

Every write puts a value nobody else writes (``"<key>:<replica>:<seq>"``) and the
model records, with it, the value the writer saw in its own copy when it wrote
(``parent``; None for an insert of a new key). Keys are never reused after a delete.
After the run and a final round of syncs:

* **converged**: every replica's table equals the remote's, row for row;
* **no value nobody wrote**: each row's ``v`` is a value written to that key (or the
  initial one), with the ``n`` and ``ts`` written with it;
* **no lost update**: a write survives, or the surviving value descends from it
  (someone saw it and wrote over it), or a delete that descends from it removed the
  row, or a conflict on that key was reported (``ducksync.conflict_log`` or a manual
  conflict) — the only way the engine may drop a write. A delete followed by a
  surviving row likewise needs a reported conflict.

Replicas are threads over native local files; the remote is a real server (its
writes are serialised; compare-and-swap decides between writers).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ducksync.engine.conflicts import list_conflicts, resolve
from ducksync.engine.sync import SyncOptions, SyncReport, sync
from ducksync.stores.http import HttpRemoteStore
from ducksync.stores.native import NativeLocalStore

POLICIES = ("remote-wins", "local-wins", "newest:ts", "manual")
INITIAL = "init"


@dataclass(frozen=True)
class Write:
    key: int
    value: str | None  # None: deleted
    parent: str | None  # the value the writer saw; None: the key was new
    n: int = 0
    ts: int = 0


@dataclass
class Model:
    writes: dict[int, list[Write]] = field(default_factory=dict)
    by_value: dict[str, Write] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, w: Write) -> None:
        with self.lock:
            self.writes.setdefault(w.key, []).append(w)
            if w.value is not None:
                self.by_value[w.value] = w

    def tick(self) -> int:
        with self.lock:
            return next(self.clock)


@dataclass
class Result:
    policy: str
    syncs: int = 0
    writes: int = 0
    conflicts_reported: int = 0
    errors: list[str] = field(default_factory=list)
    diverged: int = 0  # rows differing between a replica and the remote
    unknown_values: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not (self.errors or self.diverged or self.unknown_values or self.lost)


def _sync(local: NativeLocalStore, url: str, opts: SyncOptions) -> SyncReport:
    async def run() -> SyncReport:
        remote = HttpRemoteStore(url=url, retries=2)
        try:
            return await sync(local, remote, opts, "sync")
        finally:
            await remote.aclose()
    return asyncio.run(run())


class Replica:
    def __init__(self, index: int, folder: Path, url: str, table: str, policy: str,
                 model: Model, seed: int) -> None:
        self.index, self.url, self.table, self.model = index, url, table, model
        self.local = NativeLocalStore(spec=str(folder / f"replica{index}.duckdb"))
        self.opts = SyncOptions(tables=[table], policy=policy)
        self.rng = random.Random(seed * 1000 + index)
        self.seq = 0
        self.reports: list[SyncReport] = []

    def write(self) -> None:
        con, t = self.local.con, self.table
        exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
                             [t]).fetchall()[0][0]
        rows = con.execute(f"SELECT id, v FROM {t}").fetchall() if exists else []
        self.seq += 1
        op = self.rng.random()
        if not rows or op < 0.3:
            if not exists:
                return
            key = (self.index + 1) * 10_000_000 + self.seq
            value, parent = f"{key}:{self.index}:{self.seq}", None
        else:
            key, parent = self.rng.choice(rows)
            value = None if op > 0.85 else f"{key}:{self.index}:{self.seq}"
        n, ts = self.seq * 100 + self.index, self.model.tick()
        if value is None:
            con.execute(f"DELETE FROM {t} WHERE id = ?", [key])
        elif parent is None:
            con.execute(f"INSERT INTO {t} VALUES (?, ?, ?, ?)", [key, value, n, ts])
        else:
            con.execute(f"UPDATE {t} SET v = ?, n = ?, ts = ? WHERE id = ?",
                        [value, n, ts, key])
        self.model.add(Write(key, value, parent, n, ts))

    def sync(self) -> SyncReport:
        rep = _sync(self.local, self.url, self.opts)
        self.reports.append(rep)
        return rep

    def loop(self, rounds: int, start: threading.Barrier) -> None:
        start.wait()
        for _ in range(rounds):
            for _ in range(self.rng.randint(1, 3)):
                self.write()
            self.sync()


def _conflict_keys(replicas: list[Replica], table: str) -> set[int]:
    keys: set[int] = set()
    for r in replicas:
        for (text,) in r.local.con.execute(
                "SELECT key_text FROM ducksync.conflict_log WHERE table_name = ? UNION ALL "
                "SELECT key_text FROM ducksync.conflicts WHERE table_name = ?",
                [table, table]).fetchall():
            keys.add(_key(text))
    return keys


def _key(text: str) -> int:
    """A conflict's key label: ``1`` or a JSON array ``[1]`` (both spellings accepted)."""
    value: Any = json.loads(text) if text.startswith("[") else text
    return int(value[0] if isinstance(value, list) else value)


def _ancestors(model: Model, value: str | None) -> set[str]:
    seen: set[str] = set()
    while value is not None and value not in seen:
        seen.add(value)
        w = model.by_value.get(value)
        value = w.parent if w is not None else None
    return seen


def run(folder: Path, url: str, policy: str, *, replicas: int, rounds: int,
        initial_rows: int, seed: int) -> Result:
    """``replicas`` threads each do ``rounds`` of (1-3 random writes, sync) at once."""
    t0 = time.perf_counter()
    table = "t_" + policy.replace("-", "_").replace(":", "_")
    model, out = Model(), Result(policy)
    reps = [Replica(i, folder, url, table, policy, model, seed) for i in range(replicas)]
    con = reps[0].local.con
    con.execute(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, v VARCHAR, n BIGINT, ts BIGINT)")
    con.execute(f"INSERT INTO {table} SELECT i, i || ':{INITIAL}', 0, 0 FROM range(?) r(i)",
                [initial_rows])
    for i in range(initial_rows):
        model.by_value[f"{i}:{INITIAL}"] = Write(i, f"{i}:{INITIAL}", None)
        model.writes[i] = [model.by_value[f"{i}:{INITIAL}"]]
    for r in reps:  # everyone starts from the same table
        r.sync()
    start = threading.Barrier(replicas)
    threads = [threading.Thread(target=r.loop, args=(rounds, start)) for r in reps]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # Settle: every replica syncs until nothing moves; manual conflicts are decided
    # (take the remote's) as a person would, then synced too.
    for _ in range(3):
        for r in reps:
            r.sync()
            for c in asyncio.run(list_conflicts(r.local, table)):
                asyncio.run(resolve(r.local, table, c["key"], "remote"))
    for _ in range(2):
        for r in reps:
            r.sync()
    out.syncs = sum(len(r.reports) for r in reps)
    out.writes = sum(len(ws) for ws in model.writes.values()) - initial_rows
    for r in reps:
        for rep in r.reports:
            for t in rep.tables:
                if t.error:
                    out.errors.append(f"replica {r.index}: {t.error}")
    conflicted = _conflict_keys(reps, table)
    out.conflicts_reported = len(conflicted)
    check(out, model, [_table(r, table) for r in reps], conflicted)
    for r in reps:
        r.local.close()
    out.seconds = time.perf_counter() - t0
    return out


Row = tuple[Any, ...]  # (id, v, n, ts)


def _table(r: Replica, table: str) -> dict[int, Row]:
    return {row[0]: row for row in r.local.con.execute(
        f"SELECT id, v, n, ts FROM {table}").fetchall()}


def check(out: Result, model: Model, tables: list[dict[int, Row]], conflicted: set[int]) -> None:
    """Fill ``out``'s findings from the replicas' final ``tables`` (see the module doc)."""
    final = tables[0]
    for mine in tables[1:]:
        out.diverged += len(set(mine.items()) ^ set(final.items()))
    for key, v, n, ts in final.values():
        w = model.by_value.get(v)
        if w is None or w.key != key or (w.value != f"{key}:{INITIAL}" and (w.n, w.ts) != (n, ts)):
            out.unknown_values.append(f"{key}: {v!r} n={n} ts={ts}")
    for key, ws in model.writes.items():
        if key in conflicted:
            continue
        row = final.get(key)
        if row is not None:
            kept = _ancestors(model, row[1])
            out.lost += [f"{key}: {w.value!r} (saw {w.parent!r}) lost to {row[1]!r}"
                         for w in ws if w.value is not None and w.value not in kept]
            out.lost += [f"{key}: delete (saw {w.parent!r}) undone by {row[1]!r}"
                         for w in ws if w.value is None]
        else:
            deleted: set[str] = set()
            for w in ws:
                if w.value is None:
                    deleted |= _ancestors(model, w.parent)
            out.lost += [f"{key}: {w.value!r} (saw {w.parent!r}) lost, row deleted"
                         for w in ws if w.value is not None and w.value not in deleted]


def remote_rows(remote_file: Path, table: str) -> set[tuple[Any, ...]]:
    with duckdb.connect(str(remote_file), read_only=True) as con:
        return set(con.execute(f"SELECT id, v, n, ts FROM {table}").fetchall())


def replica_rows(folder: Path, index: int, table: str) -> set[tuple[Any, ...]]:
    with duckdb.connect(str(folder / f"replica{index}.duckdb"), read_only=True) as con:
        return set(con.execute(f"SELECT id, v, n, ts FROM {table}").fetchall())
