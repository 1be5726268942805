"""Sync rules: which rows of which table each signed-in principal syncs.

Read once at start from a TOML file (``DUCKSYNC_RULES`` / ``ducksync serve --rules``)::

    [tables.todos]
    filter = "owner = $user"      # the rows a principal reads and writes
    access = "read-write"         # or "read"

A table without a section is not synced at all. The filter is a boolean SQL
expression over the table's columns; its only parameters are the verified identity:
``$user`` (the principal's subject) and ``$claims.NAME`` (a claim of its token).
They are *bound* (``?``), never spliced into the SQL text, so a username such as
``x' OR 1=1 --`` is only a value.

The server refuses to start on a file it cannot prove sound (:class:`RulesError`,
naming the table and the problem): TOML syntax, unknown keys or access, a parameter
other than those, a filter that is not exactly one expression (DuckDB's own parser
decides: ``json_serialize_sql``), a subquery or window or a function that reads
settings or files, and, for a table that exists, a filter that does not bind against
its columns. A table that does not exist yet is checked when a client creates it.
Enforcement is the store's (:mod:`ducksync.stores.scope`); this module only turns the
file and a principal into :class:`~ducksync.stores.scope.TableScope` values.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ducksync.engine import sqlbuild as sb
from ducksync.engine.store import ColumnInfo
from ducksync.errors import DucksyncError, ForbiddenError, SchemaMismatchError
from ducksync.server import parse_tree
from ducksync.server.auth import Principal
from ducksync.stores.scope import Scopes, TableScope

__all__ = ["Rules", "RulesError", "TableRule"]

ACCESS: Final = ("read-write", "read")
_PARAM = re.compile(r"\$(user\b|claims\.([A-Za-z_][A-Za-z0-9_]{0,63})\b)")
# Functions a filter may not call beyond those that read outside the row
# (parse_tree.reads_outside): a filter judges each row the same in every read of every
# principal, so nothing random and no session identity (the principal is $user).
_NOT_OF_THE_ROW = frozenset({"random", "uuid", "gen_random_uuid", "current_user",
                             "current_role", "current_database", "current_schema"})
# Claim values a filter can compare with; anything else is refused per request.
_CLAIM_TYPES = (str, int, float, bool)


class RulesError(DucksyncError):
    """The sync rules file is unreadable or unsound; the server does not start."""

    code = "rules"


@dataclass(frozen=True, kw_only=True)
class TableRule:
    """One ``[tables.T]`` section: ``sql`` is the filter with ``?`` for each of
    ``params`` (``("user",)`` or ``("claims", NAME)``), in order."""

    table: str
    filter: str
    sql: str
    params: tuple[tuple[str, ...], ...]
    writable: bool

    def scope(self, who: Principal) -> TableScope:
        """This rule for ``who``: the parameters bound from the verified identity."""
        return TableScope(filter_sql=self.sql, writable=self.writable,
                          params=tuple(self._value(p, who) for p in self.params))

    def _value(self, param: tuple[str, ...], who: Principal) -> Any:
        if param == ("user",):
            return who.subject
        name = param[1]
        value = who.claims.get(name)
        if value is None:
            raise ForbiddenError(
                f"table {self.table!r} is synced by the claim {name!r}, which your sign-in "
                "does not carry", hint="sign in with a token that has that claim")
        if isinstance(value, list) and all(isinstance(v, _CLAIM_TYPES) for v in value):
            return list(value)
        if not isinstance(value, _CLAIM_TYPES):
            raise ForbiddenError(f"the claim {name!r} is not a value a sync rule can compare",
                                 hint="claims used by sync rules are strings, numbers, "
                                      "booleans or lists of them")
        return value


class Rules:
    """Every table's rule; built by :meth:`load` (which validates the file)."""

    def __init__(self, *, source: str, tables: Mapping[str, TableRule]) -> None:
        self.source = source
        self.tables = dict(tables)

    # -- reading the file ------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> Rules:
        """Parse and check ``path`` (everything that needs no database)."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise RulesError(f"cannot read the sync rules file {path}: {exc.strerror}",
                             hint="check DUCKSYNC_RULES / --rules and the file's "
                                  "permissions") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise RulesError(f"the sync rules file {path} is not valid TOML: {exc}",
                             hint="see docs/rules.md for the format") from exc
        return cls.parse(data, source=str(path))

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, source: str = "the rules") -> Rules:
        unknown = set(data) - {"tables"}
        if unknown:
            raise RulesError(f"{source}: unknown top-level key(s) {sorted(unknown)}",
                             hint="the file holds [tables.NAME] sections only")
        tables = data.get("tables")
        if not isinstance(tables, dict) or not tables:
            raise RulesError(f"{source}: no [tables.NAME] section",
                             hint="add one section per synced table (docs/rules.md)")
        rules = {name: _table_rule(source, name, section) for name, section in tables.items()}
        return cls(source=source, tables=rules)

    # -- checks against the database ---------------------------------------------------
    def check_remote(self, cursor: Any) -> None:
        """Every rule of an existing table binds against it, on the remote itself (its
        real types, user-defined ones included): ``SELECT count(*) FROM (SELECT * FROM
        T LIMIT 0) AS T WHERE (filter)`` with NULL parameters. A missing table is
        checked when a client creates it; a read-only one must exist. ``cursor``: a
        native duckdb connection to the remote."""
        import duckdb

        from ducksync.stores import remote_sql as rs

        present = {str(r[0]) for r in cursor.execute(rs.columns_sql(False)).fetchall()}
        for name, rule in self.tables.items():
            if name not in present:
                if not rule.writable:
                    raise RulesError(
                        f"{self.source}: [tables.{name}] is read-only but the remote has no "
                        f"table {name!r}, and a read-only table is never created by a client",
                        hint="create the table on the remote, or remove its section")
                continue
            t = sb.quote_ident(name)
            try:
                cursor.execute(f"SELECT count(*) FROM (SELECT * FROM main.{t} LIMIT 0) AS {t} "
                               f"WHERE ({rule.sql})", [None] * len(rule.params)).fetchall()
            except duckdb.Error as exc:
                raise self._unfit(name, "the table on the remote", exc) from exc

    def _unfit(self, table: str, when: str, exc: Exception) -> RulesError:
        first = str(exc).splitlines()[0]
        return RulesError(f"{self.source}: [tables.{table}] filter "
                          f"{self.tables[table].filter!r} does not fit {when}: {first}",
                          hint="name the table's own columns; see docs/rules.md")

    def check_columns(self, table: str, columns: Iterable[ColumnInfo], *, when: str) -> None:
        """Bind the filter over an empty relation of ``columns`` (the types a client
        asks for, already checked; no remote needed); :class:`RulesError` naming the
        table and DuckDB's complaint."""
        import duckdb

        rule = self.tables[table]
        t = sb.quote_ident(table)
        cols = ", ".join(f"CAST(NULL AS {sb.check_type(c['type'])}) AS {sb.quote_ident(c['name'])}"
                         for c in columns)
        sql = f"WITH {t} AS (SELECT {cols}) SELECT count(*) FROM {t} WHERE ({rule.sql})"
        with duckdb.connect(":memory:") as con:
            try:
                con.execute(sql, [None] * len(rule.params)).fetchall()
            except duckdb.Error as exc:
                raise self._unfit(table, when, exc) from exc

    def check_create(self, table: str, columns: Iterable[ColumnInfo]) -> None:
        """A client creates ``table``: allowed only when it may write it and the filter
        fits the columns it asks for (else the table would be unusable)."""
        rule = self.tables[table]
        if not rule.writable:
            raise ForbiddenError(f"table {table!r} is read-only for you: it cannot be created",
                                 hint="ask the operator to create it on the remote")
        try:
            self.check_columns(table, columns, when="the table as the client would create it")
        except RulesError as exc:
            raise SchemaMismatchError(exc.message, hint="create the table with the columns "
                                      "its sync rule names, or ask the operator") from exc

    # -- per request -------------------------------------------------------------------
    def scopes_for(self, who: Principal, table: str | None = None) -> Scopes:
        """``who``'s rows of each table whose parameters ``who`` can fill (a table
        ruled by a claim ``who`` does not carry is not synced for them). ``table``:
        one the caller asks for, refused with the reason when ``who`` cannot."""
        if table is not None and table in self.tables:
            self.tables[table].scope(who)  # raises ForbiddenError saying why
        out = {}
        for name, rule in self.tables.items():
            try:
                out[name] = rule.scope(who)
            except ForbiddenError:
                continue
        return out

    def allows(self, table: str) -> bool:
        return table in self.tables


