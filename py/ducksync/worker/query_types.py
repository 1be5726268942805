"""What ``query()`` returns, exactly: DuckDB's column types, and DuckDB's text where
Arrow cannot carry a value.

DuckDB-WASM 1.32 is opened without lossless Arrow export (``workers/duck.mjs``: that flag
garbles BOOLEANs), so some types leave it lossy or unnamed: BIT as plain bytes, INTERVAL
as a month/day/nano triple the JS Arrow reader gets wrong, TIME WITH TIME ZONE without
its offset, and ENUM/UUID/HUGEINT under Arrow's names (dictionary, utf8, decimal). So the
local worker asks DuckDB for the statement's column types first (``DESCRIBE``: it binds,
nothing runs), sends them with the result (the page names columns as DuckDB does and
decodes by DuckDB's type), and for the few types Arrow cannot carry, selects DuckDB's
own text of the value instead (``CAST … AS VARCHAR``: what DuckDB prints). Inside a LIST,
STRUCT, MAP, UNION or ARRAY they are lossy the same way, so there only those values become
text and the structure stays (``CAST(#1 AS STRUCT(b VARCHAR, n INTEGER)[])``).
"""

from __future__ import annotations

from typing import Final

from ducksync.worker import console_sql as csql

__all__ = ["AS_TEXT", "api_sql", "describe_sql", "text_type"]

# Types returned as DuckDB's text, at any depth (web/README.md lists the values).
AS_TEXT: Final = frozenset({"BIT", "INTERVAL", "TIME WITH TIME ZONE"})
_MEMBERS: Final = {"STRUCT": True, "UNION": True, "MAP": False}  # named members?


def describe_sql(sql: str) -> str | None:
    """The DESCRIBE of ``sql`` when it is one query (else None: run it as it is)."""
    statements = csql.split(sql)
    if len(statements) != 1:
        return None
    body = csql.query_body(statements[0].sql)
    return None if body is None else csql.describe_query_sql(body)


def api_sql(sql: str, types: list[str], names: list[str]) -> str | None:
    """``sql`` with its :data:`AS_TEXT` values as DuckDB's text, top-level or nested
    (positional references, so duplicate names stay as they are), or None when no column
    holds one."""
    targets = [text_type(t) for t in types]
    if targets == types:
        return None
    body = csql.query_body(csql.split(sql)[0].sql)
    exprs = ", ".join(
        (f"#{i}" if target == t else f"CAST(#{i} AS {target})") + f" AS {csql.quote(n)}"
        for i, (t, target, n) in enumerate(zip(types, targets, names, strict=True), start=1))
    return f"SELECT {exprs} FROM ({body}\n) AS __ds_q"


def text_type(duck_type: str) -> str:
    """``duck_type`` (as DESCRIBE prints it) with each :data:`AS_TEXT` type in it, at any
    depth, as VARCHAR: ``STRUCT("b" BIT, n INTEGER)[]`` -> ``STRUCT("b" VARCHAR, n
    INTEGER)[]``. A type it cannot read is returned as it is (its values then come as
    Arrow carries them)."""
    try:
        text, end = _type(duck_type, 0)
    except (IndexError, ValueError):
        return duck_type
    return text if end == len(duck_type) else duck_type


def _type(s: str, i: int) -> tuple[str, int]:
    """The type starting at ``s[i]``, rewritten, and where it ends."""
    j = i
    while j < len(s) and s[j] not in "([,)]":
        j += 1
    name = s[i:j].strip()
    if j < len(s) and s[j] == "(" and name.upper() in _MEMBERS:
        members, j = _members(s, j + 1, named=_MEMBERS[name.upper()])
        text = f"{name}({', '.join(members)})"
    elif j < len(s) and s[j] == "(":  # DECIMAL(18,3), ENUM('a', 'b'): kept as they are
        j = _closing(s, j)
        text = s[i:j]
    else:
        text = "VARCHAR" if name.upper() in AS_TEXT else name
    while j < len(s) and s[j] == "[":  # LIST (``[]``) or ARRAY (``[3]``)
        k = s.index("]", j) + 1
        text, j = text + s[j:k], k
    return text, j


def _members(s: str, i: int, *, named: bool) -> tuple[list[str], int]:
    """A STRUCT's or UNION's ``name TYPE, ...`` or a MAP's ``KEY, VALUE``, to the ``)``."""
    members = []
    while True:
        while s[i] == " ":
            i += 1
        label = ""
        if named:  # a name as DESCRIBE prints it: "quoted" (with "" inside) or bare
            j = _quoted_end(s, i) if s[i] == '"' else s.index(" ", i)
            label, i = s[i:j] + " ", j + 1
        text, i = _type(s, i)
        members.append(label + text)
        if s[i] == ")":
            return members, i + 1
        if s[i] != ",":
            raise ValueError(f"unexpected {s[i]!r} in a type")
        i += 1


def _quoted_end(s: str, i: int) -> int:
    """The end of the quoted name or string starting at ``s[i]`` (its quote doubled inside)."""
    quote, j = s[i], i + 1
    while True:
        j = s.index(quote, j) + 1
        if j == len(s) or s[j] != quote:
            return j
        j += 1


def _closing(s: str, i: int) -> int:
    """Just past the ``)`` that closes the ``(`` at ``s[i]`` (quotes skipped)."""
    depth = 0
    while True:
        if s[i] in "'\"":
            i = _quoted_end(s, i)
            continue
        depth += {"(": 1, ")": -1}.get(s[i], 0)
        i += 1
        if depth == 0:
            return i
