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
from ducksync.engine import waiting
from ducksync.engine.schema import Shape
from ducksync.engine.state import base_table, forget_base_sums, key_text_sql
from ducksync.engine.store import LocalStore
from ducksync.engine.transaction import transaction

__all__ = ["NOT_YOURS", "OUTSIDE", "READ_ONLY", "REASONS", "REJECTED_PREFIX", "discard",
           "hold", "list_rejections", "prune", "record", "retry"]

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
    held (not sent again)."""
    kt = key_text_sql(shape.key, "p")
    await local.execute(
        f"UPDATE __ds_plan AS p SET action = 'held' FROM ducksync.rejections j WHERE "
        f"p.action = 'push' AND j.table_name = ? AND j.key_text = {kt} AND "
        "j.local_hash IS NOT DISTINCT FROM p.lh_now", [shape.table])


async def prune(local: LocalStore, shape: Shape) -> None:
    """A rejection holds only while the local row is exactly the refused one (the same
    hash; for a refused delete, still absent): one whose row was changed since (fixed,
    set back to what the remote holds, pulled over) is over. Run at the end of a table's
    sync, only when it has rejections (the join hashes the rejected keys' rows)."""
    x, j = sb.quote_ident(shape.table), "ducksync.rejections"
    await local.execute(
        f"DELETE FROM {j} WHERE table_name = ? AND key_text NOT IN (SELECT r.key_text FROM "
        f"{j} r LEFT JOIN {x} x ON r.key_text = {key_text_sql(shape.key, 'x')} WHERE "
        f"r.table_name = ? AND (CASE WHEN x.{sb.quote_ident(shape.key[0])} IS NULL THEN NULL "
        f"ELSE {sb.row_hash_sql(shape.types, 'x')} END) IS NOT DISTINCT FROM r.local_hash)",
        [shape.table, shape.table])


_FIELDS: Final = {"reason": "e.reason", "deleted": "e.local_hash IS NULL",
                  "rejected_at": "e.rejected_at::VARCHAR"}


async def list_rejections(local: LocalStore, table: str | None = None) -> list[dict[str, Any]]:
    """Recorded rejections as plain dicts: table, key (its label, what :func:`discard`
    and :func:`retry` take; ``key_columns``/``key_values`` as ``waiting.listed`` gives
    them), the reason's code and words, whether the refused change was a delete, and when."""
    return [{**r, "why": REASONS.get(r["reason"], r["reason"])}
            for r in await waiting.listed(local, "rejections", _FIELDS, table)]


async def retry(local: LocalStore, table: str, key_text: str) -> None:
    """Forget the rejection: the next sync sends the row again as it is (after the
    operator changed the rules, or to see the reason again)."""
    await waiting.find(local, "rejections", _FIELDS, table, key_text)
    await local.execute("DELETE FROM ducksync.rejections WHERE table_name = ? AND "
                        "key_text = ?", [table, key_text])


async def discard(local: LocalStore, table: str, key_text: str) -> None:
    """Give the refused change up, in one local transaction: the local row and its
    base entry go, so the next sync brings back the remote's row for that key if the
    user may see it (a pull of a row the base does not know), and nothing otherwise.
    No remote call; nothing is ever sent for it."""
    key = (await waiting.find(local, "rejections", _FIELDS, table, key_text))["key_columns"]
    match = f"{key_text_sql(key, 'x')} = ?"
    async with transaction(local):
        await forget_base_sums(local, table)
        await local.execute(f"DELETE FROM {base_table(table)} AS x WHERE {match}", [key_text])
        await local.execute(f"DELETE FROM {sb.quote_ident(table)} AS x WHERE {match}",
                            [key_text])
        await local.execute("DELETE FROM ducksync.rejections WHERE table_name = ? AND "
                            "key_text = ?", [table, key_text])