def _table_rule(source: str, name: str, section: Any) -> TableRule:
    where = f"{source}: [tables.{name}]"
    if not re.fullmatch(r"[^\W\d]\w{0,127}", name) or name.lower().startswith("__ds"):
        raise RulesError(f"{where}: not a table name ducksync syncs",
                         hint="letters, digits and _, not starting with a digit or __ds")
    if not isinstance(section, dict):
        raise RulesError(f"{where} is not a section", hint=f"write [tables.{name}]")
    unknown = set(section) - {"filter", "access"}
    if unknown:
        raise RulesError(f"{where}: unknown key(s) {sorted(unknown)}",
                         hint="a table's section has filter and access")
    text = section.get("filter")
    if not isinstance(text, str) or not text.strip():
        raise RulesError(f"{where}: no filter", hint='write filter = "owner = $user" '
                         '(or filter = "true" for rows everyone shares)')
    access = section.get("access", "read-write")
    if access not in ACCESS:
        raise RulesError(f"{where}: access = {access!r}", hint='use "read-write" or "read"')
    sql, params = _bind(where, text)
    _check_expression(where, text, sql, len(params))
    return TableRule(table=name, filter=text, sql=sql, params=params,
                     writable=access == "read-write")


def _outside_quotes(text: str) -> Iterator[tuple[int, str]]:
    """``(position, character)`` of ``text`` outside '…' strings and "…" identifiers."""
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""  # a doubled quote closes and reopens: same result
            continue
        if ch in "'\"":
            quote = ch
            continue
        yield i, ch


