"""The sync store's IPC ingest (``workers/sync_host.mjs``) on the real DuckDB-WASM bundle (Node):
IPC of a schema seen before, on any table, goes into its temp table directly, without the scratch
catalog and its copy (a bootstrap's pages: docs/benchmarks.md), and replacing, appending
and a change of schema still leave exactly the rows and columns last ingested."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from wasm_node import DIST, OPEN_DB_JS, ROOT, needs_wasm

HOST = ROOT / "workers" / "sync_host.mjs"

# Reads [[table, sql, append], ...] on stdin: ingests each query's IPC stream, then prints
# one JSON list: per step the table's rows and columns, and whether the scratch catalog
# was used.
RUNNER = """
import { createRequire } from "node:module";
const [dist, hostPath] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const duckdb = require(dist + "/duckdb-node-blocking.cjs");
const { syncConnection, streamOfFile } = await import(hostPath);
""" + OPEN_DB_JS + """
const raw = db.connect();
const log = [];
const conn = {
  query: async (sql) => { log.push(sql); return raw.useUnsafe((b, id) => b.runQuery(id, sql)); },
  insert: async (ipc, options) => raw.insertArrowFromIPCStream(ipc, options),
};
const sc = await syncConnection({ connect: async () => conn });
const out = [];
for (const [name, sql, append] of JSON.parse(require("fs").readFileSync(0, "utf8"))) {
  const ipc = streamOfFile(await conn.query(sql)).slice();
  log.length = 0;
  await sc.ingest(name, ipc, append);
  const scratch = log.some((s) => s.includes("__ds_scratch"));
  out.push({ rows: await sc.rows(`SELECT * FROM temp.main."${name}" ORDER BY ALL`),
             columns: (await sc.rows("SELECT column_name FROM duckdb_columns() WHERE " +
               `table_name = '${name}' AND database_name = 'temp' ORDER BY column_index`))
               .map((r) => r[0]),
             scratch });
}
console.log(JSON.stringify(out));
"""


@needs_wasm
def test_ingest_appends_a_known_schema_directly_and_keeps_replace_semantics(
        tmp_path: Path) -> None:
    runner = tmp_path / "runner.mjs"
    runner.write_text(RUNNER)
    ab = "SELECT * FROM (VALUES {}) v(a, b)"
    steps = [["t", ab.format("(1, 'x')"), False],
             ["t", ab.format("(2, 'y'), (3, 'z')"), False],  # same schema: replaced
             ["t", ab.format("(4, 'w')"), True],  # appended
             ["u", ab.format("(9, 'u')"), False],  # another table of the schema: its template
             ["t", "SELECT 'q' AS c", False],  # another schema: replaced by it
             ["t", ab.format("(1, 'x')"), False]]
    out = subprocess.run(["node", str(runner), str(DIST), str(HOST)], input=json.dumps(steps),
                         capture_output=True, text=True, timeout=120, check=True)
    got = json.loads(out.stdout.splitlines()[-1])
    assert [s["rows"] for s in got] == [
        [[1, "x"]], [[2, "y"], [3, "z"]], [[2, "y"], [3, "z"], [4, "w"]], [[9, "u"]], [["q"]],
        [[1, "x"]]]
    assert [s["columns"] for s in got] == [["a", "b"]] * 4 + [["c"], ["a", "b"]]
    # the scratch catalog only for a schema without a template yet (on any table); before,
    # each table had its own: [True, False, False, True, True, True]
    assert [s["scratch"] for s in got] == [True, False, False, False, True, False]
