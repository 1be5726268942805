"""THE BASELINE ONLY: the seed project's way of moving rows, kept here to measure against.

The seed pushed a table by reading rows into the host language and building
``INSERT INTO t VALUES (...), (...), ...`` strings, 1000 rows per statement, each
value formatted as an SQL literal. ducksync never does this (the engine moves Arrow
IPC batches and binds parameters); this module exists so ``ducksync bench`` can
run the seed's approach faithfully on the same data, in the same run, and report
our push as a multiple of it. Nothing outside :mod:`ducksync.bench` imports it.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

ROWS_PER_STATEMENT = 1000


def literal(value: Any) -> str:
    """An SQL literal for ``value``, the way a string-building client writes it."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return f"'{value}'::DOUBLE"
        return repr(value)
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    text = str(value).replace("'", "''")
    return f"'{text}'"


def values_statements(table: str, rows: Iterable[Sequence[Any]],
                      per_statement: int = ROWS_PER_STATEMENT) -> Iterator[str]:
    """``INSERT INTO table VALUES ...`` strings of ``per_statement`` rows each."""
    chunk: list[str] = []
    for row in rows:
        chunk.append("(" + ", ".join(literal(v) for v in row) + ")")
        if len(chunk) == per_statement:
            yield f"INSERT INTO {table} VALUES " + ", ".join(chunk)
            chunk = []
    if chunk:
        yield f"INSERT INTO {table} VALUES " + ", ".join(chunk)


@dataclass(frozen=True, kw_only=True)
class SeedRun:
    """One timed run of the baseline on ``rows`` rows (a sample of the table)."""

    rows: int
    seconds: float
    statements: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def extrapolated_s(self, total_rows: int) -> float:
        """Seconds the baseline would take for ``total_rows`` at the measured rate."""
        return total_rows / self.rows_per_s


def run_native(src: Any, dst: Any, *, table: str, rows: int,
               per_statement: int = ROWS_PER_STATEMENT) -> SeedRun:
    """Copy the first ``rows`` rows of ``table`` from duckdb ``src`` to ``dst`` the seed's way.

    Timed end to end, like the seed: read rows as Python values, format, execute
    each statement (auto-commit), including the read from the source.
    """
    t0 = time.perf_counter()
    cursor = src.execute(f"SELECT * FROM {table} ORDER BY 1 LIMIT {int(rows)}")
    statements = 0
    moved = 0

    def batches() -> Iterator[Sequence[Any]]:
        nonlocal moved
        while batch := cursor.fetchmany(per_statement):
            moved += len(batch)
            yield from batch

    for sql in values_statements(table, batches(), per_statement):
        dst.execute(sql)
        statements += 1
    return SeedRun(rows=moved, seconds=time.perf_counter() - t0, statements=statements)
