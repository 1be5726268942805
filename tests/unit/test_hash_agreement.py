"""The row hash (``sqlbuild.row_hash_sql``) exists and agrees in DuckDB-WASM 1.4.3
(the page) and native DuckDB (server, CLI), for every column of DuckDB's own
``test_all_types()``: the bulk push's predicted checksum depends on it. Run in Node on
the real DuckDB-WASM bundle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb

from ducksync.engine import sqlbuild as sb
from wasm_node import DIST, OPEN_DB_JS, ROOT, needs_wasm

sys.path.insert(0, str(ROOT / "tests" / "engine"))
from test_exact_hash import EDITS

# Runs the statements on stdin (separated by "\n;;\n") in DuckDB-WASM; one JSON line each.
RUNNER = """
const duckdb = require(process.argv[2] + "/duckdb-node-blocking.cjs");
(async () => {
  const dist = process.argv[2];
""" + OPEN_DB_JS + """
  const con = db.connect();
  for (const q of require("fs").readFileSync(0, "utf8").split("\\n;;\\n")) {
    const rows = con.query(q).toArray().map((r) => Object.values(r.toJSON()).map(String));
    console.log(JSON.stringify(rows));
  }
})().catch((e) => { console.error(e.message); process.exit(1); });
"""


def in_wasm(tmp_path: Path, statements: list[str]) -> list[list[list[str]]]:
    runner = tmp_path / "runner.cjs"
    runner.write_text(RUNNER)
    out = subprocess.run(["node", str(runner), str(DIST)], input="\n;;\n".join(statements),
                         capture_output=True, text=True, timeout=120, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


@needs_wasm
def test_row_hashes_agree_between_wasm_and_native(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE a AS SELECT * FROM test_all_types()")
    wasm_cols = in_wasm(tmp_path, [
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM test_all_types())"])[0]
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'a'").fetchall())
    common = [c for c, _ in wasm_cols if c in types]
    assert len(common) >= 50  # every type DuckDB-WASM has
    setup = ["CREATE TABLE a AS SELECT * FROM test_all_types()"]
    per_column = [f"SELECT '{c}', bit_xor({sb.row_hash_sql({c: types[c]})})::VARCHAR FROM a"
                  for c in common]
    edits = [f"SELECT {sb.row_hash_sql({'v': typ})}::VARCHAR FROM (SELECT ({value})::{typ} AS v)"
             for typ, before, after in EDITS for value in (before, after)]
    wasm = in_wasm(tmp_path, setup + per_column + edits)[1:]
    native = [[[str(v) for v in con.execute(q).fetchone() or ()]] for q in per_column + edits]
    assert wasm == native
    edit_hashes = [h[0][0] for h in native[len(per_column):]]
    assert all(b != a for b, a in zip(edit_hashes[::2], edit_hashes[1::2], strict=True))


@needs_wasm
def test_the_hash_probe_answers_alike_in_wasm_and_native(tmp_path: Path) -> None:
    """The page (DuckDB-WASM) runs the probe and answers as the server's engine does, so
    a page's bootstrap from our server computes the remote's hashes itself; the probe
    tells two row hashes apart too (a changed probe value changes its answer)."""
    probe = sb.hash_probe_sql()
    native = duckdb.sql(probe).fetchall()[0][0]
    assert in_wasm(tmp_path, [probe]) == [[[native]]]
    changed = probe.replace("'short'", "'shore'", 1)
    assert changed != probe and duckdb.sql(changed).fetchall()[0][0] != native


@needs_wasm
def test_the_bucket_filter_answers_alike_in_wasm_and_native(tmp_path: Path) -> None:
    """The descent's bucket list travels as text cast to ``UBIGINT[]``: the page binds it
    as a string literal (``worker/sql_params.py``), native duckdb as a parameter; both
    keep exactly the rows whose key hash falls in the listed buckets."""
    from ducksync.worker.sql_params import bind

    sql = (f"SELECT i::VARCHAR FROM range(2000) t(i) WHERE {sb.in_buckets_sql('hash(i)')} "
           "ORDER BY i")
    params = [16, sb.bucket_list([3, 7, 11])]
    native = [[v] for (v,) in duckdb.execute(sql, params).fetchall()]
    assert 0 < len(native) < 2000
    assert all(int(duckdb.execute("SELECT hash(?::BIGINT) % 16", [int(v)]).fetchone()[0])
               in (3, 7, 11) for (v,) in native[:20])
    assert in_wasm(tmp_path, [bind(sql, params)]) == [native]
