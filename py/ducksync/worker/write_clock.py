"""Writes the sync engine did not make, counted: lets an idle sync skip hashing a table.

Without triggers the engine proves "nothing changed locally" by hashing every row and
comparing with the base: on DuckDB-WASM's one thread that is most of a no-op sync
(200-400 ms for 1M rows), paid by every periodic sync of an idle tab. In the browser
every write that is not the engine's own passes the local worker: page SQL
(``exec``/``query``), imports, conflict resolution. The worker wraps each in
:meth:`WriteClock.writing`, so a *token* that did not change proves that none of them
ran, and the engine may reuse its last proof (``local-unchanged-since-sync``).

Why the generation moves twice (at the start and at the end of a write) and the token
is None while one runs: a sync that read the token while a write was in flight could
otherwise record a state the write was about to change. Why an epoch: a token is only
meaningful within one start of the worker (after a reload everything is hashed again).

What must never happen: a write path that bypasses ``writing()``. Every caller that
can write the local database outside the engine goes through
``workers/local_worker.py`` (``_run``), ``ConsoleService.run`` (the SQL console),
``workers/backup_worker.py`` (import) or ``SyncService.resolve``; docs/engine.md lists them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from ducksync.engine.store import CleanMark

__all__ = ["WriteClock"]


class WriteClock:
    """Counts non-engine writes; see the module docstring."""

    def __init__(self) -> None:
        self.epoch = uuid.uuid4().hex[:12]
        self._generation = 0
        self._in_flight = 0
        # table -> what the engine last proved about it (engine.store.WriteTracked)
        self.clean: dict[str, CleanMark] = {}

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Wrap every write the engine does not make (its failure included)."""
        self._generation += 1
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            self._generation += 1

    def write_token(self) -> str | None:
        """The current token, or None while a write runs (then nothing may be skipped)."""
        if self._in_flight:
            return None
        return f"{self.epoch}:{self._generation}"
