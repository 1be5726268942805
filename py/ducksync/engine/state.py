"""The engine's durable state, kept in schema ``ducksync`` of the *local* database.

Why in the local database: state must commit in the same transaction as the rows
it describes, so a crash can never leave the base ahead of (or behind) the data.

* ``ducksync.tables``   one row per synced table: its key, last sync time, the
  append-only cursor (``watermark`` value of column ``wm_column``), the remote it is
  tied to, the base's whole-table sums (:class:`Stored`) and the columns both sides
  held (:class:`Agreed`: what tells a dropped table or column from a new one), and
  the PRIMARY KEY a table created here for a bootstrap is still owed (``pending_key``).
* ``ducksync."base__T"`` per table: key columns + ``__lh`` (local row hash),
  ``__rhd`` (remote row hash) and ``__rkd`` (remote key hash) as of the last sync.
  Each side's *own* hash, so engines that hash differently never meet. ``__rhd`` and
  ``__rkd`` are NULL where they equal what the row derives (:func:`base_rh_sql`,
  :func:`base_rk_sql`; written by :func:`stored_hashes_sql`); bases from before were
  ``__rh``/``__rk``, always set, and are renamed (:func:`ensure_state`).
* ``ducksync.outbox``   batch ids sent but whose results are not yet recorded.
* ``ducksync."bulk_sent__T"`` while a bulk push of ``T`` runs: what each of its batches
  sent (batch number, key hash, row hash), so a batch whose answer was lost can still
  be recorded exactly (``engine/bulk.py``).
* ``ducksync."push_sent__T"``: the keys of each general-push batch whose outbox entry
  is still there (batch id, key columns), committed and deleted with that entry, so a
  batch whose answer was pruned can still be told apart (``engine/push.py``).
* ``ducksync.conflicts`` + ``ducksync."conflict_rows__T"``: pending manual conflicts
  with both versions of the row; ``ducksync.conflict_log`` every conflict decided.
  A conflict is named by its key's label (:func:`key_text_sql`).
* ``ducksync.rejections``: rows a server's sync rules refused (``engine/rejections.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ducksync.engine import sqlbuild as sb
from ducksync.engine.store import ColumnInfo, LocalStore, TableInfo
from ducksync.engine.transaction import transaction
from ducksync.errors import DucksyncError

__all__ = ["Agreed", "Stored", "agreed", "base_rh_sql", "base_rk_sql", "base_table",
           "bind_remote", "bulk_sent_name",
           "bulk_sent_table", "conflict_rows_table", "defer_key_statements",
           "describe_local", "ensure_state", "forget_base_sums", "forget_statements",
           "forget_table", "key_text_sql",
           "known_tables", "parse_key_text", "pending_key", "push_sent_name",
           "push_sent_table", "set_synced_columns", "stored_hashes_sql"]

_DDL = [
    "CREATE SCHEMA IF NOT EXISTS ducksync",
    "CREATE TABLE IF NOT EXISTS ducksync.tables (name VARCHAR PRIMARY KEY, key_cols VARCHAR[], "
    "synced_at TIMESTAMP, watermark VARCHAR)",
    # watermark: the append-only cursor (text of the column's max value), for column
    # wm_column; only a speed hint (every use is verified by checksums).
    "ALTER TABLE ducksync.tables ADD COLUMN IF NOT EXISTS wm_column VARCHAR",
    # remote_id: the remote database the base describes (RemoteStore.remote_id).
    "ALTER TABLE ducksync.tables ADD COLUMN IF NOT EXISTS remote_id VARCHAR",
    # base_n/base_x/base_sum: the base's whole-table sums (detect.BaseSums) as the last
    # sync left it; NULL from before anything writes the base until a sync stores them.
    "ALTER TABLE ducksync.tables ADD COLUMN IF NOT EXISTS base_n BIGINT",
    "ALTER TABLE ducksync.tables ADD COLUMN IF NOT EXISTS base_x UBIGINT",
    "ALTER TABLE ducksync.tables ADD COLUMN IF NOT EXISTS base_sum UBIGINT",
    # synced_columns: the columns both sides held when they last agreed (reconcile):
    # one missing on a side since was dropped there, not added on the other (schema.py).
    "ALTER TABLE ducksync.tables ADD COLUMN IF NOT EXISTS synced_columns VARCHAR[]",
    "CREATE TABLE IF NOT EXISTS ducksync.outbox (batch_id VARCHAR PRIMARY KEY, "
    "table_name VARCHAR, created_at TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS ducksync.conflicts (table_name VARCHAR, key_text VARCHAR, "
    "local_deleted BOOLEAN, remote_deleted BOOLEAN, remote_rh UBIGINT, remote_rk UBIGINT, "
    "detected_at TIMESTAMP, PRIMARY KEY (table_name, key_text))",
    "CREATE TABLE IF NOT EXISTS ducksync.conflict_log (table_name VARCHAR, key_text VARCHAR, "
    "policy VARCHAR, winner VARCHAR, decided_at TIMESTAMP)",
    # Its presence marks conflict labels of the JSON form (key_text_sql); a state without
    # it labelled composite keys with values joined by '|' (relabelled by ensure_state).
    # A table of its own, not a column: code from before, still open in another tab,
    # inserts into ducksync.conflicts positionally.
    "CREATE TABLE IF NOT EXISTS ducksync.json_key_labels (since TIMESTAMP)",
    # Rows a server with sync rules refused (engine/rejections.py), kept locally and
    # held back while unchanged (local_hash: the refused row's hash, NULL: a delete).
    "CREATE TABLE IF NOT EXISTS ducksync.rejections (table_name VARCHAR, key_text VARCHAR, "
    "reason VARCHAR, local_hash UBIGINT, rejected_at TIMESTAMP, "
    "PRIMARY KEY (table_name, key_text))",
    # boot_cursor: a bootstrap under way (engine/bootstrap.py): the text of the last key
    # whose page committed, in the same transaction as its rows; NULL when none runs.
    "ALTER TABLE ducksync.tables ADD COLUMN IF NOT EXISTS boot_cursor VARCHAR",
    # Which remote tables this device holds (engine/subscriptions.py); the row named ''
    # is the default for tables not listed.
    "CREATE TABLE IF NOT EXISTS ducksync.subscriptions (name VARCHAR PRIMARY KEY, "
    "held BOOLEAN NOT NULL, changed_at TIMESTAMP)",
    # pending_key: the PRIMARY KEY columns a table the engine created here still lacks
    # (created keyless for its bootstrap, engine/keys.py: add_pending_key); NULL: none.
    # Set in the transaction that creates the table, cleared in the one that adds it.
    "ALTER TABLE ducksync.tables ADD COLUMN IF NOT EXISTS pending_key VARCHAR[]",
    # Its presence marks bases whose remote hashes are __rhd/__rkd, NULL where derived
    # (base_rh_sql); a state without it has bases of __rh/__rk, renamed in the
    # transaction that creates it. Renamed, not kept: code from before, still open in
    # another tab, would read a NULL as a value; it now stops at its first read.
    "CREATE TABLE IF NOT EXISTS ducksync.derived_base_hashes (since TIMESTAMP)",
]


def base_table(table: str) -> str:
    """Quoted name of the base table of ``table``."""
    return "ducksync." + sb.quote_ident("base__" + table)


# --- the base's remote hashes: stored only when not derived ---------------------------
# A base row's remote hashes mostly equal what the row itself gives: ``__rhd`` its
# ``__lh`` (both engines hash the row alike) and ``__rkd`` the local key hash of its key
# columns. Those 16 bytes a row do not compress (most of the base's size on disk, and of
# its inserts' time: docs/benchmarks.md), so a writer stores NULL for them, read as
# "as derived". Old bases keep their
# values: reading them is the same. Every reader of ``__rhd``/``__rkd`` goes through
# the two functions below; every writer of a base row writes all three hashes (no
# statement sets ``__lh`` alone, which would move a derived ``__rhd`` with it).


def base_rh_sql(alias: str | None = None) -> str:
    """The remote row hash of the base row ``alias`` (NULL stored: its ``__lh``).
    NULL only where no base row is (an outer join's missing side)."""
    p = f"{alias}." if alias else ""
    return f"COALESCE({p}__rhd, {p}__lh)"


def base_rk_sql(key: Sequence[str], alias: str | None = None) -> str:
    """The remote key hash of the base row ``alias`` (NULL stored: the local key hash
    of its key columns). NULL only where no base row is."""
    p = f"{alias}." if alias else ""
    return f"COALESCE({p}__rkd, {sb.key_hash_sql(key, alias)})"


def stored_hashes_sql(key: Sequence[str], lh: str, rh: str | None, rk: str | None,
                      alias: str | None = None) -> str:
    """``__lh, __rhd, __rkd`` of a base row as stored, from the row's local hash ``lh``
    and the remote's ``rh``/``rk`` (SQL of non-NULL values: columns, since ``lh`` is
    repeated), with ``key`` the key columns of the row (qualified by ``alias``).
    None: known to be as derived (no comparison made). Each is stored NULL where it
    equals the derived value, which :func:`base_rh_sql`/:func:`base_rk_sql` then
    read back exactly."""
    rh_sql = "NULL::UBIGINT" if rh is None else f"NULLIF({rh}, {lh})"
    rk_sql = ("NULL::UBIGINT" if rk is None
              else f"NULLIF({rk}, {sb.key_hash_sql(key, alias)})")
    return f"{lh}, {rh_sql}, {rk_sql}"


def conflict_rows_table(table: str) -> str:
    """Quoted name of the table keeping both versions of conflicting rows."""
    return "ducksync." + sb.quote_ident("conflict_rows__" + table)


def bulk_sent_name(table: str) -> str:
    """Name (in schema ``ducksync``) of the table journaling what a bulk push of
    ``table`` sent."""
    return "bulk_sent__" + table


def bulk_sent_table(table: str) -> str:
    """Quoted, qualified :func:`bulk_sent_name`."""
    return "ducksync." + sb.quote_ident(bulk_sent_name(table))


def push_sent_name(table: str) -> str:
    """Name (in schema ``ducksync``) of the table journaling the keys each unsettled
    batch of a general push of ``table`` sent."""
    return "push_sent__" + table


def push_sent_table(table: str) -> str:
    """Quoted, qualified :func:`push_sent_name`."""
    return "ducksync." + sb.quote_ident(push_sent_name(table))


def _json_text_sql(value: str) -> str:
    """``value`` (VARCHAR) as a JSON string, NULL as ``null``. The escapes run only on
    the rare text that needs them (a quote, a backslash, a control character): no JSON
    extension in DuckDB-WASM's core build."""
    escaped = f"replace(replace({value}, '\\', '\\\\'), '\"', '\\\"')"
    for code in range(32):
        escaped = f"replace({escaped}, chr({code}), '\\u{code:04x}')"
    return (f"CASE WHEN {value} IS NULL THEN 'null' WHEN regexp_matches({value}, "
            f"'[\\x00-\\x1f\"\\\\]') THEN '\"' || {escaped} || '\"' "
            f"ELSE '\"' || {value} || '\"' END")


def key_text_sql(key: list[str], alias: str) -> str:
    """A key's label, how a conflict is named (CLI, page, ``ducksync.conflicts``).

    One column: its value as text (``1``). Several: a JSON array of their texts
    (``["x|y","z"]``), so no two keys share a label: values joined by ``|`` did
    (``('x|y','z')`` and ``('x','y|z')``), and the second conflict then broke every
    sync with a PRIMARY KEY violation. :func:`parse_key_text` reads a label back.
    """
    texts = [f"CAST({alias}.{sb.quote_ident(k)} AS VARCHAR)" for k in key]
    if len(texts) == 1:
        return texts[0]
    return "'[' || " + " || ',' || ".join(_json_text_sql(t) for t in texts) + " || ']'"


def parse_key_text(text: str, n_columns: int) -> list[str | None]:
    """The key values' texts of a label made by :func:`key_text_sql`."""
    if n_columns == 1:
        return [text]
    values = json.loads(text)
    if not isinstance(values, list) or len(values) != n_columns:
        raise ValueError(f"not a key of {n_columns} columns: {text!r}")
    return [None if v is None else str(v) for v in values]


_CREATES = re.compile(r"CREATE TABLE IF NOT EXISTS ducksync\.(\w+) \((\w+) ")
_ADDS = re.compile(r"ALTER TABLE ducksync\.(\w+) ADD COLUMN IF NOT EXISTS (\w+) ")


def _present_sql(ddl: Sequence[str]) -> tuple[str, int]:
    """One catalog query counting what ``ddl`` creates (each table by its first
    column, each added column), and the count when everything is there. Derived
    from the DDL itself, so a new statement is checked without anyone remembering to."""
    pairs = sorted({m.groups() for d in ddl for m in (_CREATES.match(d), _ADDS.match(d)) if m})
    cond = " OR ".join(f"(table_name = '{t}' AND column_name = '{c}')" for t, c in pairs)
    return (f"SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() "
            f"AND schema_name = 'ducksync' AND ({cond})", len(pairs))


async def ensure_state(local: LocalStore, extra: Sequence[str] = ()) -> None:
    """Create the ``ducksync`` schema and its fixed tables, plus ``extra`` DDL of the
    caller's (idempotent). One catalog query when all exist (every sync asks: in the
    browser each statement is a round trip to DuckDB's worker)."""
    ddl = [*_DDL, *extra]
    check, expected = _present_sql(ddl)
    if int((await local.fetch_rows(check))[0][0]) == expected:
        return
    relabel, renamed = await _has_old_key_texts(local), await _bases_of_old_names(local)
    if not relabel and not renamed:
        for statement in ddl:
            await local.execute(statement)
        return
    # In the transaction that creates each marker: it then marks what was changed.
    async with transaction(local):
        for statement in ddl:
            await local.execute(statement)
        if relabel:
            await _relabel_composite_keys(local)
        for name in renamed:
            await _rename_old_hash_columns(local, "ducksync." + sb.quote_ident(name),
                                           ("__rh", "__rk"))


async def _bases_of_old_names(local: LocalStore) -> list[str]:
    """Bases whose remote hashes are still ``__rh``/``__rk`` (see ``_DDL``)."""
    return [str(r[0]) for r in await local.fetch_rows(
        "SELECT table_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'ducksync' AND starts_with(table_name, 'base__') AND "
        "column_name = '__rh' ORDER BY 1")]


async def _has_old_key_texts(local: LocalStore) -> bool:
    """``ducksync.conflicts`` exists without the marker: its labels are the old form."""
    rows = await local.fetch_rows(
        "SELECT count(*) FILTER (WHERE table_name = 'conflicts'), count(*) FILTER (WHERE "
        "table_name = 'json_key_labels') FROM duckdb_tables() WHERE database_name = "
        "current_database() AND schema_name = 'ducksync'")
    return bool(rows[0][0]) and not rows[0][1]


async def _relabel_composite_keys(local: LocalStore) -> None:
    """Old labels of composite keys (values joined by ``|``) → the JSON form, read from
    the rows kept with each conflict (``conflict_rows__T``: a label alone is ambiguous).
    Single-column labels did not change. A conflict whose rows are gone keeps its old
    label (it can still be listed; resolving it needs the rows anyway)."""
    for name, key in await local.fetch_rows(
            "SELECT DISTINCT c.table_name, t.key_cols FROM ducksync.conflicts c JOIN "
            "ducksync.tables t ON t.name = c.table_name WHERE len(t.key_cols) > 1"):
        have = {r[0] for r in await local.fetch_rows(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database()"
            " AND schema_name = 'ducksync' AND table_name = ?", ["conflict_rows__" + name])}
        if not {*key, "__key"} <= have:
            continue
        rows, label = conflict_rows_table(name), key_text_sql(list(key), "x")
        await local.execute(
            f"UPDATE ducksync.conflicts AS c SET key_text = n.label FROM (SELECT DISTINCT "
            f"x.__key, {label} AS label FROM {rows} x) n WHERE c.table_name = ? AND "
            "c.key_text = n.__key", [name])
        await local.execute(f"UPDATE {rows} AS x SET __key = {label}")


async def last_remote(local: LocalStore) -> tuple[str, list[TableInfo]] | None:
    """The remote the last syncs here went to (its id) and the shapes of the tables
    synced with it, as they are here (a sync leaves both sides alike). None: nothing
    synced yet, or with several remotes. A new remote store primes its survey with it."""
    try:
        rows = await local.fetch_rows(
            "SELECT name, remote_id FROM ducksync.tables WHERE remote_id IS NOT NULL")
    except DucksyncError:  # no state here yet
        return None
    remotes = {str(r) for _, r in rows}
    if len(remotes) != 1:
        return None
    infos = [info for name, _ in rows if (info := await describe_local(local, str(name)))]
    return remotes.pop(), infos


async def describe_local(local: LocalStore, table: str) -> TableInfo | None:
    """The local table's columns and primary key, or ``None`` if it does not exist.

    One statement (every sync asks, and in the browser each statement is a round trip
    to DuckDB's worker); ``duckdb_columns()`` gives the same type strings as
    ``information_schema.columns`` at a third of the cost."""
    rows = await local.fetch_rows(
        "SELECT column_name, data_type, is_nullable, (SELECT constraint_column_names FROM "
        "duckdb_constraints() WHERE database_name = current_database() AND schema_name = "
        "'main' AND table_name = ? AND constraint_type = 'PRIMARY KEY' LIMIT 1) "
        "FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = "
        "'main' AND table_name = ? ORDER BY column_index", [table, table])
    if not rows:
        return None
    cols: list[ColumnInfo] = [{"name": n, "type": t, "nullable": bool(nl)}
                              for n, t, nl, _ in rows]
    pk = rows[0][3]
    return {"name": table, "columns": cols, "primary_key": list(pk) if pk else []}


async def list_local_tables(local: LocalStore) -> list[str]:
    """User tables of the local database (schema ``main``)."""
    rows = await local.fetch_rows(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = "
        "current_database() AND table_schema = 'main' AND table_type = 'BASE TABLE' "
        "ORDER BY table_name")
    return [r[0] for r in rows]


@dataclass(frozen=True)
class Stored:
    """What ``ducksync.tables`` holds for a table when a sync starts.

    ``remote_id``: the remote its state is tied to (None: none yet). ``base_sums``:
    ``(n, x, sum)`` of the base as the last sync left it (see ``detect.BaseSums``), or
    None when something may have written the base since (:func:`forget_base_sums`).
    """

    remote_id: str | None = None
    base_sums: tuple[int, int | None, int] | None = None
    boot_cursor: str | None = None  # a bootstrap under way (engine/bootstrap.py)


async def ensure_base(local: LocalStore, table: str, key: list[str],
                      types: dict[str, str], columns: Sequence[str] = ()) -> Stored:
    """Create the base for ``table``; a changed key drops the old base (safe: see docs).

    ``columns``: the columns both sides now hold (recorded for a new table, see
    :class:`Agreed`). Returns the table's :class:`Stored` state, read in the same
    statement."""
    found = await local.fetch_rows(
        "SELECT t.key_cols, t.remote_id, t.base_n, t.base_x, t.base_sum, t.boot_cursor, "
        f"t.pending_key, ({_OLD_NAMES_SQL}), t.name IS NOT NULL FROM (SELECT 1) LEFT JOIN "
        "ducksync.tables t ON t.name = ?", ["base__" + table, table])
    stored = [r[:7] for r in found if r[8]]
    pending = stored[0][6] if stored else None  # kept when the key changes: still owed
    old_names = found[0][7] or ()
    if stored and list(stored[0][0]) != key:
        await local.execute(f"DROP TABLE IF EXISTS {base_table(table)}")
        await local.execute(f"DROP TABLE IF EXISTS {push_sent_table(table)}")  # old key
        await local.execute("DELETE FROM ducksync.tables WHERE name = ?", [table])
        stored, old_names = [], ()
    await _rename_old_hash_columns(local, base_table(table), old_names)
    if not stored:
        await local.execute("INSERT INTO ducksync.tables (name, key_cols, synced_columns, "
                            "pending_key) VALUES (?, ?, ?, ?)",
                            [table, key, list(columns) or None, pending])
    # No PRIMARY KEY index: maintaining it cost most of a 1M-row initial push (insert
    # + commit). Keys stay unique because every writer deletes a key before inserting
    # it in the same transaction (the bulk push inserts only keys new to an empty base).
    # Bases created earlier keep their index; both work.
    await local.execute(_base_ddl(table, key, types))
    if not stored:
        return Stored()
    _, remote_id, n, x, total, boot, _ = stored[0]
    return Stored(remote_id=None if remote_id is None else str(remote_id),
                  base_sums=None if n is None else
                  (int(n), None if x is None else int(x), int(total or 0)),
                  boot_cursor=None if boot is None else str(boot))


# The old names (``__rh``/``__rk``) a base still has: code from before may create a base
# after the marker (an older CLI or tab on this database, a table never synced here).
_OLD_NAMES_SQL: Final = (
    "SELECT list(column_name ORDER BY column_name) FROM duckdb_columns() WHERE "
    "database_name = current_database() AND schema_name = 'ducksync' AND table_name = ? "
    "AND column_name IN ('__rh', '__rk')")


async def _rename_old_hash_columns(local: LocalStore, base: str, old: Sequence[str]) -> None:
    """Give ``base`` (quoted) the names of today (see ``_DDL``): each of ``old`` is a
    column under its old name, always set, so its values read as they are. Each rename
    stands alone: one interrupted between the two leaves the other for the next sync."""
    for name in old:
        await local.execute(f"ALTER TABLE {base} RENAME COLUMN "
                            f"{sb.quote_ident(name)} TO {sb.quote_ident(name + 'd')}")


def _base_ddl(table: str, key: Sequence[str], types: Mapping[str, str]) -> str:
    cols = ", ".join(f"{sb.quote_ident(k)} {sb.check_type(types[k])}" for k in key)
    return (f"CREATE TABLE IF NOT EXISTS {base_table(table)} ({cols}, __lh UBIGINT, "
            "__rhd UBIGINT, __rkd UBIGINT)")


async def forget_base_sums(local: LocalStore, table: str) -> None:
    """Mark ``table``'s stored base sums unknown: run *before* anything writes its base.

    Before, not after: a crash between the two then leaves them unknown (recomputed
    next time), never describing a base that has since changed."""
    await local.execute("UPDATE ducksync.tables SET base_n = NULL, base_x = NULL, "
                        "base_sum = NULL WHERE name = ?", [table])


async def bind_remote(local: LocalStore, table: str, remote_id: str, known: str | None) -> bool:
    """Tie ``table``'s sync state to the remote database ``remote_id``; True if it was
    tied to another one and has been reset. ``known``: the id it is tied to now (from
    :func:`ensure_base`).

    A base says "both sides held this row at the last sync". Against a *different*
    database (another server, a MotherDuck database instead of the proxy's file)
    that is false, and rows missing there would read as remote deletions and be
    deleted here. So the base, its conflicts, cursor and unsent batches go (the
    local rows stay): the next sync is a first sync, which merges by content and
    deletes nothing. A state from before ids were kept (NULL) adopts the id.
    """
    if known == remote_id:
        return False
    reset = known is not None
    async with transaction(local):
        if reset:
            await local.execute(f"DELETE FROM {base_table(table)}")
            await local.execute("DELETE FROM ducksync.conflicts WHERE table_name = ?", [table])
            await local.execute("DELETE FROM ducksync.rejections WHERE table_name = ?", [table])
            await local.execute(f"DROP TABLE IF EXISTS {conflict_rows_table(table)}")
            await local.execute("DELETE FROM ducksync.outbox WHERE table_name = ?", [table])
            await local.execute(f"DROP TABLE IF EXISTS {bulk_sent_table(table)}")
            await local.execute(f"DROP TABLE IF EXISTS {push_sent_table(table)}")
            await local.execute("UPDATE ducksync.tables SET watermark = NULL, wm_column = NULL, "
                                "base_n = NULL, base_x = NULL, base_sum = NULL, "
                                "boot_cursor = NULL WHERE name = ?", [table])
        await local.execute("UPDATE ducksync.tables SET remote_id = ? WHERE name = ?",
                            [remote_id, table])
    return reset


@dataclass(frozen=True)
class Agreed:
    """What both sides held at the last sync of a table with remote ``remote_id``.

    A row in ``ducksync.tables`` exists only once reconcile saw the table on both
    sides (or made it so), so a table missing on one side now was dropped there
    since. ``columns``: the columns both sides held (None: state from before they
    were kept; then a one-sided column counts as new).
    """

    remote_id: str | None
    columns: tuple[str, ...] | None


async def agreed(local: LocalStore, table: str) -> Agreed | None:
    """``table``'s :class:`Agreed`, or None when it was never synced. Asked only when
    the two sides differ (a table or a column missing on one), never on a no-op."""
    rows = await local.fetch_rows(
        "SELECT remote_id, synced_columns FROM ducksync.tables WHERE name = ?", [table])
    if not rows:
        return None
    rid, cols = rows[0]
    return Agreed(remote_id=None if rid is None else str(rid),
                  columns=None if cols is None else tuple(cols))


async def set_synced_columns(local: LocalStore, table: str, columns: Sequence[str]) -> None:
    """Record that both sides now hold ``columns`` (no-op before the table's first sync)."""
    await local.execute("UPDATE ducksync.tables SET synced_columns = ? WHERE name = ?",
                        [list(columns), table])


async def known_tables(local: LocalStore) -> dict[str, bool]:
    """Tables with sync state (a table dropped on a side is still reported), each with
    whether its primary key is still pending (:func:`pending_key`)."""
    return {str(n): bool(p) for n, p in await local.fetch_rows(
        "SELECT name, pending_key IS NOT NULL FROM ducksync.tables")}


def defer_key_statements(table: str, key: Sequence[str], types: Mapping[str, str],
                         remote_id: str | None = None) -> list[tuple[str, list[Any]]]:
    """Record that ``table``, created here without its PRIMARY KEY, gets ``key`` later:
    for the transaction that creates it. Its sync state's row and base are made here
    when new, as :func:`ensure_base` would (whatever lists synced tables finds both).

    ``remote_id``: the caller knows that ``table`` has no state row (read in this sync,
    by the engine, the only writer of ``ducksync.tables``): a plain insert, tied to
    that remote as :func:`bind_remote` would tie it, so the sync reads nothing back
    (:attr:`schema.Shape.state_made`). A row there after all fails the insert (its
    primary key): loud, never a row overwritten. None: the row may exist (tied to
    another remote: :func:`bind_remote` then resets its base), so only its
    ``pending_key`` is set."""
    if remote_id is not None:
        row = ("INSERT INTO ducksync.tables (name, key_cols, synced_columns, pending_key, "
               "remote_id) VALUES (?, ?, ?, ?, ?)",
               [table, list(key), list(types), list(key), remote_id])
    else:
        row = ("INSERT INTO ducksync.tables (name, key_cols, synced_columns, pending_key) "
               "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET pending_key = "
               "excluded.pending_key", [table, list(key), list(types), list(key)])
    return [row, (_base_ddl(table, key, types), [])]


async def pending_key(local: LocalStore, table: str) -> list[str] | None:
    """The PRIMARY KEY columns ``table`` was created without and still lacks, or None.
    Asked only of a table with no primary key (never on a keyed table's sync)."""
    rows = await local.fetch_rows(
        "SELECT pending_key FROM ducksync.tables WHERE name = ?", [table])
    return list(rows[0][0]) if rows and rows[0][0] is not None else None


def forget_statements(table: str) -> list[tuple[str, list[Any]]]:
    """The statements of :func:`forget_table`, for a caller's own transaction."""
    return [(f"DROP TABLE IF EXISTS {base_table(table)}", []),
            (f"DROP TABLE IF EXISTS {conflict_rows_table(table)}", []),
            (f"DROP TABLE IF EXISTS {bulk_sent_table(table)}", []),
            (f"DROP TABLE IF EXISTS {push_sent_table(table)}", []),
            *((f"DELETE FROM ducksync.{t} WHERE table_name = ?", [table])
              for t in ("conflicts", "outbox", "rejections")),
            ("DELETE FROM ducksync.tables WHERE name = ?", [table])]


async def forget_table(local: LocalStore, table: str) -> None:
    """Drop every piece of ``table``'s sync state (base, conflicts, unsent batches):
    its next sync is a first sync, which merges by content and deletes nothing. For a
    table gone on a side (re-downloaded, dropped everywhere, gone on both)."""
    async with transaction(local):
        for sql, params in forget_statements(table):
            await local.execute(sql, params)


def scalar(rows: list[tuple[Any, ...]]) -> Any:
    """First value of the first row, or None."""
    return rows[0][0] if rows else None


async def get_cursor(local: LocalStore, table: str, column: str) -> str | None:
    """The append-only cursor of ``table`` if it was recorded for ``column``."""
    rows = await local.fetch_rows("SELECT watermark FROM ducksync.tables WHERE name = ? AND "
                                  "wm_column = ?", [table, column])
    return rows[0][0] if rows else None


async def set_cursor(local: LocalStore, table: str, column: str) -> None:
    """Cursor := the column's max in the local table (a hint: every use is verified)."""
    await local.execute(
        f"UPDATE ducksync.tables SET wm_column = ?, watermark = (SELECT CAST(max("
        f"{sb.quote_ident(column)}) AS VARCHAR) FROM {sb.quote_ident(table)}) WHERE name = ?",
        [column, table])
