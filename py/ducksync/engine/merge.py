"""The three-way merge: classify every changed key, apply the conflict policy, pull.

After detection, ``__ds_l`` (local changes) and ``__ds_r`` (remote changes) are
joined with the base into ``__ds_plan`` with one action per key:

==========  =========================================================
``none``    nothing to do
``base``    both sides already hold the same content: only the base moves
``pull``    write the remote version locally
``push``    send the local version (compare-and-swap on ``rh_now``)
``conflict`` both changed differently and the policy is ``manual``
==========  =========================================================

"Same content" is decided with the *local* hash of the fetched remote row, so a
remote whose hash function changed (engine upgrade) costs a transfer, never a
false conflict; and a remote row equal to the base is not a remote change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ducksync.engine import sqlbuild as sb
from ducksync.engine.detect import Transfer
from ducksync.engine.schema import Shape
from ducksync.engine.state import (
    base_rh_sql,
    base_rk_sql,
    base_table,
    conflict_rows_table,
    key_text_sql,
    stored_hashes_sql,
)
from ducksync.engine.store import LocalStore, RemoteStore
from ducksync.engine.transaction import transaction
from ducksync.errors import DucksyncError, InvalidOptionError

__all__ = ["POLICY_NAMES", "ConflictCase", "Policy", "apply_policy", "apply_pull", "build_plan",
           "checked_policy", "fetch_changed"]


@dataclass(frozen=True, kw_only=True)
class ConflictCase:
    """What a Python conflict callable sees: the key and both versions (None: deleted)."""

    table: str
    key: dict[str, Any]
    local: dict[str, Any] | None
    remote: dict[str, Any] | None


Winner = Literal["local", "remote"]
# "remote-wins" | "local-wins" | "manual" | "newest:COLUMN" | callable(case) -> winner
Policy = str | Callable[[ConflictCase], Winner]
POLICY_NAMES = ("remote-wins", "local-wins", "manual", "newest:COLUMN")
P = TypeVar("P", bound=Policy)


def checked_policy(policy: P) -> P:
    """``policy`` if the engine knows it, else :class:`InvalidOptionError` naming the
    valid ones. Checked when the options are made (and by the CLI's ``--conflict``):
    the engine reads the policy only when a conflict shows up, so a typo would surface
    mid-run, after other tables moved."""
    if not isinstance(policy, str) or policy in POLICY_NAMES[:3] or (
            policy.startswith("newest:") and len(policy) > len("newest:")):
        return policy  # a callable decides each conflict itself
    raise InvalidOptionError(f"unknown conflict policy {policy!r}",
                             hint="use " + ", ".join(POLICY_NAMES[:3]) + " or newest:COLUMN")


async def fetch_changed(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer,
                        *, batch_rows: int, batch_bytes: int = 48 << 20,
                        prefetched: bool = False) -> int:
    """Fetch the remote rows of ``__ds_r`` into ``__ds_rt`` (local types + ``__lh``).

    ``prefetched``: the rows are already in ``__ds_rrows`` (append-only path).
    The wanted keys go in requests of at most ``batch_rows`` keys and about
    ``batch_bytes`` bytes (long keys: under the remote's body limit).
    """
    key, t = shape.key, sb.quote_ident(shape.table)
    wanted = (await local.fetch_rows("SELECT count(*) FROM __ds_r WHERE rh_now IS NOT NULL"))[0][0]
    first = not prefetched
    if wanted and not prefetched:
        chunks = [c async for c in local.export_arrow(
            f"SELECT {sb.cols_sql(key)} FROM __ds_r WHERE rh_now IS NOT NULL",
            batch_rows=batch_rows, batch_bytes=batch_bytes)]
        for keys_ipc in chunks:
            xfer.calls += 1
            xfer.sent += len(keys_ipc)
            async for rows in remote.fetch_rows(shape.table, key, keys_ipc,
                                                batch_rows=batch_rows):
                xfer.received += len(rows)
                await local.ingest_arrow("__ds_rrows", rows, append=not first)
                first = False
    src = "__ds_rrows"
    if first:  # nothing fetched: an empty table of the right shape
        src = (f"(SELECT *, NULL::UBIGINT AS __ds_rk, NULL::UBIGINT AS __ds_rh FROM {t} "
               "LIMIT 0)")
    casts = ", ".join(f"CAST({sb.quote_ident(c)} AS {shape.types[c]}) AS {sb.quote_ident(c)}"
                      for c in shape.columns)
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_rt AS SELECT *, {sb.row_hash_sql(shape.types)} "
        f"AS __lh FROM (SELECT {casts}, __ds_rk::UBIGINT AS __ds_rk, __ds_rh::UBIGINT AS __ds_rh"
        f" FROM {src})")
    return int(wanted)


async def build_plan(local: LocalStore, shape: Shape) -> None:
    """Join local changes, remote changes and the base into ``__ds_plan``."""
    key, k0 = shape.key, sb.quote_ident(shape.key[0])
    on_lr = sb.key_join_sql(key, "l", "r")
    coalesced = ", ".join(f"COALESCE(l.{sb.quote_ident(k)}, r.{sb.quote_ident(k)}) AS "
                          f"{sb.quote_ident(k)}" for k in key)
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_lr AS SELECT {coalesced}, "
        f"l.{k0} IS NOT NULL AS in_l, r.{k0} IS NOT NULL AS in_r, l.lh_now AS l_lh, "
        f"rt.__ds_rh AS r_rh, rt.__ds_rk AS r_rk, rt.__lh AS lh_remote FROM __ds_l l FULL OUTER "
        f"JOIN __ds_r r ON {on_lr} LEFT JOIN __ds_rt rt ON {sb.key_join_sql(key, 'r', 'rt')}")
    rh_base = base_rh_sql("b")
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_p0 AS SELECT {sb.cols_sql(key, 'x')}, x.in_l, x.in_r,"
        " CASE WHEN x.in_l THEN x.l_lh ELSE b.__lh END AS lh_now, b.__lh AS lh_base, "
        f"{rh_base} AS rh_base, CASE WHEN x.in_r THEN x.r_rh ELSE {rh_base} END AS rh_now, "
        f"CASE WHEN x.in_r THEN x.r_rk ELSE {base_rk_sql(key, 'b')} END AS rk_now, x.lh_remote "
        f"FROM __ds_lr x LEFT JOIN {base_table(shape.table)} b ON "
        f"{sb.key_join_sql(key, 'x', 'b')}")
    await local.execute(
        "CREATE OR REPLACE TEMP TABLE __ds_p1 AS SELECT *, "
        "in_l AND lh_now IS DISTINCT FROM lh_base AS l_changed, "
        "in_r AND rh_now IS DISTINCT FROM rh_base AND NOT (rh_now IS NOT NULL AND "
        "lh_base IS NOT NULL AND lh_remote = lh_base) AS r_changed, "
        "lh_now IS NOT DISTINCT FROM (CASE WHEN rh_now IS NULL THEN NULL WHEN in_r THEN "
        "lh_remote ELSE lh_base END) AS same FROM __ds_p0")
    await local.execute(
        "CREATE OR REPLACE TEMP TABLE __ds_plan AS SELECT *, CASE "
        "WHEN same AND lh_now IS NOT DISTINCT FROM lh_base AND rh_now IS NOT DISTINCT FROM "
        "rh_base THEN 'none' WHEN same THEN 'base' "
        "WHEN l_changed AND NOT r_changed THEN 'push' WHEN r_changed AND NOT l_changed THEN "
        "'pull' WHEN l_changed AND r_changed THEN 'conflict' ELSE 'none' END AS action, "
        "l_changed AND r_changed AND NOT same AS was_conflict, NULL::VARCHAR AS winner "
        "FROM __ds_p1")


async def _set_winners(local: LocalStore, where: str, params: list[Any], winner_sql: str) -> None:
    await local.execute(
        f"UPDATE __ds_plan SET winner = {winner_sql} WHERE action = 'conflict' {where}", params)


async def apply_policy(local: LocalStore, shape: Shape, policy: Policy) -> int:
    """Turn ``conflict`` actions into pull/push per ``policy``; returns conflicts seen."""
    n = int((await local.fetch_rows(
        "SELECT count(*) FROM __ds_plan WHERE action = 'conflict'"))[0][0])
    if not n or policy == "manual":
        return n
    key, t = shape.key, sb.quote_ident(shape.table)
    if policy == "remote-wins":
        await _set_winners(local, "", [], "'remote'")
    elif policy == "local-wins":
        await _set_winners(local, "", [], "'local'")
    elif isinstance(policy, str) and policy.startswith("newest:"):
        col = policy.split(":", 1)[1]
        if col not in shape.columns:
            raise DucksyncError(f"newest: column {col!r} is not in {shape.table!r}",
                                hint="pass --conflict newest:<timestamp column>")
        c = sb.quote_ident(col)
        await local.execute(
            f"UPDATE __ds_plan AS p SET winner = CASE WHEN p.rh_now IS NULL THEN 'local' "
            f"WHEN p.lh_now IS NULL THEN 'remote' WHEN x.lts > x.rts OR (x.rts IS NULL AND "
            f"x.lts IS NOT NULL) THEN 'local' ELSE 'remote' END FROM (SELECT "
            f"{sb.cols_sql(key, 'q')}, lt.{c} AS lts, rt.{c} AS rts FROM __ds_plan q LEFT JOIN "
            f"{t} lt ON {sb.key_join_sql(key, 'q', 'lt')} LEFT JOIN __ds_rt rt ON "
            f"{sb.key_join_sql(key, 'q', 'rt')}) x WHERE {sb.key_join_sql(key, 'p', 'x')} "
            "AND p.action = 'conflict'")
    elif callable(policy):
        await _callable_winners(local, shape, policy)
    else:
        checked_policy(policy)  # raises: an unknown name
    await local.execute("UPDATE __ds_plan SET action = CASE winner WHEN 'local' THEN 'push' "
                        "ELSE 'pull' END WHERE action = 'conflict'")
    return n


async def _callable_winners(local: LocalStore, shape: Shape,
                            fn: Callable[[ConflictCase], Winner]) -> None:
    """Ask ``fn`` per conflicting key. Conflicts are few, so rows become dicts here only."""
    key, t, cols = shape.key, sb.quote_ident(shape.table), shape.columns
    rows = await local.fetch_rows(
        f"SELECT {key_text_sql(key, 'p')}, {sb.cols_sql(key, 'p')}, lt.{sb.quote_ident(key[0])} "
        f"IS NOT NULL, {sb.cols_sql(cols, 'lt')}, rt.__ds_rh IS NOT NULL, "
        f"{sb.cols_sql(cols, 'rt')} FROM __ds_plan p LEFT JOIN {t} lt ON "
        f"{sb.key_join_sql(key, 'p', 'lt')} LEFT JOIN __ds_rt rt ON "
        f"{sb.key_join_sql(key, 'p', 'rt')} WHERE p.action = 'conflict'")
    nk, nc = len(key), len(cols)
    for row in rows:
        lrow = dict(zip(cols, row[2 + nk:2 + nk + nc], strict=True))
        rrow = dict(zip(cols, row[3 + nk + nc:], strict=True))
        case = ConflictCase(table=shape.table, key=dict(zip(key, row[1:1 + nk], strict=True)),
                            local=lrow if row[1 + nk] else None,
                            remote=rrow if row[2 + nk + nc] else None)
        winner = fn(case)
        if winner not in ("local", "remote"):
            raise DucksyncError(f"conflict callable returned {winner!r}",
                                hint="return 'local' or 'remote'")
        await _set_winners(local, f"AND {key_text_sql(key, '__ds_plan')} = ?", [row[0]],
                           f"'{winner}'")


async def apply_pull(local: LocalStore, shape: Shape, policy_name: str) -> int:
    """One local transaction: write pulled rows, move the base, record conflicts."""
    key, t, base = shape.key, sb.quote_ident(shape.table), base_table(shape.table)
    on_p = sb.key_join_sql(key, "x", "p")
    pulled = int((await local.fetch_rows(
        "SELECT count(*) FROM __ds_plan WHERE action = 'pull'"))[0][0])
    async with transaction(local):
        await local.execute(f"DELETE FROM {t} AS x USING __ds_plan p WHERE {on_p} AND "
                            "p.action = 'pull'")
        await local.execute(
            f"INSERT INTO {t} ({sb.cols_sql(shape.columns)}) SELECT "
            f"{sb.cols_sql(shape.columns, 'x')} FROM __ds_rt x JOIN __ds_plan p ON {on_p} "
            "WHERE p.action = 'pull' AND p.rh_now IS NOT NULL")
        await local.execute(f"DELETE FROM {base} AS x USING __ds_plan p WHERE {on_p} AND "
                            "p.action IN ('pull', 'base')")
        await local.execute(
            f"INSERT INTO {base} SELECT {sb.cols_sql(key)}, "
            f"{stored_hashes_sql(key, '__lh', 'rh_now', 'rk_now')} FROM (SELECT *, CASE "
            "action WHEN 'pull' THEN lh_remote ELSE lh_now END AS __lh FROM __ds_plan WHERE "
            "action IN ('pull', 'base') AND rh_now IS NOT NULL)")
        await local.execute(
            "INSERT INTO ducksync.conflict_log SELECT ?, "
            f"{key_text_sql(key, 'p')}, ?, winner, now() FROM __ds_plan p WHERE was_conflict "
            "AND winner IS NOT NULL", [shape.table, policy_name])
        await _record_conflicts(local, shape)
    return pulled


async def _record_conflicts(local: LocalStore, shape: Shape) -> None:
    """Replace pending conflicts of keys in the plan with the ones found now."""
    key, t, cr = shape.key, sb.quote_ident(shape.table), conflict_rows_table(shape.table)
    await local.execute(f"CREATE TABLE IF NOT EXISTS {cr} AS SELECT *, ''::VARCHAR AS __side, "
                        f"''::VARCHAR AS __key FROM {t} LIMIT 0")
    have = {str(r[0]) for r in await local.fetch_rows(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'ducksync' AND table_name = ?", ["conflict_rows__" + shape.table])}
    for c in shape.columns:  # one statement per *new* column: a wide table has thousands
        if c not in have:
            await local.execute(f"ALTER TABLE {cr} ADD COLUMN IF NOT EXISTS "
                                f"{sb.quote_ident(c)} {shape.types[c]}")
    kt = key_text_sql(key, "p")
    await local.execute(f"DELETE FROM ducksync.conflicts WHERE table_name = ? AND key_text IN "
                        f"(SELECT {kt} FROM __ds_plan p)", [shape.table])
    await local.execute(f"DELETE FROM {cr} WHERE __key IN (SELECT {kt} FROM __ds_plan p)")
    await local.execute(
        "INSERT INTO ducksync.conflicts (table_name, key_text, local_deleted, remote_deleted, "
        f"remote_rh, remote_rk, detected_at) SELECT ?, {kt}, p.lh_now IS NULL, p.rh_now IS NULL, "
        "p.rh_now, p.rk_now, now() FROM __ds_plan p WHERE p.action = 'conflict'", [shape.table])
    for side, src in (("local", t), ("remote", "__ds_rt")):
        await local.execute(
            f"INSERT INTO {cr} BY NAME SELECT {sb.cols_sql(shape.columns, 'x')}, "
            f"'{side}' AS __side, {kt} AS __key FROM {src} x JOIN __ds_plan p ON "
            f"{sb.key_join_sql(key, 'x', 'p')} WHERE p.action = 'conflict'")
