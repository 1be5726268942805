"""Manual conflicts: list them, and resolve one locally (no remote needed).

Resolving only rewrites the local row and the base, so the *next* sync carries
the decision: "take remote" makes the base say both sides hold the remote version;
"take local" makes the base say the remote holds what it held at detection and the
local row differs from the base, so the next sync pushes it with compare-and-swap
against that remote hash (if the remote changed again meanwhile, that is a new
conflict, never an overwrite).
"""

from __future__ import annotations

from typing import Any, Final, Literal

from ducksync.engine import sqlbuild as sb
from ducksync.engine import waiting
from ducksync.engine.state import (
    base_table,
    conflict_rows_table,
    describe_local,
    ensure_state,
    forget_base_sums,
    key_text_sql,
)
from ducksync.engine.store import LocalStore
from ducksync.engine.transaction import transaction
from ducksync.engine.waiting import names_key
from ducksync.errors import DucksyncError

__all__ = ["conflicts_with_versions", "list_conflicts", "names_key", "resolve",
           "table_status"]


_FIELDS: Final = {"local_deleted": "e.local_deleted", "remote_deleted": "e.remote_deleted",
                  "detected_at": "e.detected_at::VARCHAR"}


async def list_conflicts(local: LocalStore, table: str | None = None) -> list[dict[str, Any]]:
    """Pending conflicts as plain dicts (table, key, which side deleted, when).

    ``key`` is the key's label (:func:`~ducksync.engine.state.key_text_sql`), what
    :func:`resolve` takes; ``key_columns``/``key_values`` the same key column by column
    (values as text; None for a label of the old form whose rows were gone).
    """
    return await waiting.listed(local, "conflicts", _FIELDS, table)


async def conflicts_with_versions(local: LocalStore,
                                  table: str | None = None) -> list[dict[str, Any]]:
    """Pending conflicts, each with both versions of the row as text (``local``,
    ``remote``; None for the side that deleted it) and its ``kind``: update/update,
    delete/update (deleted here, changed there), update/delete, or insert/insert (the
    key is new on both sides: not in the base). What a person choosing a side reads."""
    items = await list_conflicts(local, table)
    versions: dict[tuple[str, str, str], str] = {}
    inserted: set[tuple[str, str]] = set()
    for name in sorted({c["table"] for c in items}):
        kept = conflict_rows_table(name)  # the row's columns, without the bookkeeping
        rows = await local.fetch_rows(
            f"SELECT c.__key, c.__side, CAST(__ds_version AS VARCHAR) FROM {kept} c, "
            f"(SELECT * EXCLUDE (__key, __side) FROM {kept} WHERE __key = c.__key AND "
            "__side = c.__side) __ds_version")
        for key, side, text in rows:
            versions[(name, key, side)] = text
        inserted |= {(name, k) for k in await _new_on_both_sides(local, name)}
    for c in items:
        c["kind"] = ("delete/update" if c["local_deleted"] else
                     "update/delete" if c["remote_deleted"] else
                     "insert/insert" if (c["table"], c["key"]) in inserted else
                     "update/update")
        for side in ("local", "remote"):
            c[side] = None if c[f"{side}_deleted"] else versions.get((c["table"], c["key"],
                                                                      side))
    return items


async def _new_on_both_sides(local: LocalStore, table: str) -> list[str]:
    """Conflict keys of ``table`` that the base does not hold (inserted on both sides)."""
    found = await local.fetch_rows("SELECT key_cols FROM ducksync.tables WHERE name = ?",
                                   [table])
    if not found:
        return []
    label = key_text_sql(list(found[0][0]), "b")
    rows = await local.fetch_rows(
        "SELECT key_text FROM ducksync.conflicts WHERE table_name = ? AND key_text NOT IN "
        f"(SELECT {label} FROM {base_table(table)} b WHERE {label} IN "
        "(SELECT key_text FROM ducksync.conflicts WHERE table_name = ?))", [table, table])
    return [str(r[0]) for r in rows]


