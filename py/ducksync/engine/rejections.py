"""Rows the remote refused (sync rules): kept here, recorded, held back until changed.

A server with sync rules answers a pushed row outside the principal's rows (or in a
table they may only read) ``rejected:<why>`` instead of applying it; the rest of the
batch applies. The engine then keeps the local row as it is (the base does not move,
so it still differs from the remote), records it in ``ducksync.rejections`` with its
local hash, and *holds* it: later syncs do not send it again while the row is
unchanged (it would be refused again). Changing the row (fixing it) sends it again;
:func:`retry` sends it unchanged (the rules changed); :func:`discard` gives it up
(the next sync brings back what the remote holds for it, if anything the user may see).
"""

from __future__ import annotations

from typing import Any, Final

from ducksync.engine import sqlbuild as sb
from ducksync.engine.schema import Shape
from ducksync.engine.state import base_table, ensure_state, forget_base_sums, key_text_sql
from ducksync.engine.store import LocalStore
from ducksync.errors import DucksyncError

__all__ = ["NOT_YOURS", "OUTSIDE", "READ_ONLY", "REASONS", "REJECTED_PREFIX", "discard",
           "hold", "list_rejections", "record", "retry"]

# The answer statuses of refused rows (``__ds_status``), set by the remote store
# (ducksync.stores.scope) and read here.
REJECTED_PREFIX: Final = "rejected:"
READ_ONLY: Final = REJECTED_PREFIX + "read-only"
NOT_YOURS: Final = REJECTED_PREFIX + "not-yours"  # the key is held by a row not yours
OUTSIDE: Final = REJECTED_PREFIX + "outside"  # the row as changed would not be yours
REASONS: Final = {
    READ_ONLY: "the table is read-only for you",
    NOT_YOURS: "the remote holds this key in a row that is not yours",
    OUTSIDE: "the row as changed would not be yours (it fails the table's filter)",
}


async def record(local: LocalStore, shape: Shape, answer: str) -> None:
    """In the caller's transaction: the refused rows of ``answer`` (an apply answer
    in a temp table) replace their keys' earlier rejections; accepted ones clear theirs."""
    named = ", ".join(f"CAST(r.{sb.quote_ident(k)} AS {shape.types[k]}) AS {sb.quote_ident(k)}"
                      for k in shape.key)
    rows = f"(SELECT {named}, r.__ds_lh, r.__ds_status FROM {answer} r)"
    await local.execute(
        f"DELETE FROM ducksync.rejections WHERE table_name = ? AND key_text IN "
        f"(SELECT {key_text_sql(shape.key, 'a')} FROM {rows} a)", [shape.table])
    await local.execute(
        f"INSERT INTO ducksync.rejections SELECT ?, {key_text_sql(shape.key, 'a')}, "
        f"a.__ds_status, a.__ds_lh, now() FROM {rows} a WHERE starts_with(a.__ds_status, ?)",
        [shape.table, REJECTED_PREFIX])


async def hold(local: LocalStore, shape: Shape) -> None:
    """On the plan (``__ds_plan``): a row to push that was refused as it is now is
    held (not sent again); a rejection whose key the plan settles with the remote
    (pulled, or already equal) is over."""
    kt = key_text_sql(shape.key, "p")
    await local.execute(
        f"UPDATE __ds_plan AS p SET action = 'held' FROM ducksync.rejections j WHERE "
        f"p.action = 'push' AND j.table_name = ? AND j.key_text = {kt} AND "
        "j.local_hash IS NOT DISTINCT FROM p.lh_now", [shape.table])
    await local.execute(
        f"DELETE FROM ducksync.rejections WHERE table_name = ? AND key_text IN (SELECT {kt} "
        "FROM __ds_plan p WHERE p.action IN ('pull', 'base'))", [shape.table])


async def list_rejections(local: LocalStore, table: str | None = None) -> list[dict[str, Any]]:
    """Recorded rejections as plain dicts: table, key (its label, what :func:`discard`
    and :func:`retry` take), the reason's code and words, whether the refused change
    was a delete, and when."""
    await ensure_state(local)
    rows = await local.fetch_rows(
        "SELECT table_name, key_text, reason, local_hash IS NULL, rejected_at::VARCHAR FROM "
        "ducksync.rejections WHERE ? IS NULL OR table_name = ? ORDER BY table_name, key_text",
        [table, table])
    return [{"table": t, "key": k, "reason": r, "why": REASONS.get(r, r), "deleted": bool(d),
             "rejected_at": at} for t, k, r, d, at in rows]


async def _key_columns(local: LocalStore, table: str, key_text: str) -> list[str]:
    found = await local.fetch_rows(
        "SELECT t.key_cols FROM ducksync.rejections j JOIN ducksync.tables t ON "
        "t.name = j.table_name WHERE j.table_name = ? AND j.key_text = ?", [table, key_text])
    if not found:
        raise DucksyncError(f"no rejected row with key {key_text!r} in {table!r}",
                            hint="list them with `ducksync rejections LOCAL`")
    return list(found[0][0])


async def retry(local: LocalStore, table: str, key_text: str) -> None:
    """Forget the rejection: the next sync sends the row again as it is (after the
    operator changed the rules, or to see the reason again)."""
    await ensure_state(local)
    await _key_columns(local, table, key_text)
    await local.execute("DELETE FROM ducksync.rejections WHERE table_name = ? AND "
                        "key_text = ?", [table, key_text])


async def discard(local: LocalStore, table: str, key_text: str) -> None:
    """Give the refused change up, in one local transaction: the local row and its
    base entry go, so the next sync brings back the remote's row for that key if the
    user may see it (a pull of a row the base does not know), and nothing otherwise.
    No remote call; nothing is ever sent for it."""
    await ensure_state(local)
    key = await _key_columns(local, table, key_text)
    match = f"{key_text_sql(key, 'x')} = ?"
    await local.execute("BEGIN TRANSACTION")
    try:
        await forget_base_sums(local, table)
        await local.execute(f"DELETE FROM {base_table(table)} AS x WHERE {match}", [key_text])
        await local.execute(f"DELETE FROM {sb.quote_ident(table)} AS x WHERE {match}",
                            [key_text])
        await local.execute("DELETE FROM ducksync.rejections WHERE table_name = ? AND "
                            "key_text = ?", [table, key_text])
        await local.execute("COMMIT")
    except BaseException:
        await local.execute("ROLLBACK")
        raise