def _bind(where: str, text: str) -> tuple[str, tuple[tuple[str, ...], ...]]:
    """The filter with each ``$user``/``$claims.NAME`` replaced by ``?``, and the
    parameters in order. Refuses what would make the expression more than one:
    ``;``, comments, a ``?`` of its own, any other ``$`` parameter."""
    out, params, skip, depth = [], [], -1, 0
    for i, ch in _outside_quotes(text):
        if i < skip:
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:  # would close the parenthesis the filter is wrapped in
            raise RulesError(f"{where}: the filter closes a parenthesis it did not open",
                             hint="a filter is one expression with balanced parentheses")
        if ch == ";" or text.startswith(("--", "/*"), i):
            raise RulesError(f"{where}: the filter holds {';' if ch == ';' else 'a comment'}",
                             hint="a filter is one expression, without ; or comments")
        if ch == "?":
            raise RulesError(f"{where}: the filter holds a ?",
                             hint="parameters are $user and $claims.NAME")
        if ch == "$":
            found = _PARAM.match(text, i)
            if found is None:
                bad = re.match(r"\$[\w.]*", text[i:])
                raise RulesError(f"{where}: unknown parameter {bad.group(0) if bad else '$'!r}",
                                 hint="parameters are $user (the signed-in subject) and "
                                      "$claims.NAME (a claim of the sign-in token)")
            out.append((i, found.end(), "?"))
            params.append(("user",) if found.group(2) is None else ("claims", found.group(2)))
            skip = found.end()
    if depth:
        raise RulesError(f"{where}: the filter leaves a parenthesis open",
                         hint="a filter is one expression with balanced parentheses")
    sql, last = [], 0
    for start, end, repl in out:
        sql.append(text[last:start] + repl)
        last = end
    sql.append(text[last:])
    return "".join(sql), tuple(params)


def _check_expression(where: str, text: str, sql: str, n_params: int) -> None:
    """DuckDB's parser must see exactly ``SELECT 1 WHERE (<one expression>)`` with
    ``n_params`` parameters and nothing that reads beyond the row: no subquery, no
    window, no denied function."""
    import duckdb

    probe = f"SELECT 1 WHERE ({sql})"
    with duckdb.connect(":memory:") as con:
        try:
            (raw,) = con.execute("SELECT json_serialize_sql(?)", [probe]).fetchone() or ("",)
        except duckdb.Error as exc:
            raise RulesError(f"{where}: cannot check the filter: {exc}") from exc
    tree = json.loads(raw)
    if tree.get("error"):
        raise RulesError(f"{where}: the filter {text!r} does not parse: "
                         f"{tree.get('error_message', 'syntax error')}",
                         hint="write one SQL boolean expression over the table's columns")
    statements = tree.get("statements") or []
    node = statements[0].get("node", {}) if len(statements) == 1 else {}
    shape_ok = (node.get("type") == "SELECT_NODE" and len(node.get("select_list", [])) == 1
                and node.get("from_table", {}).get("type") == "EMPTY"
                and not node.get("cte_map", {}).get("map") and not node.get("modifiers")
                and not node.get("group_expressions") and node.get("having") is None
                and node.get("qualify") is None)
    if not shape_ok:
        raise RulesError(f"{where}: the filter {text!r} is not one expression",
                         hint="write one SQL boolean expression over the table's columns")
    found = 0
    for item in parse_tree.nodes(node.get("where_clause")):
        kind, cls = item.get("type"), item.get("class")
        if cls == "SUBQUERY" or kind in ("SELECT_NODE", "BASE_TABLE", "TABLE_FUNCTION"):
            raise RulesError(f"{where}: the filter reads another table (a subquery)",
                             hint="a filter may only name the row's own columns")
        if cls == "WINDOW":
            raise RulesError(f"{where}: the filter uses a window function",
                             hint="a filter judges each row on its own")
        if cls == "FUNCTION":
            fn = str(item.get("function_name", "")).lower()
            if parse_tree.reads_outside(fn) or fn in _NOT_OF_THE_ROW:
                raise RulesError(f"{where}: the filter calls {fn}(), which is not allowed",
                                 hint="a filter may call functions of the row's values only")
        if cls == "PARAMETER":
            found += 1
    if found != n_params:
        raise RulesError(f"{where}: the filter's parameters do not add up",
                         hint="use $user and $claims.NAME only")
