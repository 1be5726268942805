"""Every DuckDB type round-trips exactly through the page: a table built from DuckDB's own
``test_all_types()`` (min, max, NULL of every type) in DuckDB-WASM is pushed from one
device, pulled into a second device (another browser context) and into a native DuckDB
file through the same server, and every value is compared as DuckDB prints it.

Before DuckDB-WASM was opened with lossless Arrow conversion, BIT left the page as
plain bytes (``'0101'`` arrived as ``'0000010011110101'``), UUID and HUGEINT as text
and decimals; this test holds that shut for every type.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pageutil import ex, manual, q, sync

pytestmark = pytest.mark.browser

TABLE = "page_all_types"
# medium_enum's type string (300 labels, 2.9k characters) is over the server's type limit.
SOURCE = (f"CREATE TABLE {TABLE} AS SELECT row_number() OVER () AS id, * EXCLUDE (medium_enum) "
          "FROM test_all_types()")
# A fourth row of values DuckDB's `=` folds: they must land as written.
FOLDED = (f"INSERT INTO {TABLE} (id, float, double, interval, double_array) VALUES (4, "
          "'-0.0'::FLOAT, -('nan'::DOUBLE), INTERVAL '30 days', ['-0.0'::DOUBLE])")


def columns_sql(columns: list[tuple[str, str]]) -> str:
    """One row per column: its type and every value as text, in key order. A TIMESTAMPTZ
    as its microseconds: native DuckDB's ICU prints the largest one 1 ms off."""
    def text(c: str, typ: str) -> str:
        if typ == "TIMESTAMP WITH TIME ZONE":
            return f'epoch_us("{c}")'
        if typ == "TIMESTAMP WITH TIME ZONE[]":
            return f'list_transform("{c}", x -> epoch_us(x))'
        return f'"{c}"'

    return " UNION ALL ".join(
        f"SELECT {i} AS i, any_value(typeof(\"{c}\")) AS t, list({text(c, typ)}::VARCHAR "
        f"ORDER BY id)::VARCHAR AS v FROM {TABLE}" for i, (c, typ) in enumerate(columns)
    ) + " ORDER BY i"


def in_page(page: Any, columns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(r["t"], r["v"]) for r in q(page, columns_sql(columns))]


def pull_natively(url: str, path: Path) -> None:
    """The CLI (native DuckDB) pulls the table from the same server."""
    done = subprocess.run([sys.executable, "-m", "ducksync", "pull", str(path), url,
                           "--table", TABLE, "--json"], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["tables"][0]["pulled"] == 4


def test_test_all_types_round_trips_page_to_page_and_native(open_app: Any, server: Any,
                                                           tmp_path: Path) -> None:
    a, b = open_app(manual(server.url)), open_app(manual(server.url))
    ex(a, SOURCE)
    ex(a, f"ALTER TABLE {TABLE} ADD PRIMARY KEY (id)")
    ex(a, FOLDED)
    columns = [(r["column_name"], r["column_type"])
               for r in q(a, f"SELECT column_name, column_type FROM (DESCRIBE {TABLE})")]
    assert len(columns) >= 50
    pushed = sync(a, tables=[TABLE], direction="push")
    assert pushed["pushed"] == 4 and pushed["outcome"] == "ok", pushed["error"]["message"][:300]
    pulled = sync(b, tables=[TABLE], direction="pull")
    assert pulled["pulled"] == 4 and pulled["converged"], pulled["error"]

    source = in_page(a, columns)
    assert in_page(b, columns) == source  # page to page, every value as DuckDB prints it

    native = tmp_path / "native.duckdb"
    pull_natively(server.url, native)
    with duckdb.connect(str(native)) as con:
        con.execute("SET TimeZone = 'UTC'")  # the page has no ICU: TIMESTAMPTZ prints in UTC
        assert [tuple(r[1:]) for r in con.execute(columns_sql(columns)).fetchall()] == source
        # the exact bits, where text hides them, and BIT as DuckDB's own test_all_types()
        assert con.execute(f"SELECT float::BIT, double::BIT, interval::VARCHAR FROM {TABLE} "
                           "WHERE id = 4").fetchone() == (
            "1" + "0" * 31, "1111111111111000" + "0" * 48, "30 days")
        assert con.execute(f"SELECT list(bit::VARCHAR ORDER BY id) FROM {TABLE}").fetchone() == \
            con.execute("SELECT list(bit::VARCHAR) || [NULL] FROM test_all_types()").fetchone()
