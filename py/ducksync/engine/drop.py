"""Drop a table everywhere: the one structural change that is propagated, on request.

A sync never turns a dropped table into deletions (``schema.reconcile`` stops the
table instead, :class:`~ducksync.errors.TableDroppedError`), so dropping a table on
both this database and the remote is its own explicit call (``ducksync drop LOCAL
REMOTE T --everywhere``, the worker's ``dropEverywhere``). Other devices that hold a
copy are not reached: their next sync reports the table dropped on the remote and
keeps their copy until they drop it too (or upload it again). See docs/engine.md,
"Schema".
"""

from __future__ import annotations

from typing import Any

from ducksync.engine import sqlbuild as sb
from ducksync.engine import state
from ducksync.engine.overlap import both
from ducksync.engine.store import LocalStore, RemoteStore
from ducksync.errors import SchemaMismatchError

__all__ = ["drop_everywhere"]


async def drop_everywhere(local: LocalStore, remote: RemoteStore, table: str) -> dict[str, Any]:
    """Drop ``table`` on the remote, then here, then forget its sync state.

    Returns ``{"table", "local", "remote"}``: whether each side held it. The remote
    goes first: if it cannot be reached nothing changes here. A table on neither
    side with no state is a :class:`SchemaMismatchError` (a typo, most likely).
    """
    await state.ensure_state(local)
    linfo, rinfo = await both(state.describe_local(local, table), remote.describe_table(table))
    if linfo is None and rinfo is None and await state.agreed(local, table) is None:
        raise SchemaMismatchError(f"table {table!r} exists on neither side",
                                  hint="check the table's name (`ducksync status LOCAL` lists "
                                       "the synced tables)")
    dropped_remote = bool(rinfo is not None and await remote.drop_table(table))
    if linfo is not None:
        await local.execute(f"DROP TABLE {sb.quote_ident(table)}")
    await state.forget_table(local, table)
    return {"table": table, "local": linfo is not None, "remote": dropped_remote}
