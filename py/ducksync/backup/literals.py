"""SQL expressions that make DuckDB render a column's values as SQL literals.

Why in the database: Python never sees the rows. For each column we build an
expression (from its type string) that DuckDB evaluates per row into the text of
a literal that reads back to the identical value:

* integers, DECIMAL, BOOLEAN: their text as is (exact; DECIMAL text keeps scale);
* VARCHAR: quoted, quotes doubled (newlines, emoji… are fine inside quotes);
* other scalars (floats, HUGEINT, dates, times, TIMESTAMP/TZ, INTERVAL, BLOB,
  UUID, ENUM, BIT…): ``'<DuckDB's own text>'::TYPE``. DuckDB's casts to and from
  VARCHAR round-trip exactly (shortest float text, ``\\xNN`` for BLOB bytes);
* LIST/ARRAY, STRUCT, MAP: built structurally (``[…]``, ``{'f': …}``,
  ``MAP {k: v}``) from their elements, so the script does not depend on how a
  DuckDB version prints nested values; the outer ``::TYPE`` types the elements;
* NULL (at any depth): ``NULL``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ducksync.backup.catalog import sql_string

__all__ = ["DType", "literal_sql", "parse_type"]

_BARE = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
         "UBIGINT", "BOOLEAN", "DECIMAL", "INT", "INT1", "INT2", "INT4", "INT8", "BOOL"}
_TEXT = {"VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR"}


@dataclass
class DType:
    """A parsed type: ``kind`` is LIST, ARRAY, STRUCT, MAP or SCALAR."""

    kind: str
    text: str
    children: list[DType] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # STRUCT field names

    @property
    def base(self) -> str:
        """The scalar's base name without arguments (``DECIMAL`` for ``DECIMAL(18,3)``)."""
        return self.text.split("(", 1)[0].strip().upper()


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses, brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote  # doubled quotes re-enter immediately
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _field(text: str) -> tuple[str, str]:
    """``name TYPE`` of a STRUCT field; the name may be a quoted identifier."""
    if text.startswith('"'):
        i = 1
        while True:
            j = text.index('"', i)
            if text[j + 1:j + 2] == '"':
                i = j + 2
                continue
            return text[1:j].replace('""', '"'), text[j + 1:].strip()
    name, _, rest = text.partition(" ")
    return name, rest.strip()


def parse_type(text: str) -> DType:
    """Parse a type string as ``duckdb_columns().data_type`` prints it."""
    t = text.strip()
    if t.endswith("]"):
        open_at = t.rindex("[")
        inner = parse_type(t[:open_at])
        kind = "LIST" if t[open_at + 1:-1].strip() == "" else "ARRAY"
        return DType(kind, t, [inner])
    upper = t.upper()
    if upper.startswith("STRUCT(") and t.endswith(")"):
        fields = [_field(p) for p in _split_top(t[7:-1])]
        return DType("STRUCT", t, [parse_type(ft) for _, ft in fields], [n for n, _ in fields])
    if upper.startswith("MAP(") and t.endswith(")"):
        key, value = _split_top(t[4:-1])
        return DType("MAP", t, [parse_type(key), parse_type(value)])
    return DType("SCALAR", t)


def _scalar(expr: str, dtype: DType, *, top: bool) -> str:
    if dtype.base in _BARE:
        return f"CAST({expr} AS VARCHAR)"
    text = f"CAST({expr} AS VARCHAR)"
    quoted = f"'''' || replace({text}, '''', '''''') || ''''"
    if dtype.base in _TEXT or not top:
        return quoted
    return f"{quoted} || {sql_string('::' + dtype.text)}"


def _inner(expr: str, dtype: DType, depth: int) -> str:
    """Literal text of a non-NULL value of ``dtype`` (elements may be NULL)."""
    var = f"__ds_x{depth}"
    if dtype.kind in ("LIST", "ARRAY"):
        items = literal_sql(var, dtype.children[0], top=False, depth=depth + 1)
        src = expr if dtype.kind == "LIST" else f"CAST({expr} AS {dtype.children[0].text}[])"
        return (f"'[' || array_to_string(list_transform({src}, lambda {var}: {items}), ', ')"
                " || ']'")
    if dtype.kind == "STRUCT":
        parts = [
            sql_string(sql_string(name) + ": ") + " || "
            + literal_sql(f"struct_extract({expr}, {sql_string(name)})", child, top=False,
                          depth=depth + 1)
            for name, child in zip(dtype.names, dtype.children, strict=True)]
        return "'{' || " + " || ', ' || ".join(parts) + " || '}'"
    if dtype.kind == "MAP":
        key = literal_sql(f"struct_extract({var}, 'key')", dtype.children[0], top=False,
                          depth=depth + 1)
        val = literal_sql(f"struct_extract({var}, 'value')", dtype.children[1], top=False,
                          depth=depth + 1)
        return (f"'MAP {{' || array_to_string(list_transform(map_entries({expr}), "
                f"lambda {var}: {key} || ': ' || {val}), ', ') || '}}'")
    raise AssertionError(dtype.kind)


def literal_sql(expr: str, dtype: DType, *, top: bool = True, depth: int = 0) -> str:
    """A VARCHAR expression: the SQL literal of ``expr``'s value (``NULL`` for NULL)."""
    if dtype.kind == "SCALAR":
        body = _scalar(expr, dtype, top=top)
    else:
        body = _inner(expr, dtype, depth)
        if top:
            body = f"{body} || {sql_string('::' + dtype.text)}"
    return f"CASE WHEN {expr} IS NULL THEN 'NULL' ELSE {body} END"
