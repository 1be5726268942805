"""The remote side's SQL text, shared by every RemoteStore that runs DuckDB SQL itself.

Two stores speak the structured :class:`~ducksync.engine.store.RemoteStore`
protocol by running SQL on a DuckDB that holds the remote tables: the native one
(duckdb + pyarrow, the proxy server and the CLI) and the SQL one (any async
connector, e.g. the browser's direct MotherDuck transport). They must agree on
more than results: both read and write the *same* ledger (schema ``ducksync``),
so a client can switch transport between a batch and its acknowledgement. So the
statements live here once, built from catalog-checked identifiers with
:mod:`ducksync.engine.sqlbuild`; values are always bound ``?`` parameters.
Pure text: no duckdb, no pyarrow (this module runs in Pyodide).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from ducksync.engine import names
from ducksync.engine import sqlbuild as sb
from ducksync.engine.state import key_text_sql
from ducksync.engine.store import ColumnInfo, Survey, TableInfo
from ducksync.errors import (
    DucksyncError,
    InvalidKeyError,
    ProtocolError,
    QueryError,
    ReadOnlyRemoteError,
    SchemaMismatchError,
)

__all__ = [
    "CLAIM", "GUARD", "IDENTITY", "KEY_CHUNK", "LEDGER_CATALOG", "LEDGER_DDL",
    "LEDGER_KEEP_DAYS", "LEDGER_TABLES", "LOOKUP", "ROWS", "SCRATCH", "SCRATCH_CLEAR",
    "SCRATCH_NOW_CLEAR", "TABLE_VERSIONS", "add_column_sql", "answer_columns",
    "answer_shape_sql",
    "bulk_answer_sql", "bulk_checksum_sql", "bulk_result_sql", "cas_statements", "casts_sql",
    "catalog_sql", "check_key", "checksums_sql", "columns_sql", "create_table_sql", "dup_sql",
    "fingerprints_sql",
    "full_rows_sql", "guard_marker", "hashed_sql", "inspect_sql", "is_conflict",
    "is_constraint", "is_missing", "keyed_rows_sql", "keyed_sql", "keys_table_sql",
    "keys_text_sql", "ledger_from_catalog", "no_table", "not_bulk_sql", "primary_keys_sql",
    "prune_sql", "refuse_repeated_keys", "refused_write", "repeated_guard_sql",
    "repeated_keys_sql", "rows_after_params", "rows_after_sql", "rows_by_key_sql",
    "rows_table", "rows_table_sql",
    "scratch_hashes_sql", "scratch_keys_sql", "scratch_now_sql", "shape_signature",
    "split_catalog", "split_tops", "table_checksum_sql", "tables_from_catalog", "tables_sql",
    "write_guard_sql", "written_sql",
]

LEDGER_KEEP_DAYS: Final = 7  # unacknowledged results older than this are pruned
ROWS: Final = names.ROWS_PREFIX  # + table name: answers kept as rows instead of a BLOB
LEDGER_TABLES: Final = names.REMOTE_LEDGER

# Ids stay forever (replay protection, a few bytes each); results only until acked.
# A batch's answer is either one BLOB (ledger_results) or rows of
# ducksync."ledger_rows__<table>" listed in ledger_rowsets (columnar, no WAL'd BLOB),
# or, for a verified (compact) answer, only its checksum in ledger_verified: the client
# holds the hashes.
LEDGER_DDL: Final = (
    "CREATE SCHEMA IF NOT EXISTS ducksync",
    "CREATE TABLE IF NOT EXISTS ducksync.ledger (batch_id VARCHAR PRIMARY KEY, "
    "table_name VARCHAR, applied_at TIMESTAMP, n_rows BIGINT)",
    "CREATE TABLE IF NOT EXISTS ducksync.ledger_results (batch_id VARCHAR "
    "PRIMARY KEY, applied_at TIMESTAMP, result BLOB)",
    "CREATE TABLE IF NOT EXISTS ducksync.ledger_rowsets (batch_id VARCHAR "
    "PRIMARY KEY, applied_at TIMESTAMP, table_name VARCHAR)",
    "CREATE TABLE IF NOT EXISTS ducksync.ledger_verified (batch_id VARCHAR "
    "PRIMARY KEY, applied_at TIMESTAMP, checksum UBIGINT)",
    "CREATE TABLE IF NOT EXISTS ducksync.identity (remote_id VARCHAR)",
    # One row per table, claimed (updated) first by every write transaction of ducksync
    # to that table: two concurrent writers conflict right there (DuckDB's optimistic
    # model: "Conflict on update"), so the loser retries on a snapshot that sees the
    # winner's rows. Without it two bulk pushes into a table without a PRIMARY KEY both
    # committed, and a compare-and-swap DELETE of a row changed by a writer that
    # committed meanwhile succeeded (a lost update).
    "CREATE TABLE IF NOT EXISTS ducksync.table_writes (table_name VARCHAR PRIMARY KEY, "
    "n UBIGINT)",
    # Two engines (MotherDuck: temp tables on the client): a write's keys and the
    # remote's hashes of those rows, so the hashes are computed by a statement over
    # remote tables only (see scratch_hashes_sql). Rows live inside one transaction:
    # inserted and deleted before its COMMIT, never committed, so writers never meet here.
    "CREATE TABLE IF NOT EXISTS ducksync.write_scratch (kind VARCHAR, k VARCHAR[], "
    "rk UBIGINT, rh UBIGINT)",
)
# The claim (see table_writes above): the first statement of every write transaction,
# so the transaction's snapshot starts there (DuckDB starts it at the first statement
# that touches the database).
CLAIM: Final = ("INSERT INTO ducksync.table_writes VALUES (?, 1) ON CONFLICT (table_name) "
                "DO UPDATE SET n = n + 1")
# Every table's write count: the claim above bumps it inside each committed write
# transaction (a rolled-back or replayed batch leaves it), so it is the table's version
# for the change feed (docs/change-feed.md): one small read for all tables.
TABLE_VERSIONS: Final = "SELECT table_name, n FROM ducksync.table_writes"


def fingerprints_sql(entries: Sequence[tuple[TableInfo, Sequence[str]]]) -> str:
    """``(kind, table, value)``: each table's version (``'v'``, from ``table_writes``)
    and its content's fingerprint (``'f'``: whole-table checksum and row count), in
    one statement, so both come from one snapshot (see server/outside_writes.py).
    One ``?`` per entry, as :func:`tops_sql`."""
    versions = f"SELECT 'v' AS kind, table_name AS t, n::VARCHAR AS value FROM ({TABLE_VERSIONS})"
    if not entries:
        return versions
    return (f"{versions} UNION ALL SELECT 'f', t, checksum || ':' || n::VARCHAR "
            f"FROM ({tops_sql(entries)})")
# The database's id (RemoteStore.remote_id): made once; two racing first calls may both
# insert, and every reader then agrees on the smallest.
# ``(read, create)``: read first ('' when the database has no id yet), create only
# then — a write per call cost every sync a commit.
IDENTITY: Final = (
    "SELECT coalesce(min(remote_id), '') FROM ducksync.identity",
    "INSERT INTO ducksync.identity SELECT uuid()::VARCHAR WHERE NOT EXISTS "
    "(SELECT 1 FROM ducksync.identity)",
)
# ``(result BLOB, rows table, verified)`` of an applied batch; no row: never applied.
# No NULLs (empty BLOB, '' table): a browser connector decodes NULL as a JS null proxy.
LOOKUP: Final = (
    "SELECT coalesce(r.result, ''::BLOB), coalesce(s.table_name, ''), "
    "v.batch_id IS NOT NULL FROM ducksync.ledger l "
    "LEFT JOIN ducksync.ledger_results r USING (batch_id) LEFT JOIN "
    "ducksync.ledger_rowsets s USING (batch_id) LEFT JOIN ducksync.ledger_verified v "
    "USING (batch_id) WHERE l.batch_id = ?")
# The ledger's own catalog: ``(table, column, type)`` of every table in schema ducksync
# (its tables, and the ``ledger_rows__<table>`` ones with their columns), read once per
# store, or as part of the survey's catalog (:func:`catalog_sql`, kind 'd').
LEDGER_CATALOG: Final = (
    "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE "
    "table_catalog = current_database() AND table_schema = 'ducksync' "
    "ORDER BY table_name, ordinal_position")

def refused_write(exc: QueryError) -> DucksyncError:
    """``exc`` as the user should see it: a write refused because the database is
    read-only for this account (DuckDB's refusal on a database attached read-only, which
    is how a share or a read-scaling connection is attached) becomes
    :class:`ReadOnlyRemoteError` saying what to do; anything else is returned as is."""
    if "attached in read-only mode" not in exc.message:
        return exc
    return ReadOnlyRemoteError(
        f"the remote database is read-only for this account, so nothing can be synced into "
        f"it: {exc.message}",
        hint="only the account that owns a database writes to it (a share or a read-scaling "
             "token reads): sync through a ducksync server started with the owner's token "
             "(ducksync serve --remote md:DB), or connect with the owner's token")


# -- catalog -------------------------------------------------------------------------
def columns_sql(filtered: bool) -> str:
    """``(table, column, type, nullable)`` of user tables; ``filtered``: one ``?`` table."""
    return ("SELECT table_name, column_name, data_type, is_nullable = 'YES' "
            "FROM information_schema.columns WHERE table_catalog = current_database() "
            "AND table_schema = 'main'" + (" AND table_name = ?" if filtered else "")
            + " ORDER BY table_name, ordinal_position")


def primary_keys_sql(filtered: bool) -> str:
    """``(table, [pk columns])`` of user tables; ``filtered``: one ``?`` table."""
    return ("SELECT table_name, constraint_column_names FROM duckdb_constraints() "
            "WHERE database_name = current_database() AND schema_name = 'main' "
            "AND constraint_type = 'PRIMARY KEY'" + (" AND table_name = ?" if filtered else ""))


def catalog_sql(tops: str = "") -> str:
    """The database's id, every user table's columns and primary keys in one statement:
    ``(kind, table, column, type, nullable, pk columns, id)``, ``kind`` 'i' (the id,
    '' when none yet), 'c' (a column, in table order) or 'p' (a primary key). A survey
    starts with it: one round trip instead of three. No NULLs (a browser connector
    decodes them as JS proxies).

    ``tops``: a :func:`tops_sql` over the shapes the store expects, answered in the same
    statement as kind 't' rows ``('t', table, checksum, '', false, [], '', rows)``: a
    store that knows the catalog surveys in one round trip (:func:`split_tops`)."""
    extra = ("SELECT 't', t, checksum, '', false, []::VARCHAR[], '', n FROM "
             f"({tops}) UNION ALL " if tops else "")
    return (extra + _user_tables_sql(False) + " UNION ALL SELECT 'i', '', '', '', "
            f"false, []::VARCHAR[], ({IDENTITY[0]}), 0 UNION ALL SELECT 'd', table_name, "
            "column_name, data_type, false, []::VARCHAR[], '', ordinal_position FROM "
            "information_schema.columns WHERE table_catalog = current_database() AND "
            "table_schema = 'ducksync' ORDER BY 1, 2, 8")


def _user_tables_sql(filtered: bool) -> str:
    """The 'c' and 'p' rows of :func:`catalog_sql`; ``filtered``: of one table, bound
    twice (``?``, ``?``)."""
    only = " AND table_name = ?" if filtered else ""
    return ("SELECT 'c' AS k, table_name, column_name, data_type, is_nullable = 'YES', "
            "[]::VARCHAR[], '', ordinal_position FROM information_schema.columns WHERE "
            f"table_catalog = current_database() AND table_schema = 'main'{only} UNION ALL "
            "SELECT 'p', table_name, '', '', false, constraint_column_names, '', 0 FROM "
            "duckdb_constraints() WHERE database_name = current_database() AND schema_name "
            f"= 'main' AND constraint_type = 'PRIMARY KEY'{only}")


def tables_sql(filtered: bool) -> str:
    """Every user table's columns and primary key in one statement (one round trip, not
    two): the rows of :func:`catalog_sql` of kinds 'c' and 'p', for
    :func:`split_catalog`; ``filtered``: of one table, its name bound twice."""
    return _user_tables_sql(filtered) + " ORDER BY 1, 2, 8"


def split_tops(found: Iterable[Sequence[Any]]) -> list[tuple[str, str, int]]:
    """The :func:`tops_sql` rows ``(table, checksum, rows)`` of a :func:`catalog_sql`
    answer asked with ``tops``."""
    return [(str(r[1]), str(r[2]), int(r[7])) for r in found if r[0] == "t"]


def split_catalog(found: Iterable[Sequence[Any]]) -> tuple[str, list[TableInfo]]:
    """``(remote id, tables)`` from the rows of :func:`catalog_sql`."""
    rows = list(found)
    remote_id = next((str(r[6]) for r in rows if r[0] == "i"), "")
    cols = [(r[1], r[2], r[3], r[4]) for r in rows if r[0] == "c"]
    pks = [(r[1], r[5]) for r in rows if r[0] == "p"]
    return remote_id, tables_from_catalog(cols, pks)


def ledger_from_catalog(found: Iterable[Sequence[Any]]) -> dict[str, list[tuple[str, str]]]:
    """``{table: [(column, TYPE)…]}`` of schema ducksync, from the rows of
    :data:`LEDGER_CATALOG` or the 'd' rows of :func:`catalog_sql`."""
    out: dict[str, list[tuple[str, str]]] = {}
    for row in found:
        if len(row) == 3:
            table, column, kind = row
        elif row[0] == "d":
            table, column, kind = row[1], row[2], row[3]
        else:
            continue
        out.setdefault(str(table), []).append((str(column), str(kind).upper()))
    return out


def tables_from_catalog(cols: Iterable[Sequence[Any]],
                        pks: Iterable[Sequence[Any]]) -> list[TableInfo]:
    """Assemble :class:`TableInfo` from the rows of :func:`columns_sql` and
    :func:`primary_keys_sql`."""
    keys = {str(t): list(k or []) for t, k in pks}
    out: dict[str, TableInfo] = {}
    for tname, cname, ctype, nullable in cols:
        info = out.setdefault(tname, {"name": tname, "columns": [],
                                      "primary_key": list(keys.get(tname) or [])})
        info["columns"].append({"name": cname, "type": ctype, "nullable": bool(nullable)})
    return list(out.values())


def no_table(table: str) -> SchemaMismatchError:
    """The error for a remote table that does not exist."""
    return SchemaMismatchError(f"remote table {table!r} does not exist",
                               hint="sync it once from a client that has it")


def check_key(info: TableInfo, key: Sequence[str]) -> TableInfo:
    """``info`` when every ``key`` column exists in it; else :class:`SchemaMismatchError`."""
    names = {c["name"] for c in info["columns"]}
    missing = [k for k in key if k not in names]
    if missing or not key:
        raise SchemaMismatchError(
            f"key columns {missing or key} not in remote table {info['name']!r}",
            hint="pass --key with columns that exist on both sides")
    return info


def create_table_sql(table: str, columns: Sequence[ColumnInfo], primary_key: Sequence[str]) -> str:
    """``CREATE TABLE IF NOT EXISTS`` with checked type strings."""
    defs = [f"{sb.quote_ident(c['name'])} {sb.check_type(c['type'])}"
            + ("" if c["nullable"] else " NOT NULL") for c in columns]
    if primary_key:
        defs.append(f"PRIMARY KEY ({sb.cols_sql(primary_key)})")
    return f"CREATE TABLE IF NOT EXISTS {sb.quote_ident(table)} ({', '.join(defs)})"


def drop_table_sql(table: str) -> str:
    """``DROP TABLE IF EXISTS`` (the engine's explicit "drop everywhere", nothing else)."""
    return f"DROP TABLE IF EXISTS {sb.quote_ident(table)}"


def add_column_sql(table: str, column: ColumnInfo) -> str:
    return (f"ALTER TABLE {sb.quote_ident(table)} ADD COLUMN "
            f"{sb.quote_ident(column['name'])} {sb.check_type(column['type'])}")


# -- change detection ----------------------------------------------------------------
def _types(info: TableInfo) -> dict[str, str]:
    """Column → type, what :func:`ducksync.engine.sqlbuild.row_hash_sql` hashes by."""
    return {c["name"]: c["type"] for c in info["columns"]}


def hashed_sql(info: TableInfo, key: Sequence[str], filtered: bool) -> str:
    """``(key…, __ds_rk, __ds_rh)`` of the table's rows; ``filtered``: only rows whose
    ``__ds_rk % ?`` is in the ``?`` UBIGINT list. The filter runs on the key hash
    *before* the row hash, so deeper descent levels hash only their buckets' rows."""
    cols = [c["name"] for c in info["columns"]]
    inner = (f"SELECT {sb.cols_sql(cols)}, {sb.key_hash_sql(key)} AS __ds_rk FROM "
             f"{sb.quote_ident(info['name'])}")
    if filtered:
        inner = f"SELECT * FROM ({inner}) WHERE {sb.in_buckets_sql('__ds_rk')}"
    return (f"SELECT {sb.cols_sql(key)}, __ds_rk, {sb.row_hash_sql(_types(info))} AS __ds_rh "
            f"FROM ({inner})")


def checksums_sql(hashed: str, modulus: int) -> str:
    """Per-bucket checksums over ``hashed``; first ``?`` is the modulus.

    16 B per bucket instead of 24 (bucket ids and counts fit 32 bits): checksum
    lists are most of a pull's bytes. Consumers cast, per the protocol.
    """
    narrow = "UINTEGER" if modulus <= 1 << 32 else "UBIGINT"
    return (f"SELECT (__ds_rk % ?::UBIGINT)::{narrow} AS bucket, "
            f"{sb.checksum_sql('__ds_rk', '__ds_rh')} AS checksum,"
            f" count(*)::UINTEGER AS n FROM ({hashed}) GROUP BY ALL")


def tops_sql(entries: Sequence[tuple[TableInfo, Sequence[str]]]) -> str:
    """``(table, checksum as text, rows)`` of each ``(table, key)``: every whole-table
    checksum of a survey in one statement (one round trip, whatever the table count).
    One ``?`` per entry: the table's name, as it is returned."""
    parts = [f"SELECT ?::VARCHAR AS t, COALESCE({sb.checksum_sql('__ds_rk', '__ds_rh')}, 0)"
             f"::UBIGINT::VARCHAR AS checksum, count(*)::BIGINT AS n "
             f"FROM ({hashed_sql(info, key, False)})" for info, key in entries]
    return " UNION ALL ".join(parts)


def survey_keys(infos: Iterable[TableInfo],
                key: Sequence[str] | None) -> list[tuple[TableInfo, list[str]]]:
    """Each table with the key to checksum it by: ``key`` when all its columns exist,
    else the primary key; an empty key (no checksum) when neither applies."""
    out = []
    for info in infos:
        names = {c["name"] for c in info["columns"]}
        wanted = list(key) if key else list(info["primary_key"])
        out.append((info, wanted if wanted and set(wanted) <= names else []))
    return out


def survey_answer(remote_id: str, keyed: Sequence[tuple[TableInfo, list[str]]],
                  tops: Iterable[Sequence[Any]]) -> Survey:
    """Assemble a :class:`Survey` from :func:`survey_keys` and :func:`tops_sql`'s rows."""
    found = {str(t): (str(c), int(n)) for t, c, n in tops}
    return {"remote_id": remote_id, "tables": [
        {"info": info, "key": k, "checksum": found.get(info["name"], ("0", 0))[0],
         "rows": found.get(info["name"], ("0", 0))[1]} for info, k in keyed]}


def full_rows_sql(info: TableInfo, key: Sequence[str], alias: str,
                  source: str | None = None) -> str:
    """All columns of the table (or of ``source``, rows of it), then ``__ds_rk`` and
    ``__ds_rh``."""
    cols = [c["name"] for c in info["columns"]]
    rh = sb.row_hash_sql(_types(info), alias)
    return (f"SELECT {sb.cols_sql(cols, alias)}, {sb.key_hash_sql(key, alias)} AS __ds_rk, "
            f"{rh} AS __ds_rh FROM {source or sb.quote_ident(info['name'])} AS {alias}")


def keys_table_sql(info: TableInfo, key: Sequence[str], source: str) -> str:
    """Temp ``__ds_keys``: the wanted keys of ``source``, cast to the table's types."""
    types = {c["name"]: c["type"] for c in info["columns"]}
    casts = ", ".join(f"CAST({sb.quote_ident(k)} AS {types[k]}) AS {sb.quote_ident(k)}"
                      for k in key)
    return f"CREATE OR REPLACE TEMP TABLE __ds_keys AS SELECT DISTINCT {casts} FROM {source}"


def rows_by_key_sql(info: TableInfo, key: Sequence[str]) -> str:
    """Full rows whose key is in ``__ds_keys`` (see :func:`keys_table_sql`)."""
    return (full_rows_sql(info, key, "t") + " SEMI JOIN __ds_keys k ON "
            + sb.key_join_sql(key, "t", "k"))


def rows_after_sql(info: TableInfo, key: Sequence[str], column: str | Sequence[str],
                   after: bool, limit: int | None = None, hashes: bool = True) -> str:
    """Rows ordered by ``column``; ``after``: only those above the ``?`` watermark;
    ``limit``: the first ``limit`` of them, hashed after they are chosen (a page);
    ``hashes=False``: the table's columns only (a page whose reader computes them).

    A page of one column is read as a key range, unordered: the ``limit``-th value
    (over that column alone), then every row up to it (exactly ``limit`` rows when the
    column is unique, as a key is; its reader takes the page's ``max``, never its
    order). A top-n sorts whole rows: measurably more of the server's CPU
    (docs/benchmarks.md, issue 17, session 12).

    Several columns (a composite key's keyset pages): ordered by all of them, above
    the tuple ``(?, ?, …)``, one text per column (:func:`rows_after_params`)."""
    types = {c["name"]: c["type"] for c in info["columns"]}
    cols = [column] if isinstance(column, str) else list(column)
    refs = [f"t.{sb.quote_ident(c)}" for c in cols]
    where = ""
    if after and len(cols) == 1:
        where = f" WHERE {refs[0]} > CAST(? AS {types[cols[0]]})"
    elif after:  # the first column's bound lets zone maps skip row groups behind it
        values = ", ".join(f"CAST(? AS {types[c]})" for c in cols)
        where = (f" WHERE {refs[0]} >= CAST(? AS {types[cols[0]]}) AND "
                 f"({', '.join(refs)}) > ({values})")
    order = f" ORDER BY {', '.join(refs)}"
    table = sb.quote_ident(info["name"])
    source, tail = table, where + order
    if limit is not None and len(cols) == 1:
        last = (f"(SELECT max(s.{sb.quote_ident(cols[0])}) FROM (SELECT {refs[0]} FROM "
                f"{table} AS t{where}{order} LIMIT {int(limit)}) s)")
        upto = f"{where} AND {refs[0]} <= {last}" if where else f" WHERE {refs[0]} <= {last}"
        source, tail = f"(SELECT * FROM {table} AS t{upto})", ""
    elif limit is not None:
        source, tail = f"(SELECT * FROM {table} AS t{where}{order} LIMIT {int(limit)})", ""
    if not hashes:
        return f"SELECT {sb.cols_sql(list(types), 't')} FROM {source} AS t{tail}"
    return full_rows_sql(info, key, "t", source) + tail


def rows_after_params(after: str | Sequence[str] | None,
                      limit: int | None = None) -> list[str]:
    """The parameters of :func:`rows_after_sql` for the watermark ``after`` (a page of
    one column, ``limit``: bound twice, in the range and in its last value's read)."""
    if after is None:
        return []
    if isinstance(after, str):
        return [after] if limit is None else [after, after]
    return [after[0], *after]


# -- writes --------------------------------------------------------------------------
def casts_sql(info: TableInfo, present: Iterable[str]) -> str:
    """The batch's columns (``r``) cast to the table's types; absent ones NULL."""
    have = set(present)
    return ", ".join(
        (f"CAST(r.{sb.quote_ident(c['name'])} AS {c['type']})" if c["name"] in have
         else "NULL") + f" AS {sb.quote_ident(c['name'])}" for c in info["columns"])


def dup_sql(key: Sequence[str], source: str) -> str:
    """How many rows of ``source`` repeat a key (0: every key is unique)."""
    return f"SELECT count(*) - count(DISTINCT ({sb.cols_sql(key)})) FROM {source}"


def repeated_keys_sql(key: Sequence[str], source: str) -> str:
    """Keys held by more than one row of ``source``: how many, and up to 3 as labels."""
    label = key_text_sql(list(key), "g")
    return (f"WITH g AS (SELECT {sb.cols_sql(key)} FROM {source} GROUP BY ALL HAVING "
            f"count(*) > 1) SELECT count(*), (SELECT string_agg(s, ', ' ORDER BY s) FROM "
            f"(SELECT {label} AS s FROM g ORDER BY s LIMIT 3)) FROM g")


def refuse_repeated_keys(table: str, key: Sequence[str], found: Sequence[Any], *,
                         in_batch: bool) -> None:
    """Raise when :func:`repeated_keys_sql` ``found`` a key on several rows: of the
    batch (a client that did not check its keys) or of the remote table (rows another
    writer made repeat a key of a table without a primary key: compare-and-swap would
    replace them all and answer once per row)."""
    n, sample = int(found[0] or 0), found[1]
    if not n:
        return
    cols = ", ".join(key)
    if in_batch:
        raise ProtocolError(f"the batch for {table!r} holds {n} key value(s) of ({cols}) more "
                            f"than once, e.g. {sample}")
    raise InvalidKeyError(
        f"the remote table {table!r} has rows its key ({cols}) cannot tell apart: {n} key "
        f"value{'s are' if n > 1 else ' is'} held by more than one row, e.g. {sample}",
        hint=f"give every row a unique ({cols}) on the remote, or pass --key with columns "
             "that identify each row; nothing was written")


def written_sql(casts: str, source: str) -> str:
    """The input cast to the table's types: the same values the table now holds after
    a bulk insert, without reading it back."""
    return f"(SELECT {casts}, r.__ds_lh::UBIGINT AS __ds_lh FROM {source} r)"


def bulk_result_sql(info: TableInfo, key: Sequence[str], casts: str, source: str) -> str:
    """A bulk batch's per-row answer, from the written values (see :func:`written_sql`)."""
    return (f"SELECT {sb.cols_sql(key)}, __ds_lh, 'ok' AS __ds_status, "
            f"{sb.key_hash_sql(key)} AS __ds_rk, {sb.row_hash_sql(_types(info))} AS __ds_rh "
            f"FROM {written_sql(casts, source)}")


def bulk_checksum_sql(info: TableInfo, key: Sequence[str], casts: str, source: str) -> str:
    """``checksum_sql(__ds_rk, __ds_rh)`` of a bulk batch's written values, as decimal
    text (a UBIGINT survives every connector as text); compared with the client's
    prediction for the compact (``verified``) answer."""
    hashed = (f"SELECT {sb.key_hash_sql(key)} AS __ds_rk, {sb.row_hash_sql(_types(info))} "
              f"AS __ds_rh FROM {written_sql(casts, source)}")  # checksum_sql repeats its terms
    return f"SELECT {sb.checksum_sql('__ds_rk', '__ds_rh')}::VARCHAR FROM ({hashed})"


def cas_statements(info: TableInfo, key: Sequence[str], casts: str, source: str,
                   hashes: str | None = None) -> tuple[str, list[str], str]:
    """The compare-and-swap path as ``(load, check_and_write, answer)``.

    ``load`` copies ``source`` cast to the table's types into temp ``__ds_in`` (then
    check :func:`repeated_keys_sql` on it); ``check_and_write`` records each row's
    current hash (``__ds_chk``, first: check :func:`repeated_keys_sql` on it too) and
    status (``__ds_chk2``: ``'ok'`` when it still matches ``__ds_expect``), then deletes
    and inserts the ``'ok'`` rows; ``answer`` is the per-row answer, read back from the
    table after the writes.

    ``hashes``: two engines. The current hashes are then read from that source ``(key…,
    __ds_rk, __ds_rh)`` (:func:`scratch_now_sql`), filled by the remote before the
    check and again before the answer, so no statement that reads a temp table
    computes a hash.
    """
    t = sb.quote_ident(info["name"])
    cols = [c["name"] for c in info["columns"]]
    k0 = sb.quote_ident(key[0])
    load = (f"CREATE OR REPLACE TEMP TABLE __ds_in AS SELECT {casts}, "
            "r.__ds_op::VARCHAR AS __ds_op, r.__ds_expect::UBIGINT AS __ds_expect, "
            f"r.__ds_lh::UBIGINT AS __ds_lh FROM {source} r")
    current, now = (t, sb.row_hash_sql(_types(info), "t")) if hashes is None else \
        (hashes, "t.__ds_rh")
    rk = sb.key_hash_sql(key, "t") if hashes is None else "t.__ds_rk"
    steps = [
        f"CREATE OR REPLACE TEMP TABLE __ds_chk AS SELECT {sb.cols_sql(key, 'i')}, i.__ds_op, "
        f"i.__ds_lh, CASE WHEN t.{k0} IS NULL THEN NULL ELSE {now} END"
        f" AS __ds_cur FROM __ds_in i LEFT JOIN {current} t ON {sb.key_join_sql(key, 'i', 't')}",
        "CREATE OR REPLACE TEMP TABLE __ds_chk2 AS SELECT c.*, CASE WHEN "
        "c.__ds_cur IS NOT DISTINCT FROM i.__ds_expect THEN 'ok' ELSE 'conflict' END "
        f"AS __ds_status FROM __ds_chk c JOIN __ds_in i ON {sb.key_join_sql(key, 'c', 'i')}",
        *_touch(t, cols, key),
        f"DELETE FROM {t} AS t USING __ds_chk2 c WHERE {sb.key_join_sql(key, 't', 'c')} "
        "AND c.__ds_status = 'ok' AND c.__ds_cur IS NOT NULL",
        f"INSERT INTO {t} ({sb.cols_sql(cols)}) SELECT {sb.cols_sql(cols, 'i')} "
        f"FROM __ds_in i JOIN __ds_chk2 c ON {sb.key_join_sql(key, 'i', 'c')} "
        "WHERE c.__ds_status = 'ok' AND i.__ds_op = 'U'",
    ]
    answer = (
        f"SELECT {sb.cols_sql(key, 'c')}, c.__ds_lh, c.__ds_status, "
        f"CASE WHEN t.{k0} IS NULL THEN NULL ELSE {rk} END AS __ds_rk, "
        f"CASE WHEN c.__ds_status = 'conflict' THEN c.__ds_cur WHEN t.{k0} IS NULL THEN NULL "
        f"ELSE {now} END AS __ds_rh "
        f"FROM __ds_chk2 c LEFT JOIN {current} t ON {sb.key_join_sql(key, 'c', 't')}")
    return load, steps, answer


def _touch(t: str, cols: Sequence[str], key: Sequence[str]) -> list[str]:
    """Before the compare-and-swap ``DELETE``: set a column of each row to replace to
    itself. DuckDB (1.5.6, checked) lets a transaction delete a row that another
    writer updated and committed after its snapshot; the update of that row is
    refused ("Conflict on update!"), so a notebook's concurrent edit makes us retry
    (and answer ``conflict``) instead of being overwritten."""
    other = next((c for c in cols if c not in key), None)
    if other is None:
        return []
    col = sb.quote_ident(other)
    return [f"UPDATE {t} AS t SET {col} = t.{col} FROM __ds_chk2 c WHERE "
            f"{sb.key_join_sql(key, 't', 'c')} AND c.__ds_status = 'ok' "
            "AND c.__ds_cur IS NOT NULL"]


# -- two engines: hashes only from statements over remote tables ---------------------
KEY_CHUNK: Final = 2000  # keys bound per statement (a browser connector inlines them)


def keys_text_sql(key: Sequence[str], source: str) -> str:
    """The distinct keys of temp ``source`` as text: data only, no hash, so it may
    run on the client; cast back to the table's types by :func:`keyed_sql`."""
    return (f"SELECT DISTINCT {', '.join(f'CAST({sb.quote_ident(k)} AS VARCHAR)' for k in key)}"
            f" FROM {source}")


def keyed_sql(info: TableInfo, key: Sequence[str], n_keys: int, select: str) -> str:
    """``select`` (over the table as ``t``) restricted to ``n_keys`` keys bound as
    text parameters: a statement that reads the remote table only, so MotherDuck
    runs its hashes on the server, where the checksums run."""
    types = {c["name"]: c["type"] for c in info["columns"]}
    row = "(" + ", ".join("?" for _ in key) + ")"
    names = ", ".join(f"c{i}" for i in range(len(key)))
    casts = ", ".join(f"CAST(c{i} AS {types[k]}) AS {sb.quote_ident(k)}"
                      for i, k in enumerate(key))
    wanted = (f"(SELECT {casts} FROM (VALUES {', '.join(row for _ in range(n_keys))}) "
              f"v({names}))")
    return f"{select} SEMI JOIN {wanted} w ON {sb.key_join_sql(key, 't', 'w')}"


def keyed_rows_sql(info: TableInfo, key: Sequence[str], n_keys: int) -> str:
    """:func:`full_rows_sql` of the rows with the bound keys (see :func:`keyed_sql`)."""
    return keyed_sql(info, key, n_keys, full_rows_sql(info, key, "t"))


def table_checksum_sql(info: TableInfo, key: Sequence[str]) -> str:
    """The whole table's checksum as text (the remote's hashes): with a bulk INSERT
    between two of them in one transaction, their XOR is the inserted rows' checksum
    (a checksum is a ``bit_xor``), computed without reading a temp table."""
    hashed = (f"SELECT {sb.key_hash_sql(key)} AS __ds_rk, {sb.row_hash_sql(_types(info))} "
              f"AS __ds_rh FROM {sb.quote_ident(info['name'])}")  # checksum_sql repeats terms
    return f"SELECT coalesce({sb.checksum_sql('__ds_rk', '__ds_rh')}, 0)::VARCHAR FROM ({hashed})"


def bulk_answer_sql(info: TableInfo, key: Sequence[str], casts: str, source: str,
                    hashes: str) -> str:
    """:func:`bulk_result_sql` with the hashes read from temp ``hashes`` (two engines)."""
    return (f"SELECT {sb.cols_sql(key, 'w')}, w.__ds_lh, 'ok' AS __ds_status, h.__ds_rk, "
            f"h.__ds_rh FROM {written_sql(casts, source)} w JOIN {hashes} h ON "
            f"{sb.key_join_sql(key, 'w', 'h')}")


def answer_shape_sql(source: str) -> str:
    """An answer as rows of ``ledger_rows__<table>``: ``?`` is the batch id."""
    return ("SELECT ?::VARCHAR AS __ds_batch, now()::TIMESTAMP AS __ds_at, * "
            f"FROM {source}")


def rows_table(table: str) -> str:
    """The qualified ``ducksync."ledger_rows__<table>"``."""
    return "ducksync." + sb.quote_ident(ROWS + table)


def prune_sql(rows_tables: Iterable[str]) -> list[str]:
    """Drop answers unacknowledged for LEDGER_KEEP_DAYS (the ids stay in the ledger).

    ``now()::TIMESTAMP``: a DuckDB without ICU (DuckDB-WASM) has no TIMESTAMPTZ - INTERVAL.
    """
    old = f"now()::TIMESTAMP - INTERVAL {LEDGER_KEEP_DAYS} DAY"
    return [f"DELETE FROM ducksync.ledger_results WHERE applied_at < {old}",
            f"DELETE FROM ducksync.ledger_rowsets WHERE applied_at < {old}",
            f"DELETE FROM ducksync.ledger_verified WHERE applied_at < {old}",
            *(f"DELETE FROM ducksync.{sb.quote_ident(name)} WHERE __ds_at < {old}"
              for name in rows_tables)]


def answer_columns(info: TableInfo, key: Sequence[str]) -> list[tuple[str, str]]:
    """``(name, type)`` of an answer kept as rows: batch id, time, key, then the answer."""
    types = {c["name"]: c["type"] for c in info["columns"]}
    return [("__ds_batch", "VARCHAR"), ("__ds_at", "TIMESTAMP"),
            *((k, types[k]) for k in key), ("__ds_lh", "UBIGINT"),
            ("__ds_status", "VARCHAR"), ("__ds_rk", "UBIGINT"), ("__ds_rh", "UBIGINT")]


def rows_table_sql(info: TableInfo, key: Sequence[str]) -> str:
    """``CREATE TABLE IF NOT EXISTS`` the table of answers kept as rows, from the
    catalog: run before (never inside) the write transaction, so two writers' first
    batches do not conflict on the catalog."""
    cols = ", ".join(f"{sb.quote_ident(n)} {sb.check_type(t)}"
                     for n, t in answer_columns(info, key))
    return f"CREATE TABLE IF NOT EXISTS {rows_table(info['name'])} ({cols})"


# -- two engines: the remote's hashes without a round trip through the client ----------
SCRATCH: Final = "ducksync.write_scratch"
SCRATCH_CLEAR: Final = f"DELETE FROM {SCRATCH}"  # only this transaction's rows exist
SCRATCH_NOW_CLEAR: Final = f"DELETE FROM {SCRATCH} WHERE kind = 'now'"


def scratch_keys_sql(key: Sequence[str], source: str) -> str:
    """Copy the distinct keys of ``source`` (a temp table, on the client) into the
    scratch as text: data only, no hash, so it may run on either engine."""
    text = ", ".join(f"CAST({sb.quote_ident(k)} AS VARCHAR)" for k in key)
    return (f"INSERT INTO {SCRATCH} SELECT 'keys', [{text}], NULL, NULL FROM "
            f"(SELECT DISTINCT {sb.cols_sql(key)} FROM {source})")


def _scratch_rows(info: TableInfo, key: Sequence[str], kind: str, extra: str = "") -> str:
    """The scratch's ``kind`` rows with the key cast back to the table's types."""
    types = _types(info)
    casts = ", ".join(f"CAST(k[{i + 1}] AS {types[k]}) AS {sb.quote_ident(k)}"
                      for i, k in enumerate(key))
    return f"(SELECT {casts}{extra} FROM {SCRATCH} WHERE kind = '{kind}')"


def scratch_hashes_sql(info: TableInfo, key: Sequence[str]) -> str:
    """The remote's hashes ('now' rows) of the rows whose keys are in the scratch: a
    statement that reads and writes remote tables only, so MotherDuck runs its hashes
    on the server, where the checksums run (never on the client's engine)."""
    t = sb.quote_ident(info["name"])
    text = ", ".join(f"CAST(t.{sb.quote_ident(k)} AS VARCHAR)" for k in key)
    return (f"INSERT INTO {SCRATCH} SELECT 'now', [{text}], {sb.key_hash_sql(key, 't')}, "
            f"{sb.row_hash_sql(_types(info), 't')} FROM {t} t SEMI JOIN "
            f"{_scratch_rows(info, key, 'keys')} w ON {sb.key_join_sql(key, 't', 'w')}")


def scratch_now_sql(info: TableInfo, key: Sequence[str]) -> str:
    """``(key…, __ds_rk, __ds_rh)`` from :func:`scratch_hashes_sql`: a source for
    :func:`cas_statements` and :func:`bulk_answer_sql` (reading it hashes nothing)."""
    return _scratch_rows(info, key, "now", ", rk AS __ds_rk, rh AS __ds_rh")


# -- guards: a write's checks as statements of its script -------------------------------
# A check whose outcome only decides *whether to go on* need not come back to Python
# before the next statement: it runs inside the script as a SELECT that raises
# ``error('ducksync:<marker>…')`` when it fails, which aborts the transaction; the store
# reads the marker from the error (:func:`guard_marker`). So a write's checks cost no
# round trip of their own.
GUARD: Final = "ducksync:"


def guard_marker(message: str) -> tuple[str, str] | None:
    """``(marker, detail)`` of a failed guard's error message; None: not a guard."""
    at = message.find(GUARD)
    if at < 0:
        return None
    marker, _, detail = message[at + len(GUARD):].partition(":")
    return marker, detail


def shape_signature(info: TableInfo) -> str:
    """The table's columns and primary key as :func:`write_guard_sql` reads them from
    the catalog: a write built on a cached :class:`TableInfo` checks it is still true."""
    cols = ", ".join(f"{c['name']} {c['type']} {'YES' if c['nullable'] else 'NO'}"
                     for c in info["columns"])
    return f"{cols} | {','.join(info['primary_key'])}"


def write_guard_sql() -> str:
    """The first check of a write transaction (after the claim): ``replayed`` when the
    batch is in the ledger already, ``reshaped`` when the table's columns or key are no
    longer :func:`shape_signature`'s. ``?``: batch id, table, table, signature."""
    shape = (
        "(SELECT coalesce(string_agg(column_name || ' ' || data_type || ' ' || is_nullable, "
        "', ' ORDER BY ordinal_position), '') FROM information_schema.columns WHERE "
        "table_catalog = current_database() AND table_schema = 'main' AND table_name = ?) "
        "|| ' | ' || (SELECT coalesce(string_agg(array_to_string(constraint_column_names, "
        "','), ';'), '') FROM duckdb_constraints() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ? AND constraint_type = 'PRIMARY KEY')")
    return (f"SELECT error('{GUARD}replayed') FROM ducksync.ledger WHERE batch_id = ? "
            f"UNION ALL SELECT error('{GUARD}reshaped') WHERE {shape} IS DISTINCT FROM ?")


def not_bulk_sql(info: TableInfo, key: Sequence[str], source: str) -> str:
    """For a table whose primary key is not ``key``: ``not-bulk`` unless the table is
    empty and ``source`` repeats no key (only then may the bulk path insert)."""
    t = sb.quote_ident(info["name"])
    return (f"SELECT error('{GUARD}not-bulk') FROM (SELECT 1 FROM {t} LIMIT 1) UNION ALL "
            f"SELECT error('{GUARD}not-bulk') FROM ({dup_sql(key, source)}) d(n) WHERE n > 0")


def repeated_guard_sql(key: Sequence[str], source: str, *, in_batch: bool) -> str:
    """:func:`repeated_keys_sql` as a guard: ``repeated-batch`` / ``repeated-remote``
    with ``n:sample`` (read back by :func:`refuse_repeated_keys`)."""
    kind = "batch" if in_batch else "remote"
    return (f"SELECT error('{GUARD}repeated-{kind}:' || n || ':' || coalesce(s, '')) "
            f"FROM ({repeated_keys_sql(key, source)}) g(n, s) WHERE n > 0")


def inspect_sql(source: str) -> str:
    """A staged batch in one statement: a row per column ``(name, rows, rows that are
    not an upsert expected absent)`` (any such row: compare-and-swap decides). Scalars
    only (DuckDB-WASM has no ``to_json``: its json extension is not loaded)."""
    return (f"SELECT d.column_name, c.n, c.odd FROM (DESCRIBE {source}) d, (SELECT "
            "count(*)::BIGINT AS n, count(*) FILTER (WHERE __ds_expect IS NOT NULL OR "
            f"__ds_op IS NULL OR __ds_op::VARCHAR <> 'U')::BIGINT AS odd FROM {source}) c")


# -- DuckDB's answers under optimistic concurrency -----------------------------------
def is_conflict(message: str) -> bool:
    """A transaction lost to a concurrent one: retry on a fresh snapshot.

    DuckDB says "Conflict on update!", "Conflict on tuple deletion!", "Catalog
    write-write conflict …", or, when the loser's key violation surfaces only at
    COMMIT, "Failed to commit: PRIMARY KEY or UNIQUE constraint violation"; a key
    committed by another transaction after our snapshot can also fail our INSERT
    itself ("duplicate key").
    """
    text = message.lower()
    return "conflict" in text or "failed to commit" in text or "duplicate key" in text


def is_constraint(message: str) -> bool:
    """A statement refused by a PRIMARY KEY / UNIQUE constraint."""
    return "constraint" in message.lower()


def is_missing(message: str) -> bool:
    """A catalog error: the table (here: the ledger) does not exist."""
    text = message.lower()
    return "does not exist" in text or ("catalog error" in text and "not found" in text)
