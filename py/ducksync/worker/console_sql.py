"""The SQL console's text handling: statements, the one to run, and the result table.

Why split here and not let DuckDB run the whole text: the console shows the *last*
statement's result in a paged grid, so that statement runs as ``CREATE TEMP TABLE
__ds_console AS …`` (DuckDB keeps the result; the page asks for one page at a time,
formatted by DuckDB itself) while the statements before it run as they are. The
editor's "run the statement under the cursor" uses the same split, so the two never
disagree about where a statement ends.

The splitter knows DuckDB's lexical rules that can hide a ``;``: single-quoted
strings (``''`` escape, ``E'…'`` backslash escapes), quoted identifiers, dollar
quotes (``$tag$…$tag$``), ``--`` and ``/* */`` comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ducksync.engine.names import CONSOLE_HISTORY, CONSOLE_RESULT, SCHEMA

__all__ = ["RESULT_TABLE", "Statement", "count_sql", "describe_query_sql", "describe_sql",
           "first_word", "history_sql", "page_sql", "query_body", "result_table_sql", "split",
           "statement_at", "statement_verb"]

RESULT_TABLE: Final = f"temp.main.{CONSOLE_RESULT}"
HISTORY_TABLE: Final = f"{SCHEMA}.{CONSOLE_HISTORY}"

# First words of statements whose rows can become a table as they are (CTAS) ...
_QUERY: Final = frozenset({"select", "from", "with", "values", "table", "pivot", "unpivot"})
# ... or as a subquery (DuckDB accepts these in FROM).
_SUBQUERY: Final = frozenset({"describe", "show", "summarize"})
_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_LEADING = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.DOTALL)
_WORD = re.compile(r"[A-Za-z_]+")


@dataclass(frozen=True)
class Statement:
    """One statement of a text: ``text[start:end]`` (without its ``;``)."""

    start: int
    end: int
    sql: str


def _skip_quoted(sql: str, i: int) -> int:
    """Offset after the quoted literal/identifier/comment starting at ``i`` (else ``i``)."""
    ch = sql[i]
    n = len(sql)
    if ch in "'\"":
        backslash = ch == "'" and i > 0 and sql[i - 1] in "eE" \
            and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
        j = i + 1
        while j < n:
            if backslash and sql[j] == "\\":
                j += 2
                continue
            if sql[j] == ch:
                if sql[j + 1:j + 2] == ch:  # doubled quote
                    j += 2
                    continue
                return j + 1
            j += 1
        return n
    if sql.startswith("--", i):
        end = sql.find("\n", i)
        return n if end == -1 else end + 1
    if sql.startswith("/*", i):
        end = sql.find("*/", i + 2)
        return n if end == -1 else end + 2
    if ch == "$" and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
        tag = _DOLLAR.match(sql, i)
        if tag:
            end = sql.find(tag.group(0), tag.end())
            return n if end == -1 else end + len(tag.group(0))
    return i


def _is_blank(sql: str) -> bool:
    """Only whitespace and comments."""
    return _LEADING.fullmatch(sql.replace("(", "x")) is not None


def split(sql: str) -> list[Statement]:
    """The non-empty statements of ``sql``, in order."""
    out: list[Statement] = []
    start = i = 0
    n = len(sql)
    while i < n:
        skipped = _skip_quoted(sql, i)
        if skipped != i:
            i = skipped
            continue
        if sql[i] == ";":
            _add(out, sql, start, i)
            start = i + 1
        i += 1
    _add(out, sql, start, n)
    return out


def _add(out: list[Statement], sql: str, start: int, end: int) -> None:
    text = sql[start:end]
    if _is_blank(text):
        return
    lead = len(text) - len(text.lstrip())
    trail = len(text.rstrip())
    out.append(Statement(start + lead, start + trail, text[lead:trail]))


def statement_at(sql: str, cursor: int) -> Statement | None:
    """The statement under ``cursor``: the one it is in (or right after its ``;``),
    else the nearest one before it, else the first."""
    statements = split(sql)
    before = [s for s in statements if s.start <= cursor]
    if before:
        last = before[-1]
        # in the blank after a statement's ";" but before the next one: still that one
        return last
    return statements[0] if statements else None


def first_word(sql: str) -> str:
    """The first keyword, lower case, after comments and opening parentheses."""
    lead = _LEADING.match(sql)
    word = _WORD.match(sql, lead.end() if lead else 0)
    return word.group(0).lower() if word else ""


def statement_verb(sql: str) -> str:
    """What the statement does (``delete`` for ``WITH old AS (...) DELETE ...``): its first
    keyword, or after a leading WITH clause the first word that follows a CTE's body. The
    console's summary says "1 row deleted" from it. DuckDB-WASM's API has no statement
    type to ask, so the clause is skipped here: quotes and comments by the splitter's
    rules, each CTE's column list and body by their parentheses."""
    word = first_word(sql)
    if word != "with":
        return word
    lead = _LEADING.match(sql)
    i, n, depth, closed = (lead.end() if lead else 0) + len("with"), len(sql), 0, False
    while i < n:
        skipped = _skip_quoted(sql, i)
        if skipped != i:
            i = skipped
            continue
        ch = sql[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            closed = depth == 0
        elif depth == 0 and ch == ",":
            closed = False  # the next CTE
        elif depth == 0 and closed and (found := _WORD.match(sql, i)):
            verb = found.group(0).lower()
            if verb not in ("as", "using"):  # after a column list, not a body
                return verb
            closed = False
            i = found.end()
            continue
        i += 1
    return word


def query_body(statement: str) -> str | None:
    """``statement`` as a query whose rows can become a table, or None when they cannot
    (DDL, DML, PRAGMA, EXPLAIN, ...: those run as they are)."""
    word = first_word(statement)
    if word in _QUERY or (not word and statement.lstrip().startswith("(")):
        return statement
    if word in _SUBQUERY:
        return f"FROM ({statement}\n)"
    return None


def result_table_sql(body: str) -> str:
    """The console's result table from ``body`` (:func:`query_body`)."""
    return f"CREATE OR REPLACE TEMP TABLE {CONSOLE_RESULT} AS {body}\n"


def describe_query_sql(body: str) -> str:
    """Names and types of ``body``'s columns as DuckDB binds them (nothing runs): exact
    where the result table is not (duplicate names stay, NULL stays "NULL")."""
    return f"SELECT column_name, column_type FROM (DESCRIBE {body}\n)"


def describe_sql() -> str:
    return f"SELECT column_name, column_type FROM (DESCRIBE {RESULT_TABLE})"


def count_sql() -> str:
    return f"SELECT count(*) FROM {RESULT_TABLE}"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def page_sql(columns: list[str], offset: int, limit: int) -> str:
    """One page of the result, every value as DuckDB's own text (``CAST … AS VARCHAR``,
    what its shell prints), NULL kept as NULL. Columns are renamed by position so any
    name (even a duplicate) survives; the caller keeps the names."""
    exprs = ", ".join(f"CAST({quote(c)} AS VARCHAR) AS c{i}" for i, c in enumerate(columns))
    return (f"SELECT {exprs or '1 AS c0'} FROM {RESULT_TABLE} "
            f"LIMIT {int(limit)} OFFSET {int(offset)}")


def history_sql() -> tuple[str, ...]:
    """Create the history table once (statements run in order)."""
    return (f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
            f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (id BIGINT, sql VARCHAR, "
            "ran_at_ms BIGINT, ms DOUBLE, rows BIGINT, error VARCHAR)")
