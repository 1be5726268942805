"""The local database's write-ahead log in OPFS (workers/duckdb.worker.js, workers/duck.mjs).

DuckDB 1.4 deletes its WAL after a checkpoint; DuckDB-WASM's delete does nothing, so the
old log stayed in OPFS and a later open could replay it onto a database that already
held it ("Table with name … already exists!"): the app could not open its database.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from pageutil import ex, local_worker, q, wait_ready

pytestmark = pytest.mark.browser

WAL = "ducksync-local.duckdb.wal"

# OPFS file sizes from the page (a snapshot; the files stay open in DuckDB's worker)
SIZES = """async () => {
  const out = {};
  for await (const [name, handle] of (await navigator.storage.getDirectory()).entries()) {
    out[name] = (await handle.getFile()).size;
  }
  return out;
}"""


def checkpoint_until_the_wal_is_empty(page: Any, timeout_s: float = 20) -> dict[str, int]:
    """CHECKPOINT until the WAL file is empty (or ``timeout_s``): the OPFS file sizes.

    A checkpoint while another connection's write transaction is open (the sync
    service's start-up state check) must leave the log alone; a later one empties it.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        ex(page, "CHECKPOINT")
        sizes: dict[str, int] = page.evaluate(SIZES)
        if not sizes[WAL] or time.monotonic() > deadline:
            return sizes


def test_the_wal_of_a_checkpointed_write_is_empty_in_opfs(open_app: Any,
                                                          server_url: str) -> None:
    page = open_app(server_url)
    ex(page, "CREATE TABLE w (id INTEGER PRIMARY KEY, v VARCHAR)")
    ex(page, "INSERT INTO w SELECT i, 'v' || i FROM range(1000) t(i)")  # then CHECKPOINT
    sizes = checkpoint_until_the_wal_is_empty(page)
    assert sizes[WAL] == 0, sizes
    assert sizes["ducksync-local.duckdb"] > 0
    page.reload()
    wait_ready(page)
    assert q(page, "SELECT count(*)::INTEGER AS n FROM w") == [{"n": 1000}]


def test_a_commit_after_a_checkpoint_survives_a_reload(open_app: Any, server_url: str) -> None:
    """The log DuckDB-WASM never deleted ended with the checkpoint's marker, so replay
    skipped the whole file — and the commits written after it: lost without an error."""
    page = open_app(server_url)
    local = local_worker(page)
    local.evaluate("""async () => {
      const db = await self.ducksyncDiagnostics.duckdb;
      const c = await db.connect();  // no app CHECKPOINT follows these statements
      await c.query("CREATE TABLE before_ckpt AS SELECT 1 AS n");
      for (let attempt = 0; ; attempt++) {  // refused while the sync service writes
        try { await c.query("CHECKPOINT"); break; }
        catch (e) { if (attempt > 100) throw e; await new Promise((r) => setTimeout(r, 50)); }
      }
      await c.query("CREATE TABLE after_ckpt AS SELECT 2 AS n");
    }""")
    page.reload()
    wait_ready(page)
    assert q(page, "SELECT n FROM before_ckpt UNION ALL SELECT n FROM after_ckpt "
                   "ORDER BY n") == [{"n": 1}, {"n": 2}]


def test_a_wal_already_in_the_database_is_set_aside_and_the_database_opens(
        open_app: Any, server_url: str) -> None:
    page = open_app(server_url)
    # A committed CREATE TABLE not yet checkpointed: the WAL holds it (on a connection
    # of our own, so the app's after-write CHECKPOINT does not run) ...
    local = local_worker(page)
    local.evaluate("""async () => {
      const db = await self.ducksyncDiagnostics.duckdb;
      const c = await db.connect();
      await c.query("CREATE TABLE t2 AS SELECT 42 AS n");
    }""")
    stale = page.evaluate(f"""async () => {{
      const dir = await navigator.storage.getDirectory();
      const file = await (await dir.getFileHandle("{WAL}")).getFile();
      return Array.from(new Uint8Array(await file.arrayBuffer()));
    }}""")
    assert stale, "the committed CREATE TABLE should be in the WAL"
    # ... and now in the database file as well
    assert checkpoint_until_the_wal_is_empty(page)[WAL] == 0
    # Put that log back while no worker holds the files: what an earlier version left.
    page.goto(server_url + "/healthz")
    page.evaluate(f"""async (bytes) => {{
      const dir = await navigator.storage.getDirectory();
      for (let attempt = 0; ; attempt++) {{  // the old workers release OPFS asynchronously
        try {{
          const w = await (await dir.getFileHandle("{WAL}")).createWritable();
          await w.write(new Uint8Array(bytes));
          await w.close();
          return;
        }} catch (e) {{
          if (attempt > 100) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }}
      }}
    }}""", stale)
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    page.goto(server_url + "/")
    wait_ready(page)
    assert q(page, "SELECT n FROM t2") == [{"n": 42}]
    sizes = page.evaluate(SIZES)
    kept = [name for name in sizes if name.startswith(WAL + ".stale-")]
    assert len(kept) == 1 and sizes[kept[0]] == len(stale), sizes
    assert any("set aside" in w and kept[0] in w for w in warnings), warnings
    # and the database keeps working: a write, a reload, the row is there
    ex(page, "INSERT INTO t2 VALUES (43)")
    page.reload()
    wait_ready(page)
    assert q(page, "SELECT count(*)::INTEGER AS n FROM t2") == [{"n": 2}]


def test_a_write_while_another_write_transaction_is_open_succeeds(open_app: Any,
                                                                  server_url: str) -> None:
    """The app checkpoints after each write; DuckDB refuses that while another
    connection (a sync recording a batch) has a write transaction open. The write is
    committed all the same: it must not be reported as failed, nor be lost."""
    page = open_app(server_url)
    ex(page, "CREATE TABLE busy (n INTEGER)")
    ex(page, "CREATE TABLE mine (n INTEGER)")
    local = local_worker(page)
    local.evaluate("""async () => {
      const db = await self.ducksyncDiagnostics.duckdb;
      self.__busy = await db.connect();
      await self.__busy.query("BEGIN TRANSACTION");
      await self.__busy.query("INSERT INTO busy VALUES (1)");
    }""")
    ex(page, "INSERT INTO mine VALUES (7)")  # its CHECKPOINT is refused: not an error
    local.evaluate("async () => { await self.__busy.query('COMMIT'); }")
    page.reload()
    wait_ready(page)
    assert q(page, "SELECT n FROM mine") == [{"n": 7}]
    assert q(page, "SELECT n FROM busy") == [{"n": 1}]
