"""SQL fragments built from validated identifiers: the only place SQL text is assembled.

Values always travel as bound ``?`` parameters; only identifiers (quoted with
:func:`quote_ident`) and DuckDB type strings (checked by :func:`check_type`) are
spliced into SQL. The hash and checksum formulas live here because the local
side must recompute the remote's bucket checksums from stored hashes exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ducksync.errors import ProtocolError, SchemaMismatchError

__all__ = [
    "bucket_list",
    "check_type",
    "checksum_sql",
    "cols_sql",
    "exact_value_sql",
    "export_cols_sql",
    "hash_probe_sql",
    "hash_proven",
    "in_buckets_sql",
    "key_hash_sql",
    "key_join_sql",
    "mix_sql",
    "page_end",
    "page_end_sql",
    "parse_checksum",
    "quote_ident",
    "row_hash_sql",
]



def quote_ident(name: str) -> str:
    """``name`` as a DuckDB quoted identifier; rejects empty names and NUL bytes."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise SchemaMismatchError(f"invalid identifier {name!r}",
                                  hint="use a non-empty table or column name")
    return '"' + name.replace('"', '""') + '"'


def cols_sql(columns: Sequence[str], alias: str | None = None) -> str:
    """Comma-separated quoted columns, optionally qualified by ``alias``."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + quote_ident(c) for c in columns)


def in_buckets_sql(rk: str) -> str:
    """``rk % ? IN (…)``: the key hash ``rk`` (SQL) falls in one of the buckets of a
    modulus, both bound: the modulus, then the buckets as :func:`bucket_list`'s text.
    DuckDB plans it as a hash semi join against the list, unnested once."""
    return f"{rk} % ?::UBIGINT IN (SELECT unnest(?::UBIGINT[]))"


def bucket_list(buckets: Sequence[int]) -> str:
    """Bucket ids as the text DuckDB casts to ``UBIGINT[]`` (``'[1, 2]'``), for
    :func:`in_buckets_sql`: one bound VARCHAR, validated ints (nothing spliced).

    Why text and not a Python list: it is what the remote stores bind already (one
    form for both sides of the descent), DuckDB-WASM has no list parameters at all
    (``worker/sql_params.py``) and reads the text faster than a rendered list, and the
    native client converts a list element by element (its per-element search for
    pandas is stopped at the root: ``stores/native.known_without_pandas``). Numbers:
    docs/benchmarks.md.
    """
    return "[" + ", ".join(str(int(b)) for b in buckets) + "]"


def key_join_sql(key: Sequence[str], left: str, right: str) -> str:
    """``left.k1 = right.k1 AND ...`` for joining on the key."""
    return " AND ".join(f"{left}.{quote_ident(k)} = {right}.{quote_ident(k)}" for k in key)


def key_hash_sql(key: Sequence[str], alias: str | None = None) -> str:
    """The key hash (``__ds_rk`` on the remote): bucket = key hash % modulus."""
    return f"hash({cols_sql(key, alias)})"


def row_hash_sql(types: Mapping[str, str], alias: str | None = None) -> str:
    """Row hash of the columns ``types`` names (column → DuckDB type): XOR over columns
    of ``hash(hash(name, value))``, NULL contributing 0.

    Why this shape: a NULL column and a missing column hash alike, so adding a
    nullable column on either side changes no existing row's hash (schema
    evolution without a resync). Each term is hashed again: DuckDB's
    ``hash(name, value)`` is ``f(name) XOR g(value)``, so bare terms cancelled a
    swap of values between two columns (``SET a = b, b = a``) and made two columns
    holding equal values contribute a constant; ``hash()`` of the term (a
    multiply-xorshift finalizer) makes them count. A column whose type DuckDB's
    ``hash()`` folds adds what tells its representations apart
    (:func:`exact_value_sql`). The XORs form a balanced tree, so thousands of
    columns stay far below DuckDB's ``max_expression_depth``. Engine-specific like
    every row hash: each side only ever compares its own.
    """
    prefix = f"{alias}." if alias else ""
    terms = []
    for c in sorted(types):
        ref = prefix + quote_ident(c)
        lit = "'" + c.replace("'", "''") + "'"
        terms.append(f"CASE WHEN {ref} IS NULL THEN 0::UBIGINT ELSE "
                     f"hash(hash({lit}, {exact_value_sql(ref, types[c])})) END")
    return _xor_tree(terms)


def _xor_tree(terms: Sequence[str]) -> str:
    """``xor`` of ``terms`` as a balanced tree: depth log2(n), not n."""
    if len(terms) == 1:
        return terms[0]
    mid = len(terms) // 2
    return f"xor({_xor_tree(terms[:mid])}, {_xor_tree(terms[mid:])})"


# Types whose values DuckDB's hash() and = fold: +0.0/-0.0 and NaN payloads, intervals
# by their normalised length (1 month = 30 days, 1 day = 24 hours).
_FOLDED = {"FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8", "INTERVAL"}
_CONTAINERS = {"STRUCT", "MAP", "UNION", "LIST"}
_QUOTED = re.compile(r"\"(?:[^\"]|\"\")*\"|'(?:[^']|'')*'")


def exact_value_sql(ref: str, type_sql: str) -> str:
    """The arguments ``hash()`` gets for a value of ``type_sql``: ``ref`` alone, unless
    DuckDB's ``hash()`` would fold two representations of it.

    Folded, measured on DuckDB 1.4.3 (WASM) and 1.5.6: a float's 0.0 and -0.0 and its
    NaN payloads (its sign bit is added, and a NaN's bits: other floats hash their bits);
    an interval's months/days/micros (its normalised length is hashed: years, months
    and days are added, which with that length determine micros); inside a container,
    a NULL struct/list/map and an all-NULL struct or empty list (and the float and
    interval cases): there the value's text is added, which shows them (NaN payloads
    inside a container beyond the sign stay unseen, and a container holding a
    TIMESTAMPTZ keeps the plain hash: that text depends on the session's time zone).
    Columns of other types hash as they always did, so their tables keep their hashes
    and speed.
    """
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\[", _QUOTED.sub("", type_sql).upper())
    nesting = sum(1 for w in words if w in _CONTAINERS or w == "[")
    if nesting >= 2 or (nesting and _FOLDED.intersection(words)):
        # A TIMESTAMPTZ's text follows the session's TimeZone (with ICU): a hash must not.
        return ref if "ZONE" in words or "TIMESTAMPTZ" in words else f"{ref}, ({ref})::VARCHAR"
    if nesting:
        return ref
    if "INTERVAL" in words:
        return f"{ref}, year({ref}), month({ref}), day({ref})"
    if _FOLDED.intersection(words):
        # signbit, not `v = 0 OR isnan(v)`: that comparison was most of the cost
        return f"{ref}, signbit({ref}), CASE WHEN isnan({ref}) THEN ({ref})::BIT END"
    return ref


# --- the hash probe: two engines proven to hash alike -------------------------------
# Probe values of every type :func:`hash_proven` admits (literal SQL of a constant
# statement, no data): edges, a NULL, strings inlined and not (12+ bytes), folded floats
# and intervals. Each probe row takes the next value of every type.
_PROBES: dict[str, tuple[str, ...]] = {
    "BOOLEAN": ("true", "false"),
    "TINYINT": ("-128", "7"), "SMALLINT": ("-32768", "300"),
    "INTEGER": ("-2147483648", "42"), "BIGINT": ("-9223372036854775808", "1234567890123"),
    "HUGEINT": ("-170141183460469231731687303715884105728", "12"),
    "UTINYINT": ("255", "0"), "USMALLINT": ("65535", "1"), "UINTEGER": ("4294967295", "2"),
    "UBIGINT": ("18446744073709551615", "3"),
    "UHUGEINT": ("340282366920938463463374607431768211455", "4"),
    "FLOAT": ("'-0.0'", "'1.5'", "'nan'"), "DOUBLE": ("'-0.0'", "'2.25e300'", "'nan'"),
    "DECIMAL(4,1)": ("'-999.9'", "'1.5'"), "DECIMAL(9,2)": ("'1234567.89'", "'-0.01'"),
    "DECIMAL(18,3)": ("'-123456789012345.678'", "'0.001'"),
    "DECIMAL(38,4)": ("'1234567890123456789012345678901234.5678'", "'-1'"),
    "VARCHAR": ("''", "'short'", "'a string longer than twelve bytes'", "'ünïcødé ✓'"),
    "BLOB": ("'\\x00\\xFF\\x10'", "''"),
    "DATE": ("'1970-01-01'", "'2024-02-29'"), "TIME": ("'23:59:59.999999'", "'00:00:00'"),
    "TIMESTAMP": ("'2024-01-01 12:34:56.789012'", "'1900-03-04 05:06:07'"),
    "TIMESTAMP WITH TIME ZONE": ("'2024-01-01 12:34:56.789+00'", "'1969-12-31 23:59:59+00'"),
    "UUID": ("'00000000-0000-0000-0000-000000000000'", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"),
    "INTERVAL": ("'1 month'", "'30 days'", "'1 day 2 hours'"),
}
_PROBE_ROWS = 4  # then one row of NULLs
_DECIMAL = re.compile(r"DECIMAL\(\s*\d+\s*,\s*\d+\s*\)|NUMERIC\(\s*\d+\s*,\s*\d+\s*\)")
_ALIASES = {"INT": "INTEGER", "INT4": "INTEGER", "INT8": "BIGINT", "LONG": "BIGINT",
            "INT2": "SMALLINT", "SHORT": "SMALLINT", "INT1": "TINYINT", "BOOL": "BOOLEAN",
            "FLOAT4": "FLOAT", "REAL": "FLOAT", "FLOAT8": "DOUBLE", "STRING": "VARCHAR",
            "TEXT": "VARCHAR", "BYTEA": "BLOB", "DATETIME": "TIMESTAMP",
            "TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE", "DECIMAL": "DECIMAL(18,3)"}


def hash_proven(type_sql: str) -> bool:
    """True for a column type :func:`hash_probe_sql` probes: two engines whose probes
    answer alike hash its values alike (a DECIMAL of any width: the four widths DuckDB
    stores decimals in are probed)."""
    name = " ".join(type_sql.upper().split())
    return bool(_DECIMAL.fullmatch(name)) or _ALIASES.get(name, name) in _PROBES


def hash_probe_sql() -> str:
    """One row, one VARCHAR: this engine's key hash (:func:`key_hash_sql`) of every
    probed type, alone and as a composite key, and row hash (:func:`row_hash_sql`) of
    probe rows, folded into one number. Equal on two engines: they hash these types
    alike, so one side may compute the other's hashes of the same values (the
    bootstrap does, instead of receiving them). A constant statement: no table read.
    """
    types = {f"c{j}": t for j, t in enumerate(_PROBES)}
    column = {t: c for c, t in types.items()}
    selects = []
    for i in range(_PROBE_ROWS + 1):
        values = ", ".join(
            (f"CAST({lits[i % len(lits)]} AS {t})" if i < _PROBE_ROWS else f"NULL::{t}")
            + f" AS c{j}" for j, (t, lits) in enumerate(_PROBES.items()))
        selects.append(f"SELECT {i} AS i, {values}")
    composite = [column["INTEGER"], column["VARCHAR"], column["DATE"]]
    terms = [row_hash_sql(types), key_hash_sql(composite),
             *(key_hash_sql([c]) for c in types)]
    return (f"SELECT CAST(bit_xor(hash(i, j, t)) AS VARCHAR) FROM (SELECT i, "
            f"unnest(range({len(terms)})) AS j, unnest([{', '.join(terms)}]) AS t FROM "
            f"({' UNION ALL '.join(selects)}))")


# Types DuckDB-WASM 1.32 cannot export to Arrow exactly: without its lossless open flag
# BIT leaves as its raw bytes (a BLOB cast back reads the padding byte as bits) and a
# TIMETZ as a plain TIME (the offset is lost); with the flag every BOOLEAN leaves as
# garbage bytes (arrow.bool8 over a bitmap), so the flag is not used.
_INEXACT_IN_WASM = re.compile(r"\bBIT\b|\bBITSTRING\b|TIME WITH TIME ZONE|\bTIMETZ\b",
                              re.IGNORECASE)


def export_cols_sql(types: Mapping[str, str], columns: Sequence[str]) -> str:
    """``columns`` as a pushed batch exports them: a column whose type (or an element's)
    DuckDB-WASM cannot export exactly travels as its text, which the remote's ``CAST``
    to the table's type reads back exactly; every other column as it is."""
    return ", ".join(
        f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}"
        if c in types and _INEXACT_IN_WASM.search(_QUOTED.sub("", types[c])) else quote_ident(c)
        for c in columns)


