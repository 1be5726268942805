"""One connection, several tasks: while one task's transaction is open, the other tasks'
statements wait for its end.

A ``LocalStore`` is one connection (``BEGIN``/``COMMIT`` given to ``execute`` delimit a
transaction), and the browser's sync service reaches it from several tasks: a sync, the
tables list, the last-sync lookup, a feed-triggered run. Each statement is a round trip to
DuckDB's worker, so their statements interleave; one that lands inside another task's
transaction joins it, and if it fails (a table not created yet) DuckDB aborts that whole
transaction: the sync then failed with "Current transaction is aborted". The gate makes a
transaction a critical section without changing any caller.

The transaction belongs to the *context* that opened it (a ``ContextVar``), not to a task:
a task the transaction's owner starts inside it (the engine overlaps remote calls with
local work) inherits the context and passes, so the gate cannot deadlock the engine
against itself. A task that ends with its transaction still open releases the gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from contextvars import ContextVar

__all__ = ["TransactionGate"]

_OPENS = re.compile(r"\s*(BEGIN|START\s+TRANSACTION)\b", re.IGNORECASE)
_ENDS = re.compile(r"\s*(COMMIT|ROLLBACK|ABORT|END)(\s+TRANSACTION)?\s*;?\s*$", re.IGNORECASE)

_current: ContextVar[object | None] = ContextVar("ducksync_transaction", default=None)


def _last(sql: str) -> str:
    """The last statement of a script (``BEGIN; …; COMMIT`` is a whole transaction): the
    text after its last ``;``. Only an exact ``COMMIT``/``ROLLBACK`` ends one, so a ``;``
    inside a literal near the end cannot pass for it."""
    return sql.rstrip().rstrip(";").rsplit(";", 1)[-1]


class TransactionGate:
    """Wrap each statement on the connection in :meth:`statement`."""

    def __init__(self) -> None:
        self._owner: object | None = None
        self._free = asyncio.Event()
        self._free.set()

    @contextlib.asynccontextmanager
    async def statement(self, sql: str) -> AsyncIterator[None]:
        """Wait while another context's transaction is open; track ``sql``'s own effect."""
        while self._owner is not None and self._owner is not _current.get():
            await self._free.wait()
        opens, ends = _OPENS.match(sql) is not None, _ENDS.match(_last(sql)) is not None
        if opens:
            self._open()
        try:
            yield
        except BaseException:
            if opens:  # the BEGIN itself failed: nothing is open on our behalf
                self._release(_current.get())
            raise
        finally:
            if ends:  # a failed COMMIT leaves nothing open either (DuckDB rolls back)
                self._release(_current.get())

    def _open(self) -> None:
        owner = object()
        _current.set(owner)
        self._owner = owner
        self._free.clear()
        task = asyncio.current_task()
        if task is not None:  # its end releases a transaction it left open
            task.add_done_callback(lambda _: self._release(owner))

    def _release(self, owner: object | None) -> None:
        if owner is not None and self._owner is owner:
            self._owner = None
            self._free.set()
