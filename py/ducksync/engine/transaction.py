"""A transaction on the local store that rolls back only what it opened.

Why one helper: every engine transaction was written ``BEGIN; try: …; COMMIT; except:
ROLLBACK``, and that ``ROLLBACK`` ran where no transaction of ours was open:

* after a failed ``COMMIT``: DuckDB has already ended the transaction, so the
  ``ROLLBACK`` failed with "cannot rollback - no transaction is active", and where it
  was not suppressed that error replaced the real one (the commit's conflict);
* after a ``BEGIN`` that was refused (a transaction already open on the connection:
  not ours), a ``ROLLBACK`` would end someone else's transaction.

So :func:`transaction` rolls back exactly when its own transaction may be open: after a
failure inside it, after a ``COMMIT`` that failed other than by DuckDB refusing it, and
after a cancellation while ``BEGIN`` or ``COMMIT`` were under way (the statement may
still run: the ``ROLLBACK`` then ends ours, or finds nothing and its failure is
ignored). A ``ROLLBACK``'s own failure never hides the error being raised.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from ducksync.engine.store import LocalStore
from ducksync.errors import DucksyncError

__all__ = ["after_failed_script", "transaction"]

# DuckDB's refusal of a COMMIT (a conflict, a constraint checked at commit): it has
# ended the transaction. Any other failure of a COMMIT (the connection's transport, a
# deadline) may have left it open.
_COMMIT_FAILED = "failed to commit"
# DuckDB's refusal of a BEGIN: a transaction is open already, and it is not this one.
_BEGIN_REFUSED = "within a transaction"


async def _rollback(local: LocalStore) -> None:
    with contextlib.suppress(DucksyncError):
        await local.execute("ROLLBACK")


@contextlib.asynccontextmanager
async def transaction(local: LocalStore) -> AsyncIterator[None]:
    """``BEGIN TRANSACTION``, the block, ``COMMIT``; a failure inside rolls back."""
    try:
        await local.execute("BEGIN TRANSACTION")
    except DucksyncError:
        raise  # refused: nothing of ours is open
    except BaseException:  # cancelled while it ran: ours may be open
        await _rollback(local)
        raise
    try:
        yield
    except BaseException:
        await _rollback(local)
        raise
    try:
        await local.execute("COMMIT")
    except DucksyncError as exc:
        if _COMMIT_FAILED not in exc.message.lower():  # not DuckDB's answer: still open?
            await _rollback(local)
        raise  # else DuckDB ended the transaction: nothing left to roll back
    except BaseException:  # cancelled: the COMMIT may not have run
        await _rollback(local)
        raise


async def after_failed_script(local: LocalStore, exc: BaseException) -> None:
    """After a transaction sent as one script (``BEGIN; …; COMMIT`` in one call) failed
    with ``exc``: roll back, unless DuckDB refused its BEGIN (the open transaction is
    another's) or its COMMIT (DuckDB ended it). The script cannot say where else it
    stopped, so any other failure may have left ours open."""
    if isinstance(exc, DucksyncError) and any(
            refused in exc.message.lower() for refused in (_COMMIT_FAILED, _BEGIN_REFUSED)):
        return
    await _rollback(local)