def mix_sql(x: str) -> str:
    """A non-linear integer mix of a UBIGINT: ``x XOR (low32(x) * high32(x))``.

    Row hashes are XORs of per-column terms, so a plain XOR over rows is blind to
    values *swapped between rows* (the multiset of column terms is unchanged).
    Mixing each row's term first makes the aggregate see it. Integer-only (no
    ``hash``) so every engine computes it alike; the product of two 32-bit halves
    cannot overflow UBIGINT. Pass a column, not an expression: ``x`` is repeated.
    """
    v = f"({x})::UBIGINT"
    return f"xor({v}, ({v} & 4294967295::UBIGINT) * ({v} >> 32))"


def checksum_sql(rk: str, rh: str) -> str:
    """Aggregate checksum of a bucket from (key hash, row hash) columns: exact integer math.

    ``bit_xor`` of ``mix(mix(rk) XOR rh)`` per row: integer-only, so both engines
    agree (the local side recomputes it from stored hashes), and cheap (HUGEINT
    arithmetic cost 15x more). Both mixes matter: DuckDB's ``hash(k)`` and the row
    hash's key term ``hash('k', k)`` differ by a constant, so a plain ``rk XOR rh``
    dropped the key altogether, and a plain XOR over rows cancels values swapped
    between rows of one bucket (``test_swapped_values_are_seen``). A change goes
    unseen only on a coincidence of the mixed 64-bit terms. The row count travels
    alongside.
    """
    term = f"xor({mix_sql(rk)}, ({rh})::UBIGINT)"
    return f"bit_xor({mix_sql(term)})"


