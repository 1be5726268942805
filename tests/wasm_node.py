"""DuckDB-WASM in Node: the page's engine (the real bundle) for tests that need it without
a browser. ``OPEN_DB_JS`` opens an in-memory database as ``db``; it expects ``duckdb``
(the bundle's blocking Node build) and ``dist`` (the bundle's folder) in scope, inside
an async function or a module."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "node_modules" / "@duckdb" / "duckdb-wasm" / "dist"

needs_wasm = pytest.mark.skipif(not (DIST.exists() and shutil.which("node")),
                                reason="node or node_modules (npm ci) missing")

OPEN_DB_JS = """
const db = await duckdb.createDuckDB(
  {mvp: {mainModule: dist + "/duckdb-mvp.wasm", mainWorker: dist + "/duckdb-node-mvp.worker.cjs"},
   eh: {mainModule: dist + "/duckdb-eh.wasm", mainWorker: dist + "/duckdb-node-eh.worker.cjs"}},
  new duckdb.VoidLogger(), duckdb.NODE_RUNTIME);
await db.instantiate(() => {});
db.open({});
"""
