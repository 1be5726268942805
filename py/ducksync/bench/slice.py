"""Cost proportional to the slice: one owner's syncs of a big shared table under sync rules.

A remote table of ``rows`` rows shared by ``OWNERS`` owners (``owner = $user``), and the
same owner's rows alone in a table of their own (``filter = "true"``), behind one real
server with sync rules and a signed-in user. For each: the owner's first pull (into an
empty local file), a no-op sync, and a 1-row change pushed; the targets say the shared
table costs at most 2x its own-table twin. What the slice costs beyond the twin is the
filter's scan of the shared table's ``owner`` column (the rows are spread over every
row group: no zone map helps) in each read that is not answered from the server's cache.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from ducksync.bench.repo import serverutil
from ducksync.bench.results import Results, median

SUITE = "slice"
OWNERS = 1000
USER, PASSWORD = "u7", "slice-bench-password"
RULES = """
[tables.shared]
filter = "owner = $user"
[tables.own]
filter = "true"
"""
Log = Callable[[str], None]


def _seed(remote: Path, rows: int) -> None:
    import duckdb

    ddl = ("(id BIGINT PRIMARY KEY, owner VARCHAR, title VARCHAR, n DOUBLE, "
           "due TIMESTAMP)")
    with duckdb.connect(str(remote)) as con:
        con.execute(f"CREATE TABLE shared {ddl}")
        con.execute(f"INSERT INTO shared SELECT i, 'u' || (i % {OWNERS}), 'todo ' || i, "
                    "i / 7, TIMESTAMP '2026-01-01' + i * INTERVAL 1 SECOND FROM range(?) t(i)",
                    [rows])
        con.execute(f"CREATE TABLE own {ddl}")
        con.execute("INSERT INTO own SELECT * FROM shared WHERE owner = ?", [USER])
        con.execute("CHECKPOINT")


class _Device:
    """One signed-in client of one table: a local file and a store that logs in once."""

    def __init__(self, url: str, table: str, local: Path) -> None:
        from ducksync.stores.http import HttpRemoteStore

        self.table, self.local = table, local
        self.remote = HttpRemoteStore(url=url, username=USER, password=PASSWORD)
        asyncio.run(self.remote.login())  # not timed: a session outlives many syncs

    def sync(self) -> tuple[float, int]:
        """(ms, bytes received) of one sync of the table; it must converge."""
        from ducksync.engine.sync import SyncOptions, sync
        from ducksync.stores.native import NativeLocalStore

        async def main() -> tuple[float, int]:
            local = NativeLocalStore(spec=str(self.local))
            try:
                t0 = time.perf_counter()
                report = await sync(local, self.remote, SyncOptions(tables=[self.table]),
                                    "sync")
                ms = (time.perf_counter() - t0) * 1000
            finally:
                local.close()
                await self.remote.aclose()
            if not report.converged:
                raise RuntimeError(f"slice bench: {self.table} did not converge: "
                                   f"{report.to_dict()}")
            return ms, report.tables[0].bytes_received
        return asyncio.run(main())

    def change_one_row(self, n: int) -> None:
        import duckdb

        with duckdb.connect(str(self.local)) as con:
            con.execute(f"UPDATE {self.table} SET title = title || ?, n = n + 1 WHERE id = "
                        f"(SELECT min(id) FROM {self.table})", [f" +{n}"])


def _measure(tmp: Path, url: str, runs: int) -> dict[str, dict[str, list[float]]]:
    """Both tables, interleaved (the box's load moves both alike), after one untimed
    pull of each (the server's first requests import and connect)."""
    tables = ("shared", "own")
    names = ("first pull", "first pull bytes", "no-op sync", "1-row change")
    out: dict[str, dict[str, list[float]]] = {t: {n: [] for n in names} for t in tables}
    for t in tables:
        _Device(url, t, tmp / f"{t}-warm-up.duckdb").sync()
    devices: dict[str, _Device] = {}
    for i in range(runs):  # a first pull each time: a fresh local file
        for t in tables:
            devices[t] = _Device(url, t, tmp / f"{t}-{i}.duckdb")
            ms, received = devices[t].sync()
            out[t]["first pull"].append(ms)
            out[t]["first pull bytes"].append(received)
    for t in tables:
        devices[t].sync()  # settle (the first sync after a pull may still store sums)
    for _ in range(runs):
        for t in tables:
            out[t]["no-op sync"].append(devices[t].sync()[0])
    for i in range(runs):
        for t in tables:
            devices[t].change_one_row(i)
            out[t]["1-row change"].append(devices[t].sync()[0])
    return out


def run(tmp: Path, res: Results, *, rows: int, runs: int, log: Log) -> None:
    """Seed the remote, serve it with sync rules, time both tables' syncs."""
    from ducksync.server.auth import hash_password

    log(f"slice: seeding a {rows:,}-row table shared by {OWNERS:,} owners")
    _seed(tmp / "remote.duckdb", rows)
    (tmp / "rules.toml").write_text(RULES)
    env = {"DUCKSYNC_RULES": str(tmp / "rules.toml"),
           "DUCKSYNC_USERS": f"{USER}:{hash_password(PASSWORD)}",
           "DUCKSYNC_RATE_LIMIT": "100000", "DUCKSYNC_RATE_BURST": "100000",
           "DUCKSYNC_LOG_JSON": "0"}
    server = serverutil().start_server(tmp, env=env)
    try:
        found = _measure(tmp, server.url, runs)
    finally:
        server.stop()
    slice_rows = rows // OWNERS
    for name in ("first pull", "no-op sync", "1-row change"):
        for table, how in (("shared", f"{slice_rows:,} of {rows:,} rows (owner = $user)"),
                           ("own", f"the same {slice_rows:,} rows in a table of their own")):
            value, note = median(found[table][name], "ms")
            res.add(SUITE, f"{name} {table} ms", value, "ms",
                    f"{how}; {note}".rstrip("; "), found[table][name])
            log(f"slice {name} {table}: {value:,.0f} ms")
    for table in ("shared", "own"):
        value, _ = median(found[table]["first pull bytes"], "B")
        res.add(SUITE, f"first pull {table} bytes", value, "B", "received by the client")