async def table_status(local: LocalStore) -> list[dict[str, Any]]:
    """Per synced table: key, last sync, base rows, pending conflicts, rejected rows
    (sync rules) and outbox."""
    await ensure_state(local)
    out = []
    for name, key, synced in await local.fetch_rows(
            "SELECT name, key_cols, synced_at::VARCHAR FROM ducksync.tables ORDER BY name"):
        base = await local.fetch_rows(f"SELECT count(*) FROM {base_table(name)}")
        pend = await local.fetch_rows(
            "SELECT (SELECT count(*) FROM ducksync.conflicts WHERE table_name = ?), "
            "(SELECT count(*) FROM ducksync.outbox WHERE table_name = ?), "
            "(SELECT count(*) FROM ducksync.rejections WHERE table_name = ?)",
            [name, name, name])
        out.append({"table": name, "key": list(key), "synced_at": synced,
                    "base_rows": int(base[0][0]), "pending_conflicts": int(pend[0][0]),
                    "pending_rejections": int(pend[0][2]),
                    "outbox_batches": int(pend[0][1])})
    return out


async def resolve(local: LocalStore, table: str, key_text: str,
                  take: Literal["local", "remote"]) -> None:
    """Settle one manual conflict in a single local transaction."""
    found = await waiting.find(local, "conflicts", {
        "local_deleted": "e.local_deleted", "remote_deleted": "e.remote_deleted",
        "rh": "e.remote_rh", "rk": "e.remote_rk"}, table, key_text)
    if take not in ("local", "remote"):
        raise DucksyncError(f"--take must be local or remote, not {take!r}")
    local_deleted, remote_deleted = found["local_deleted"], found["remote_deleted"]
    rh, rk = found["rh"], found["rk"]
    info = await describe_local(local, table)
    if info is None:
        raise DucksyncError(f"table {table!r} is not synced", hint="run `ducksync sync` first")
    key, cols = found["key_columns"], [c["name"] for c in info["columns"]]
    types = {c["name"]: c["type"] for c in info["columns"]}
    t, base, cr = sb.quote_ident(table), base_table(table), conflict_rows_table(table)
    match = f"{key_text_sql(key, 'x')} = ?"
    async with transaction(local):
        await forget_base_sums(local, table)
        await local.execute(f"DELETE FROM {base} AS x WHERE {match}", [key_text])
        if take == "remote":
            await local.execute(f"DELETE FROM {t} AS x WHERE {match}", [key_text])
            if not remote_deleted:
                await local.execute(
                    f"INSERT INTO {t} ({sb.cols_sql(cols)}) SELECT {sb.cols_sql(cols)} FROM {cr} "
                    "WHERE __key = ? AND __side = 'remote'", [key_text])
                await local.execute(
                    f"INSERT INTO {base} SELECT {sb.cols_sql(key)}, {sb.row_hash_sql(types)}, ?, ? "
                    f"FROM {t} AS x WHERE {match}", [rh, rk, key_text])
        elif not remote_deleted:
            # lh differs from the current local row, so the next sync pushes it (CAS on rh).
            lh = "0::UBIGINT" if local_deleted else f"xor({sb.row_hash_sql(types, 'x')}, 1)"
            src = (f"(SELECT {sb.cols_sql(key)} FROM {cr} WHERE __key = ? AND __side = 'remote')"
                   if local_deleted else f"(SELECT * FROM {t} AS x WHERE {match})")
            await local.execute(
                f"INSERT INTO {base} SELECT {sb.cols_sql(key, 'x')}, {lh}, ?, ? FROM {src} AS x",
                [rh, rk, key_text])
        await local.execute("DELETE FROM ducksync.conflicts WHERE table_name = ? AND "
                            "key_text = ?", [table, key_text])
        await local.execute(f"DELETE FROM {cr} WHERE __key = ?", [key_text])
        await local.execute("INSERT INTO ducksync.conflict_log VALUES (?, ?, 'manual', ?, now())",
                            [table, key_text, take])