# --- type strings -------------------------------------------------------------------
# A remote creates tables from client-described columns, so type strings are checked
# against a small grammar: TYPE := WORDS [ '(' ARGS ')' ] { '[' [INT] ']' };
# ARGS := ARG { ',' ARG }; ARG := INT | 'string' | TYPE | IDENT TYPE (struct field).
_TOKEN = re.compile(r"""\s*(?:(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>[0-9]+)|(?P<str>'(?:[^']|'')*')|(?P<qid>"(?:[^"]|"")*")|(?P<p>[(),\[\]]))""")  # noqa: E501
_BLANK = re.compile(r"\s*\Z")
_BAD_WORDS = {"SELECT", "FROM", "DEFAULT", "CHECK", "AS", "GENERATED", "REFERENCES",
              "PRIMARY", "UNIQUE", "CONSTRAINT", "COLLATE"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if _BLANK.match(text, pos):  # a match, not text[pos:]: no copy per token
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"unexpected character at {pos}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def check_type(type_sql: str) -> str:
    """Return ``type_sql`` if it is a plain DuckDB type expression, else raise.

    Rejects anything that could smuggle SQL (``;``, comments, subqueries,
    DEFAULT/CHECK clauses, unbalanced parentheses).
    """
    try:
        toks = _tokens(type_sql)
        depth = 0
        for kind, val in toks:
            if kind == "word" and val.upper() in _BAD_WORDS:
                raise ValueError(f"keyword {val}")
            if val in "([":
                depth += 1
            elif val in ")]":
                depth -= 1
                if depth < 0:
                    raise ValueError("unbalanced")
        if depth != 0 or not toks or toks[0][0] != "word":
            raise ValueError("malformed")
    except ValueError as exc:
        raise SchemaMismatchError(
            f"unsupported column type {type_sql!r}: {exc}",
            hint="use a plain DuckDB type such as INTEGER, DECIMAL(18,3) or STRUCT(a INTEGER)",
        ) from None
    return type_sql


def parse_checksum(text: str | None) -> int | None:
    """A checksum sent as decimal text (UBIGINT does not fit a JSON/JS number) → int.

    ``None`` stays ``None``; anything but a decimal UBIGINT is a :class:`ProtocolError`
    (it reaches here from HTTP query strings and worker messages).
    """
    if text is None:
        return None
    if not (isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 20
            and int(text) < 1 << 64):
        raise ProtocolError(f"checksum must be a decimal UBIGINT, got {str(text)[:40]!r}",
                            hint="send the checksum the engine computed, or none")
    return int(text)


def page_end_sql(key: Sequence[str], types: Mapping[str, str], source: str) -> str:
    """One row (or none: an empty ``source``) of a keyset page's end, read by
    :func:`page_end`: its rows, then its largest key's columns as text, each cast to
    ``types`` first. The remote that serves the page and the bootstrap that reads it
    build the same statement, so both give the same cursor text."""
    keys = [f"CAST({quote_ident(k)} AS {types[k]})" for k in key]
    if len(keys) == 1:
        return f"SELECT count(*), CAST(max({keys[0]}) AS VARCHAR) FROM {source}"
    return (f"SELECT (SELECT count(*) FROM {source}), "
            + ", ".join(f"CAST({k} AS VARCHAR)" for k in keys)
            + f" FROM {source} ORDER BY {', '.join(k + ' DESC' for k in keys)} LIMIT 1")


def page_end(rows: Sequence[Sequence[Any]]) -> tuple[int, str | None]:
    """:func:`page_end_sql`'s rows as ``(rows, cursor)``: the cursor is the key's text,
    or a composite key's texts as a JSON list (None: an empty page)."""
    if not rows:
        return 0, None
    n, *last = rows[0]
    if len(last) == 1:
        return int(n), None if last[0] is None else str(last[0])
    return int(n), json.dumps([str(v) for v in last])
