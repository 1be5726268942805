"""Read answers (checksums, table descriptions) kept until the next write: the no-op
sync's remote half.

A no-op sync asks the remote for its whole-table checksum, which means hashing every
row (1M rows: 40 to 130 ms of CPU the client's own hash competes with). When the server
fronts a DuckDB *file*, it is that file's only writer: DuckDB locks a file opened
read-write against every other process, and inside this process every write goes
through :meth:`StorePool.call` with ``write=True``. So an answer stays true until
the next write call, and the pool invalidates this cache around each of them.

Not for ``md:`` remotes: MotherDuck has other writers (its UI, other clients) that
this process never sees, so there the cache is off and every read is computed.

Why a generation and not just "clear on write": a read that was computing while a
write committed may hold the old answer; it is stored only if no write *started*
since the read did (:meth:`put` compares the generation taken before the read).

A write may *carry* answers across it (:data:`Carry`): an acknowledgement touches
only the ledger, so every answer stays true; a verified bulk insert knows exactly
what it added to its table (the checksum the client predicted and the remote
confirmed, and the row count), and the whole-table checksum is an XOR over rows,
so the held answer plus that delta is the new one (:func:`shift_top`). That is what
makes the first no-op sync after an initial push cheap, not only the later ones.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping

__all__ = ["Carry", "ReadCache", "keep_all", "shift_top"]

Carry = Callable[[Mapping[Hashable, bytes]], dict[Hashable, bytes]]
"""Given the answers held when a write started, the ones still true after it."""


def keep_all(held: Mapping[Hashable, bytes]) -> dict[Hashable, bytes]:
    """The carry of a write that touches no user table (ledger acknowledgements)."""
    return dict(held)


def shift_top(answer: bytes, checksum: int, rows: int) -> bytes | None:
    """A whole-table checksum answer (``bucket, checksum, n``; no row when empty) after
    ``rows`` new rows whose checksum is ``checksum`` were inserted; None if it cannot say."""
    import pyarrow as pa  # type: ignore[import-untyped]

    from ducksync.stores._arrow import from_ipc, to_ipc

    table = from_ipc(answer)
    if table.num_rows > 1 or table.schema.names != ["bucket", "checksum", "n"]:
        return None
    old_sum = int(table["checksum"][0].as_py()) if table.num_rows else 0
    old_n = int(table["n"][0].as_py()) if table.num_rows else 0
    n = old_n + rows
    if not 0 < n < 1 << 32:
        return None
    columns = [pa.array([0], table.schema.field("bucket").type),
               pa.array([old_sum ^ checksum], table.schema.field("checksum").type),
               pa.array([n], table.schema.field("n").type)]
    return to_ipc(pa.Table.from_arrays(columns, schema=table.schema))


class ReadCache:
    """Small generation-checked map of read answers (bytes), thread-safe."""

    def __init__(self, *, enabled: bool, max_bytes: int = 16 << 20) -> None:
        self.enabled = enabled
        self.max_bytes = max_bytes
        self._generation = 0
        self._answers: dict[Hashable, bytes] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        """Take this *before* computing an answer; pass it to :meth:`put`."""
        return self._generation

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            return self._answers.get(key)

    def put(self, key: Hashable, generation: int, answer: bytes) -> None:
        """Keep ``answer`` unless a write started after ``generation`` was taken."""
        if not self.enabled or len(answer) > self.max_bytes:
            return
        with self._lock:
            if generation != self._generation or key in self._answers:
                return
            if self._bytes + len(answer) > self.max_bytes:
                self._clear()  # crude but bounded; a miss only costs a recompute
            self._answers[key] = answer
            self._bytes += len(answer)

    def begin_write(self) -> dict[Hashable, bytes]:
        """A write starts: no answer is trusted from now on; returns those held."""
        with self._lock:
            self._generation += 1
            held = dict(self._answers)
            self._clear()
            return held

    def end_write(self, carried: Mapping[Hashable, bytes]) -> None:
        """The write ended (committed or not): drop what reads stored meanwhile, keep
        ``carried`` (the write's own account of what is still true)."""
        with self._lock:
            self._generation += 1
            self._clear()
            if self.enabled:
                for key, answer in carried.items():
                    self._answers[key] = answer
                    self._bytes += len(answer)

    def _clear(self) -> None:
        self._answers.clear()
        self._bytes = 0
