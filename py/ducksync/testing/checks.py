"""The two questions every sync test ends with: has it converged, and when will it have?

``assert_converged`` compares each device's table with the remote's, row for row, and
says which keys differ and how. Both sides run the same SQL casting every column to
VARCHAR, so DuckDB renders the values on each side (DuckDB-WASM in the page, native
DuckDB behind the server) and no JSON/Arrow conversion can hide or invent a difference.
``wait_until`` polls a condition with a deadline and a message, instead of a sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
MAX_SHOWN = 10  # differing keys listed per device; the rest are counted


class Queryable(Protocol):
    """A device (or anything) that answers ``query(sql)`` with row dicts."""

    def query(self, sql: str) -> list[dict[str, Any]]: ...


class ConvergedRows(list[dict[str, Any]]):
    """The remote's rows, as ``assert_converged`` returns them: always truthy, so that
    ``wait_until(lambda: assert_converged(...))`` also ends for a converged empty table."""

    def __bool__(self) -> bool:
        return True


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _primary_key(device: Queryable, table: str) -> list[str]:
    literal = "'" + table.replace("'", "''") + "'"
    rows = device.query("SELECT unnest(constraint_column_names) AS col FROM duckdb_constraints() "
                        f"WHERE table_name = {literal} AND constraint_type = 'PRIMARY KEY'")
    return [str(row["col"]) for row in rows]


def _show(value: Any) -> str:
    return "NULL" if value is None else repr(value)


def _show_row(row: dict[str, Any], columns: Sequence[str] | None = None) -> str:
    names = columns if columns is not None else list(row)
    return "{" + ", ".join(f"{name}: {_show(row.get(name))}" for name in names) + "}"


def _diff(remote: list[dict[str, Any]], rows: list[dict[str, Any]], key: Sequence[str],
          name: str) -> list[str]:
    """Readable lines for each key where ``rows`` (device ``name``) differ from ``remote``."""
    def index(side: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
        found: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for row in side:
            found.setdefault(tuple(row.get(k) for k in key) if key else tuple(row.values()),
                             []).append(row)
        return found

    theirs, ours = index(remote), index(rows)
    lines: list[str] = []
    for k in sorted(theirs.keys() | ours.keys(), key=lambda t: tuple(map(str, t))):
        a, b = theirs.get(k, []), ours.get(k, [])
        if a == b:
            continue
        shown = ", ".join(f"{c}={_show(v)}" for c, v in zip(key, k, strict=True)) if key \
            else "row " + _show_row((a or b)[0])
        if not b:
            lines.append(f"{shown}: on the remote, missing on {name} {_show_row(a[0])}")
        elif not a:
            lines.append(f"{shown}: on {name}, missing on the remote {_show_row(b[0])}")
        elif len(a) != len(b):
            lines.append(f"{shown}: {len(a)} rows on the remote, {len(b)} on {name}")
        else:
            changed = [c for c in a[0].keys() | b[0].keys() if a[0].get(c) != b[0].get(c)]
            changed.sort(key=list(a[0]).index if set(changed) <= set(a[0]) else str)
            lines.append(f"{shown}: remote {_show_row(a[0], changed)}, "
                         f"{name} {_show_row(b[0], changed)}")
    return lines


def assert_converged(server: Queryable, *devices: Queryable, table: str,
                     key: Sequence[str] | None = None) -> ConvergedRows:
    """Every device's ``table`` equals the remote's, row for row; returns the remote rows.

    ``key`` defaults to the table's primary key (read on the first device); without one,
    rows are compared as whole values (duplicates counted). The failure names the table,
    each device that differs, and up to ten keys with the columns that differ.
    """
    if not devices:
        raise TypeError("assert_converged(server, *devices, table=...) needs a device")
    sql = f"SELECT COLUMNS(*)::VARCHAR FROM {_ident(table)} ORDER BY ALL"
    key = list(key) if key is not None else _primary_key(devices[0], table)
    remote = server.query(sql)
    problems: list[str] = []
    counts = [f"remote: {len(remote)} rows"]
    for device in devices:
        name = str(getattr(device, "name", device))
        rows = device.query(sql)
        counts.append(f"{name}: {len(rows)} rows")
        lines = _diff(remote, rows, key, name)
        if lines:
            more = f"\n    ... and {len(lines) - MAX_SHOWN} more" if len(lines) > MAX_SHOWN \
                else ""
            problems.append(f"  {name} differs from the remote on {len(lines)} "
                            f"{'key' if key else 'row value'}{'s' if len(lines) > 1 else ''}:\n"
                            + "\n".join(f"    {line}" for line in lines[:MAX_SHOWN]) + more)
    if problems:
        raise AssertionError(f"table {table!r} has not converged ({'; '.join(counts)}):\n"
                             + "\n".join(problems))
    return ConvergedRows(remote)


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, *, interval: float = 0.1,
               message: str | None = None) -> T:
    """Call ``predicate`` until it returns something truthy (returned) or ``timeout`` s pass.

    A predicate that raises ``AssertionError`` counts as "not yet" (so
    ``wait_until(lambda: assert_converged(...))`` works); the last value or assertion
    is in the failure, with ``message`` (default: the predicate's name).
    """
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        attempts += 1
        last_error: AssertionError | None = None
        value: T | None = None
        try:
            value = predicate()
        except AssertionError as exc:
            last_error = exc
        if value and last_error is None:
            return value
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            last = f"last assertion:\n{last_error}" if last_error else f"last value: {value!r}"
            raise AssertionError(f"wait_until: {what} still not true after {timeout:g} s "
                                 f"({attempts} attempts); {last}")
        time.sleep(interval)  # a polling interval between checks, not a readiness guess
