"""The benchmark table: 6 columns (INTEGER, BIGINT, DOUBLE, VARCHAR, TIMESTAMP, BOOLEAN).

Plain SQL, so the same statements fill native duckdb and DuckDB-WASM. Values are
deterministic functions of the row number, with realistic variety (repeating and
unique text, a NULL now and then) so compression and hashing see ordinary data.
"""

from __future__ import annotations

TABLE = "bench"
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "BIGINT"), ("qty", "INTEGER"), ("amount", "DOUBLE"), ("name", "VARCHAR"),
    ("created", "TIMESTAMP"), ("active", "BOOLEAN"))

CHANGED_ROWS = 1000


def create_sql(table: str = TABLE) -> str:
    cols = ", ".join(f"{name} {typ}" for name, typ in COLUMNS)
    return f"CREATE TABLE {table} ({cols}, PRIMARY KEY (id))"


def select_sql(rows: int, *, start: int = 0) -> str:
    """A ``SELECT`` producing ``rows`` benchmark rows (ids ``start`` .. ``start + rows - 1``)."""
    return (
        "SELECT i::BIGINT AS id, (i % 1000)::INTEGER AS qty, "
        "CASE WHEN i % 97 = 0 THEN NULL ELSE (i % 100000) / 100.0 END::DOUBLE AS amount, "
        "'customer ' || (i % 9973) || ' ' || md5(i::VARCHAR)[:8] AS name, "
        "TIMESTAMP '2024-01-01' + to_seconds(i) AS created, (i % 3 = 0) AS active "
        f"FROM range({int(start)}, {int(start) + int(rows)}) r(i)")


def fill_sql(rows: int, table: str = TABLE) -> str:
    return f"INSERT INTO {table} {select_sql(rows)}"


def change_sql(rows: int, *, changed: int = CHANGED_ROWS, salt: int = 1,
               table: str = TABLE) -> str:
    """Update ``changed`` rows spread evenly over the table (deterministic, no sampling)."""
    step = max(1, rows // max(1, changed))
    return (f"UPDATE {table} SET qty = qty + {int(salt)}, name = name || '*' "
            f"WHERE id % {step} = {int(salt) % step} AND id < {step * changed}")
