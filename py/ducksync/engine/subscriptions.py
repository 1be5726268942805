"""Which remote tables this device holds (its *subscriptions*), kept in the local database.

A device need not hold every table the remote offers (a phone keeps ``todos``, not the
archive). By default it holds every table; a choice is stored per table in
``ducksync.subscriptions`` (``held``), and the row named ``''`` (no table can be
called that) is the default for tables not listed: ``hold_only([...])`` makes it
``false``, so a table the remote gains later is not pulled unasked.

Only the *default* table list of a run is filtered (``sync.default_tables``): naming a
table explicitly (``--table``, ``sync({tables})``) still syncs it. Unsubscribing never
touches the remote: it stops syncing the table here and, if the user asks, drops the
local copy and its sync state (:func:`unsubscribe`); the remote keeps every row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ducksync.engine import sqlbuild as sb
from ducksync.engine import state
from ducksync.engine.keys import add_pending_key
from ducksync.engine.store import LocalStore
from ducksync.engine.transaction import transaction

__all__ = ["Subscriptions", "hold", "hold_only", "read", "unsubscribe"]

_DEFAULT = ""  # the row holding the default for tables not listed


@dataclass(frozen=True)
class Subscriptions:
    """``all``: tables not listed are held; ``choices``: the per-table decisions."""

    all: bool = True
    choices: dict[str, bool] = field(default_factory=dict)

    def holds(self, table: str) -> bool:
        return self.choices.get(table, self.all)

    def filter(self, tables: Iterable[str]) -> list[str]:
        return [t for t in tables if self.holds(t)]

    def to_dict(self) -> dict[str, Any]:
        return {"all": self.all, "held": sorted(t for t, h in self.choices.items() if h),
                "not_held": sorted(t for t, h in self.choices.items() if not h)}


async def read(local: LocalStore) -> Subscriptions:
    """The stored choices (every table held when nothing was chosen)."""
    rows = await local.fetch_rows("SELECT name, held FROM ducksync.subscriptions")
    choices = {str(n): bool(h) for n, h in rows}
    default = choices.pop(_DEFAULT, True)
    return Subscriptions(all=default, choices=choices)


async def _transaction(local: LocalStore, statements: Sequence[tuple[str, list[Any]]]) -> None:
    async with transaction(local):
        for sql, params in statements:
            await local.execute(sql, params)


_PUT = ("INSERT OR REPLACE INTO ducksync.subscriptions (name, held, changed_at) "
        "VALUES (?, ?, now())")


async def hold_only(local: LocalStore, tables: Sequence[str] | None) -> Subscriptions:
    """Hold exactly ``tables`` from now on (None: every table the remote offers).

    Tables held before and not listed now stop syncing; their local copies stay (use
    :func:`unsubscribe` to drop one)."""
    await state.ensure_state(local)
    steps: list[tuple[str, list[Any]]] = [("DELETE FROM ducksync.subscriptions", [])]
    if tables is not None:
        steps.append((_PUT, [_DEFAULT, False]))
        steps += [(_PUT, [str(t), True]) for t in dict.fromkeys(tables)]
    await _transaction(local, steps)
    return await read(local)


async def hold(local: LocalStore, table: str) -> Subscriptions:
    """Hold ``table`` (subscribe): its next sync pulls it (a bootstrap when new here)."""
    await state.ensure_state(local)
    await local.execute(_PUT, [table, True])
    return await read(local)


async def unsubscribe(local: LocalStore, table: str, *, keep_local: bool) -> Subscriptions:
    """Stop holding ``table``. ``keep_local``: its local copy and sync state stay (a later
    :func:`hold` resumes from them); else the local table and its state are dropped.
    Never a remote call: the remote keeps every row."""
    await state.ensure_state(local)
    steps: list[tuple[str, list[Any]]] = [(_PUT, [table, False])]
    info = await state.describe_local(local, table)
    if keep_local and info is not None and not info["primary_key"]:
        # a copy kept mid-bootstrap: no sync may finish its key, so it gets it now
        await add_pending_key(local, table, {c["name"]: c["type"] for c in info["columns"]})
    if not keep_local:
        if info is not None:
            steps.append((f"DROP TABLE {sb.quote_ident(table)}", []))
        steps += state.forget_statements(table)
    await _transaction(local, steps)
    return await read(local)
