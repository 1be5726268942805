"""ensure_state: one catalog query when the state is complete, the DDL otherwise."""

from __future__ import annotations

from typing import Any

from engine_helpers import run

from ducksync.engine import state
from ducksync.stores.native import NativeLocalStore


class Counting(NativeLocalStore):
    def __init__(self) -> None:
        super().__init__(spec=":memory:")
        self.statements: list[str] = []

    async def execute(self, sql: str, params: Any = ()) -> None:
        self.statements.append(sql)
        await super().execute(sql, params)


def test_complete_state_costs_one_query_and_a_missing_part_is_added() -> None:
    local = Counting()
    run(state.ensure_state(local))
    assert len(local.statements) == len(state._DDL)
    local.statements.clear()
    run(state.ensure_state(local))
    assert local.statements == []  # only the catalog query (fetch_rows)
    # an older database: a column added by a later revision is missing
    local.con.execute("ALTER TABLE ducksync.tables DROP COLUMN remote_id")
    run(state.ensure_state(local))
    assert local.statements and local.con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'ducksync' AND "
        "table_name = 'tables' AND column_name = 'remote_id'").fetchall() == [(1,)]


def test_every_state_statement_is_covered_by_the_check() -> None:
    """A statement the check cannot see would never run on an existing database."""
    _, expected = state._present_sql(state._DDL)
    creating = [d for d in state._DDL if not d.startswith("CREATE SCHEMA")]
    assert expected == len(creating)
