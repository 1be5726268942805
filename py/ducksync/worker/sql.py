"""Tiny SQL helpers the local worker needs without parsing SQL."""

from __future__ import annotations

import json
import re
from typing import Final

_READ_ONLY: Final = frozenset({"select", "with", "from", "show", "describe", "summarize",
                               "explain", "values", "table", "pragma"})
_LEADING = re.compile(r"\s*(?:(?:--[^\n]*\n)|(?:/\*.*?\*/)|\s|\()*", re.DOTALL)
_WORD = re.compile(r"[A-Za-z_]+")


def _one_statement_starting_with(sql: str, words: frozenset[str]) -> bool:
    """``sql`` is one statement whose first word (after comments, parentheses) is in ``words``."""
    start = _LEADING.match(sql)
    rest = sql[start.end():] if start else sql
    word = _WORD.match(rest)
    return word is not None and word.group(0).lower() in words \
        and ";" not in sql.strip(" \n;")


def is_read_only(sql: str) -> bool:
    """True when ``sql`` starts like a read (so no CHECKPOINT is needed after it).

    Conservative: anything unrecognised counts as a write, which only costs a
    CHECKPOINT.
    """
    return _one_statement_starting_with(sql, _READ_ONLY)


# Statements that cannot change a table's rows. Stricter than _READ_ONLY, because a
# wrong answer here is not a wasted CHECKPOINT but a change the sync would skip
# (ducksync.worker.write_clock): no EXPLAIN (ANALYZE runs its statement), no WITH (a
# CTE may lead a DML statement), no PRAGMA.
_CANNOT_WRITE: Final = frozenset({"select", "from", "values", "table", "show", "describe",
                                  "summarize"})


def cannot_write(sql: str) -> bool:
    """True only for one plain query statement; anything else may write."""
    return _one_statement_starting_with(sql, _CANNOT_WRITE)


def checkpoint_deferred(sql: str, message: str) -> bool:
    """True when ``sql`` was a CHECKPOINT that DuckDB refused only because another
    connection has a transaction open (a long console query, a sync's batch).

    Nothing is lost by going on: every commit is already durable in the WAL (replayed
    after a crash); the next CHECKPOINT folds it into the file. In DuckDB-WASM any
    statement in flight on another connection (a pending query) counts as such a
    transaction, so treating the refusal as an error would let one long console
    query fail every sync and write behind it.
    """
    return sql.strip().rstrip(";").strip().upper() == "CHECKPOINT" \
        and "other write transactions" in message


def tidy_error_message(message: str) -> str:
    """DuckDB's error text as its shell prints it, without repeated paragraphs.

    DuckDB-WASM 1.32 appends the ``LINE 1: ...`` context block twice; users should
    read it once. Paragraphs (blank-line separated) that repeat the previous one go.
    A pending query's error (the console's road) arrives as DuckDB's error JSON
    (``{"exception_type": "Parser", "exception_message": ...}``): it is read back as
    ``Parser Error: ...``, the text every other road gives and callers test for.
    """
    message = _from_error_json(message)
    paragraphs: list[str] = []
    for paragraph in message.strip().split("\n\n"):
        if not paragraphs or paragraph.strip() != paragraphs[-1].strip():
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


def _from_error_json(message: str) -> str:
    if not message.lstrip().startswith("{"):
        return message
    try:
        data = json.loads(message)
        return f"{data['exception_type']} Error: {data['exception_message']}"
    except (ValueError, KeyError, TypeError):
        return message


_NO_SUCH_TABLE = re.compile(r"^Catalog Error: Table with name \S+ does not exist!")
FIRST_SYNC_HINT: Final = (
    "if it is on the server, this device gets it with its first sync, which has not "
    "finished yet: wait for the sync event's phase 'idle' (or await db.sync()), then "
    "query again")


def first_sync_hint(message: str) -> str | None:
    """The hint for a query of a missing table on a device whose first sync has not
    finished: a new device's page answers before its first pull, and DuckDB's own
    suggestion ("Did you mean pg_constraint?") leads nowhere."""
    return FIRST_SYNC_HINT if _NO_SUCH_TABLE.match(message) else None
