"""The mass-delete guard: a sync that would delete most of a table on the other side
stops before changing anything for that table, until the caller allows it.

Why: a ``DELETE FROM t`` (or a truncation, or a table dropped and created again) is
sometimes what the user wants and often a mistake, and once propagated the other
side's copy is gone too. rclone's ``--max-delete`` and Dropbox's mass-delete warning
ask first; so does this. Checked on the plan (``__ds_plan``), before the policy, the
pull or the push write anything: deletions to send (``push`` of a row gone locally)
and deletions to apply here (``pull`` of a row gone on the remote), each against the
base's row count (what both sides held at the last sync).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from ducksync.engine import sqlbuild as sb
from ducksync.engine.state import base_table
from ducksync.engine.store import LocalStore
from ducksync.errors import MassDeleteError

__all__ = ["DeleteLimit", "check_deletes"]


@dataclass(frozen=True, kw_only=True)
class DeleteLimit:
    """Stop when a direction deletes more than ``share`` of the rows *and* at least
    ``min_rows`` rows (so small tables emptied by hand still sync)."""

    share: float = 0.5
    min_rows: int = 1000

    def exceeded(self, deleted: int, rows: int) -> bool:
        return deleted >= max(1, self.min_rows) and deleted > self.share * rows


async def check_deletes(local: LocalStore, table: str, *, push: bool, pull: bool,
                        limit: DeleteLimit) -> None:
    """Raise :class:`MassDeleteError` when the plan's deletions in a direction the run
    applies (``push``: on the remote, ``pull``: here) exceed ``limit``."""
    (to_remote, to_local, rows), = await local.fetch_rows(
        "SELECT count(*) FILTER (WHERE action = 'push' AND lh_now IS NULL), "
        "count(*) FILTER (WHERE action = 'pull' AND rh_now IS NULL), "
        f"(SELECT count(*) FROM {base_table(table)}) FROM __ds_plan")
    t = sb.quote_ident(table)
    if push and limit.exceeded(int(to_remote), int(rows)):
        raise MassDeleteError(
            f"this sync would delete {to_remote} of {rows} rows of {table!r} on the remote "
            "(deleted locally since the last sync); nothing was changed for this table",
            hint="if that is intended, sync again with --allow-mass-delete (JS: "
                 "sync({allowMassDelete: true})); if not, get the rows back from the "
                 f"remote: DROP TABLE {t} here, then `ducksync pull LOCAL REMOTE --table "
                 f"{shlex.quote(table)}` (this loses the table's unsynced local changes)",
            side="remote", rows=int(to_remote), of=int(rows))
    if pull and limit.exceeded(int(to_local), int(rows)):
        raise MassDeleteError(
            f"this sync would delete {to_local} of {rows} rows of {table!r} locally "
            "(deleted on the remote since the last sync); nothing was changed for this "
            "table",
            hint="if that is intended, sync again with --allow-mass-delete (JS: "
                 "sync({allowMassDelete: true})); if not, restore the rows on the remote "
                 "(this side keeps them until then)",
            side="local", rows=int(to_local), of=int(rows))
