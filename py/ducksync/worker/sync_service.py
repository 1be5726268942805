"""The browser's sync service: runs the engine, tracks status and progress, logs runs,
and schedules automatic syncs. Pure asyncio over the two store protocols.

The local worker (``workers/sync_worker.py``) builds it with a DuckDB-WASM
``LocalStore`` (its own connection, so a sync never shares a transaction with the
page's queries) and a :class:`PortRemoteStore`; CPython tests build it with native
stores. Events go out through ``emit(type, payload)``: ``sync`` (status changed),
``progress`` and ``conflict``.

Cancellation cancels the running engine task at its next await. The engine's
durable steps are transactions, each rolled back by the code that opened it and by
nothing else (``engine/transaction.py``: a blanket ``ROLLBACK`` here ran with no
transaction open), and its pushes are idempotent (outbox + ledger), so the next sync
converges.

Local changes not yet sent (``status.unsent``, per table in :meth:`SyncService.tables`)
are counted by the engine's own local change detection (rows that differ from the
base), never on a status poll: a count holds for one *write generation* (every
:meth:`SyncService.wrote` starts a new one). A sync that pushed everything and saw no
write since it started sets the count to 0 without hashing; otherwise the table is
counted once per write burst (``debounce_s`` after the last write, when no sync runs
instead) or when the tables list is asked for. A table the engine proved clean at
the current write token (``engine.store.WriteTracked``) counts 0 without hashing.
A copy kept after unsubscribing is counted too, but apart (``not_held_changed``): no
sync sends its changes, so they never keep the device from "in sync"; a whole sync,
which covers only the tables held here, keeps that count, or counts again if written.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from ducksync.engine import conflicts as engine_conflicts
from ducksync.engine import detect, state, subscriptions
from ducksync.engine import drop as engine_drop
from ducksync.engine import rejections as engine_rejections
from ducksync.engine import sqlbuild as sb
from ducksync.engine.bootstrap import BOOT_TOTAL
from ducksync.engine.merge import checked_policy
from ducksync.engine.push import PUSH_TOTAL
from ducksync.engine.schema import Shape
from ducksync.engine.store import LocalStore, WriteTracked
from ducksync.engine.sync import (
    Mode,
    Surveyed,
    SyncOptions,
    SyncReport,
    survey,
    sync_table,
)
from ducksync.errors import DucksyncError, NoPrimaryKeyError, error_to_wire
from ducksync.worker.port_store import CallStats, PortRemoteStore
from ducksync.worker.sql_params import literal
from ducksync.worker.sync_sched import Schedule
from ducksync.worker.sync_status import Progress, SyncStatus

__all__ = ["DIRECTIONS", "SyncCancelledError", "SyncService"]

Emit = Callable[[str, dict[str, Any]], None]
DIRECTIONS: Final[dict[str, Mode]] = {"push": "push", "pull": "pull", "both": "sync",
                                      "sync": "sync"}
SYNC_LOG_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS ducksync.sync_log (started_at TIMESTAMP, ended_at TIMESTAMP, "
    "direction VARCHAR, tables VARCHAR[], rows_pushed BIGINT, rows_pulled BIGINT, "
    "conflicts BIGINT, bytes_raw BIGINT, bytes_compressed BIGINT, outcome VARCHAR, "
    "error VARCHAR, trigger VARCHAR, ms DOUBLE)")
# Bytes per request in the browser (the engine's default is 48 MB): a bulk range is
# then two of DuckDB's row groups (~18 MB of IPC for the bench's rows), which every
# worker holds a copy or two of; rows per batch stay the engine's defaults unless a
# caller sets them.
BATCH_BYTES: Final = 32 << 20
# The engine's temp tables holding what a round will push / pull (for progress totals).
_PUSH_TOTAL: Final = f"SELECT n FROM {PUSH_TOTAL}"
_PULL_TOTAL: Final = "SELECT count(*) FROM __ds_r WHERE rh_now IS NOT NULL"
_BOOT_TOTAL: Final = f"SELECT n FROM {BOOT_TOTAL}"


class SyncCancelledError(DucksyncError):
    """The sync was cancelled; nothing is lost, the next sync picks up from here."""

    code = "cancelled"


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(kw_only=True)
class _Counters:
    bytes_raw: int = 0
    bytes_wire: int = 0
    push_known: bool = False
    pull_known: bool = False


class SyncService:
    """One database's sync: ``sync()`` on demand, ``run_forever()`` for automatic triggers."""

    def __init__(self, *, local: LocalStore, remote: PortRemoteStore, emit: Emit,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 schedule: Schedule | None = None) -> None:
        self.local, self.remote, self._emit = local, remote, emit
        self.clock, self.wall = clock, wall
        self.schedule = schedule or Schedule()
        self.status = SyncStatus(interval_s=self.schedule.interval_s)
        self.policy: str = "manual"
        self.batch_rows: int | None = None  # None: the engine's defaults
        self._lock = asyncio.Lock()
        self._timings: dict[str, float] = {}  # the last run's own steps (ms), in its summary
        self._task: asyncio.Task[dict[str, Any]] | None = None
        self._wake: asyncio.Event | None = None
        self._counters = _Counters()
        self._writes = 0  # the write generation: one more per local write (wrote())
        self._unsent_gen: int | None = None  # the generation status.unsent_tables counts
        self._count_due: float | None = None  # when to count unsent changes (clock)
        # Local tables this device does not hold (copies kept after unsubscribing): no
        # sync sends their changes, so they are named apart, never counted as waiting.
        self._not_held: frozenset[str] = frozenset()
        # connect({tables}): stored by the first sync (or subscription call), before it
        # chooses its tables, so a new device never pulls a table it was not asked to hold
        self.hold_at_start: list[str] | None = None
        # Held while the choices are being changed: a read that waits for no sync waits
        # for this (taken between a change's statements, a read saw it half stored).
        self._choices = asyncio.Lock()
        remote_observer: Any = self._observe
        self.remote._observer = remote_observer

    # --- status and events -----------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        due = self.schedule.next_due(self.clock()) if not self.status.running else None
        self.status.next_sync_at = None if due is None else \
            round(self.wall() + max(0.0, due - self.clock()), 3)
        self.status.interval_s = self.schedule.interval_s
        return self.status.to_dict()

    def publish(self) -> None:
        self._emit("sync", self.snapshot())

    def _wakeup(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def configure(self, *, interval_s: float | None = None, on_write: bool | None = None,
                  debounce_s: float | None = None, policy: str | None = None,
                  batch_rows: int | None = None) -> dict[str, Any]:
        if interval_s is not None:
            self.schedule.interval_s = max(0.0, float(interval_s))
        if on_write is not None:
            self.schedule.on_write = bool(on_write)
            if not on_write:
                self.schedule.write_due = None
        if debounce_s is not None:
            self.schedule.debounce_s = max(0.0, float(debounce_s))
        if policy is not None:
            self.policy = checked_policy(policy)
        if batch_rows is not None:
            self.batch_rows = max(1, int(batch_rows))
        self._wakeup()
        self.publish()
        return {"interval_s": self.schedule.interval_s, "on_write": self.schedule.on_write,
                "debounce_s": self.schedule.debounce_s, "policy": self.policy,
                "batch_rows": self.batch_rows}

    def wrote(self) -> None:
        """The page wrote to the local database (debounced sync, or count when none runs)."""
        now = self.clock()
        self.schedule.wrote(now)
        self._writes += 1
        self._count_due = now + self.schedule.debounce_s
        self.status.wrote()
        self._wakeup()
        self.publish()

    def _set_unsent(self, counts: dict[str, int], generation: int) -> None:
        """``counts`` (table -> rows not yet sent) hold as of write ``generation``."""
        self.status.unsent_tables = dict(counts)
        self._unsent_gen = generation
        if generation == self._writes:
            self._count_due = None
        self._split_unsent()

    def _split_unsent(self) -> None:
        """``status.unsent``: the changes a sync will send (the tables held here); a kept
        copy's changes (``not_held_changed``) are said apart: no sync sends them."""
        counts = self.status.unsent_tables
        current = self._unsent_gen == self._writes
        self.status.unsent = sum(n for t, n in counts.items() if t not in self._not_held) \
            if current else None
        self.status.not_held_changed = sorted(t for t, n in counts.items()
                                              if n and t in self._not_held)

    async def _note_held(self, names: list[str] | None = None) -> None:
        """Which local tables this device does not hold, from its stored choices."""
        subs = await subscriptions.read(self.local)
        if names is None:
            names = await state.list_local_tables(self.local)
        self._not_held = frozenset(n for n in names if not subs.holds(n))

    async def count_unsent(self) -> dict[str, int]:
        """Count the local changes not yet sent, per table (see the module docstring)."""
        async with self._lock:
            generation = self._writes
            if self._unsent_gen == generation:
                return dict(self.status.unsent_tables)
            await state.ensure_state(self.local)
            counts = {}
            names = await state.list_local_tables(self.local)
            await self._note_held(names)
            for name in names:
                try:
                    n = await self._unsent_rows(name)
                except DucksyncError:  # e.g. its shape changed: the next sync says so
                    n = None
                if n is not None:
                    counts[name] = n
            self._set_unsent(counts, generation)
        self.publish()
        return counts

    async def _unsent_rows(self, table: str) -> int | None:
        """Rows of ``table`` that differ from what the last sync left (None: not synced)."""
        stored = await self.local.fetch_rows(
            "SELECT key_cols FROM ducksync.tables WHERE name = ?", [table])
        info = await state.describe_local(self.local, table)
        if info is None or not (stored or info["primary_key"]):
            return None  # no key: never synced, nothing waits
        if not stored:  # never synced: every row waits to be sent
            return int(state.scalar(await self.local.fetch_rows(
                f"SELECT count(*) FROM {sb.quote_ident(table)}")) or 0)
        if isinstance(self.local, WriteTracked):
            mark = self.local.clean.get(table)
            if mark is not None and mark.token == self.local.write_token():
                return 0  # the engine proved it equal to its base; nothing wrote since
        shape = Shape(table=table, columns=[c["name"] for c in info["columns"]],
                      types={c["name"]: c["type"] for c in info["columns"]},
                      key=list(stored[0][0]))
        n, _ = await detect.detect_local(self.local, shape, hash_once=True)
        return n

    def remote_changed(self, tables: list[str], feed: dict[str, Any] | None = None,
                       keys: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """The change feed (remote worker): ``tables`` changed on the remote, ``feed`` is
        how the feed stands (shown in the status), ``keys`` what the commits wrote per
        table, when known (engine/feed_pull.py). Syncs those tables soon, unless
        automatic syncs are off."""
        if feed is not None:
            self.status.feed = {"state": str(feed.get("state")), "reason": feed.get("reason")}
        self.schedule.remote_changed(tables, keys)
        self._wakeup()
        self.publish()
        return {"queued": sorted(self.schedule.remote_tables)}

    def set_online(self, online: bool) -> None:
        self.schedule.set_online(online, self.clock())
        self.status.online = online
        if online:
            self.status.remote_down = False
        self._wakeup()
        self.publish()

    # --- progress --------------------------------------------------------------------
    async def _observe(self, stats: CallStats) -> None:
        c = self._counters
        c.bytes_raw += stats.bytes_sent + stats.bytes_received
        c.bytes_wire += stats.wire_bytes or (stats.bytes_sent + stats.bytes_received)
        progress = self.status.progress
        if progress is None or stats.table != progress.table:
            return
        if stats.method == "apply_batch":
            if not c.push_known:
                c.push_known = True
                progress.rows_total += await self._count(_PUSH_TOTAL)
            progress.add(stats.rows_sent, stats.bytes_sent)
        elif stats.method in ("fetch_rows", "fetch_rows_after"):
            if not c.pull_known:  # a bootstrap's pages, or the rows a pull fetches
                c.pull_known = True
                progress.rows_total += await self._count(
                    _PULL_TOTAL if stats.method == "fetch_rows" else _BOOT_TOTAL)
            progress.add(stats.rows_received, stats.bytes_received)
        else:
            return
        self._emit("progress", progress.to_dict())

    async def _count(self, sql: str) -> int:
        try:
            return int(state.scalar(await self.local.fetch_rows(sql)) or 0)
        except DucksyncError:
            return 0

    # --- running ---------------------------------------------------------------------
    async def sync(self, *, tables: list[str] | None = None, direction: str = "both",
                   policy: str | None = None, batch_rows: int | None = None,
                   trigger: str = "manual", allow_mass_delete: bool = False,
                   feed_keys: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """Run one sync (waits for a running one first); returns the summary.

        ``allow_mass_delete``: this run may delete most of a table on the other side
        (engine/guard.py; automatic runs never do). A ``pull`` (``push``) naming a table
        dropped here (on the remote) since the last sync downloads (uploads) it again."""
        mode = DIRECTIONS.get(direction)
        if mode is None:
            raise DucksyncError(f"direction must be push, pull or both, not {direction!r}")
        async with self._lock:
            await self._store_hold_at_start()
            if tables and trigger != "manual":
                # An automatic trigger naming tables (a change feed's "t changed"): only
                # tables this device holds; one it stopped holding is never pulled back.
                try:  # the state exists but on a new device (one statement fewer)
                    subs = await subscriptions.read(self.local)
                except DucksyncError:
                    await state.ensure_state(self.local)
                    subs = await subscriptions.read(self.local)
                tables = subs.filter(tables)
                if not tables:
                    return self._summary(SyncReport(mode=mode, tables=[]), "nothing", None, 0.0)
            task = asyncio.ensure_future(self._run(
                tables=tables, mode=mode, direction=direction,
                policy=checked_policy(policy or self.policy),
                batch_rows=batch_rows or self.batch_rows, trigger=trigger,
                allow_mass_delete=allow_mass_delete, feed_keys=feed_keys or {}))
            self._task = task
            try:
                return await task
            finally:
                self._task = None

    def cancel(self) -> bool:
        """Cancel the running sync; False if none is running."""
        if self._task is None or self._task.done():
            return False
        self._task.cancel()
        return True

    async def _run(self, *, tables: list[str] | None, mode: Mode, direction: str, policy: str,
                   batch_rows: int | None, trigger: str,
                   allow_mass_delete: bool = False,
                   feed_keys: dict[str, list[str]] | None = None) -> dict[str, Any]:
        t0, start_wall = time.perf_counter(), self.wall()
        mark = self.schedule.started(self.clock())
        generation, self._count_due = self._writes, None  # this run counts (or proves) it
        self._counters = _Counters()
        self.status.begin(trigger)
        self.publish()
        reports, names = [], list(tables or [])
        outcome, error = "ok", None
        state_made = False  # the survey made (or found) the state, the sync log's too
        opts = SyncOptions(tables=names or None, policy=policy, batch_rows=batch_rows,
                           batch_bytes=BATCH_BYTES, allow_mass_delete=allow_mass_delete,
                           feed_keys=dict(feed_keys or {}))
        timings = self._timings = {"prepare": 0.0, "checkpoint": 0.0}
        try:
            t_prep = time.perf_counter()
            surveyed: Surveyed | None = None
            try:  # the remote is surveyed (one call) while the local state is checked
                names, surveyed = await survey(self.local, self.remote, opts, mode,
                                               extra_state=(SYNC_LOG_DDL,))
                state_made = True
            except NoPrimaryKeyError:
                outcome = "nothing"
            timings["prepare"] = (time.perf_counter() - t_prep) * 1000
            for i, name in enumerate(names):
                self.status.progress = Progress(table=name)
                self._counters.push_known = self._counters.pull_known = False
                # a feed run's fast pull counts its rows as they come (no __ds_r)
                self._counters.pull_known = bool(opts.feed_keys.get(name))
                reports.append(await sync_table(self.local, self.remote, name, opts, mode,
                                                surveyed=surveyed))
                if i + 1 < len(names):  # the last one's is the run log's (_log)
                    t_ckpt = time.perf_counter()
                    await self.local.execute("CHECKPOINT")
                    timings["checkpoint"] += (time.perf_counter() - t_ckpt) * 1000
            failed = [r.error for r in reports if r.error]
            if failed:
                outcome, error = "error", failed[0]
        except asyncio.CancelledError:
            outcome = "cancelled"
            error = error_to_wire(SyncCancelledError(
                "sync cancelled", hint="nothing is lost: the next sync picks up from here"))
        except Exception as exc:  # every failure is reported, not raised raw
            outcome, error = "error", error_to_wire(exc)
        report = SyncReport(mode=mode, tables=reports)
        summary = self._summary(report, outcome, error, (time.perf_counter() - t0) * 1000)
        await self._finish(summary, names, direction, trigger, start_wall, mark,
                           whole=not tables, generation=generation, state_made=state_made)
        if outcome == "cancelled":
            raise SyncCancelledError("sync cancelled",
                                     hint="nothing is lost: the next sync picks up from here")
        return summary

    def _summary(self, report: SyncReport, outcome: str, error: dict[str, Any] | None,
                 ms: float) -> dict[str, Any]:
        t = report.tables
        return {"pushed": sum(r.pushed for r in t), "pulled": sum(r.pulled for r in t),
                "conflicts": sum(r.conflicts for r in t),
                "pending_conflicts": sum(r.pending_conflicts for r in t),
                "rejections": sum(r.rejections for r in t),
                "bytes": self._counters.bytes_raw, "bytes_wire": self._counters.bytes_wire,
                "ms": round(ms, 1), "converged": report.converged and outcome == "ok",
                "outcome": outcome, "error": error, "mode": report.mode,
                "timings": {k: round(v, 1) for k, v in self._timings.items()},
                "tables": report.to_dict()["tables"]}

    async def _finish(self, summary: dict[str, Any], names: list[str], direction: str,
                      trigger: str, start_wall: float, mark: float, *, whole: bool,
                      generation: int, state_made: bool = False) -> None:
        outcome, error = summary["outcome"], summary["error"]
        ok = outcome in ("ok", "nothing")
        down = bool(error and error.get("code") == "remote_unavailable")
        end_wall = self.wall()
        # A cancellation arriving while the run is recorded (the service stopping) waits
        # until the status is settled, then goes on: swallowed, the stopping task would
        # never end.
        cancelled = False
        t_log = time.perf_counter()
        if outcome != "nothing":
            try:
                with contextlib.suppress(DucksyncError):
                    await self._log(summary, names, direction, trigger, start_wall, end_wall)
            except asyncio.CancelledError:
                cancelled = True
        t_count = time.perf_counter()
        try:
            await self._count_waiting(summary, state_made=state_made)
        except asyncio.CancelledError:
            cancelled = True
        self.status.last_run = {
            "trigger": trigger, "ms": summary["ms"],
            "steps": {**summary["timings"], "log": round((t_count - t_log) * 1000, 1),
                      "count": round((time.perf_counter() - t_count) * 1000, 1)},
            "tables": {t["table"]: {"ms": round(t["ms"], 1), "paths": t["paths"],
                                    "timings": {k: round(v, 1)
                                                for k, v in t["timings"].items()}}
                       for t in summary["tables"]}}
        self._settle(summary, outcome, error, ok, down, trigger, end_wall, mark,
                     whole=whole, generation=generation)
        if cancelled:
            raise asyncio.CancelledError

    async def _count_waiting(self, summary: dict[str, Any], *, state_made: bool) -> None:
        """Conflicts and rejections now waiting here, with their events."""
        with contextlib.suppress(DucksyncError):
            before, rejected = self.status.pending_conflicts, self.status.rejections
            await self._read_waiting(state_made=state_made)
            if summary["conflicts"] or self.status.pending_conflicts > before:
                self._emit("conflict", {"pending": self.status.pending_conflicts,
                                        "conflicts": summary["conflicts"],
                                        "tables": [t["table"] for t in summary["tables"]
                                                   if t["conflicts"] or t["pending_conflicts"]]})
            if self.status.rejections != rejected:  # new ones, or some settled
                self._emit("rejection", {"pending": self.status.rejections,
                                         "tables": [t["table"] for t in summary["tables"]
                                                    if t.get("rejections")]})

    def _settle(self, summary: dict[str, Any], outcome: str,
                error: dict[str, Any] | None, ok: bool, down: bool, trigger: str,
                end_wall: float, mark: float, *, whole: bool, generation: int) -> None:
        """The status and schedule after a run (no awaits: it cannot be cut off)."""
        self.schedule.finished(mark, self.clock(), ok=ok,
                               retry=outcome not in ("cancelled",), whole=trigger != "feed")
        untouched = generation == self._writes  # nothing written since the run started
        sent = (ok and summary["mode"] != "pull" and untouched
                and not summary["pending_conflicts"]  # a conflicting row was not sent
                and not summary["rejections"])  # nor was a rejected one (held)
        if sent:  # every local change of these tables went out: 0 without hashing
            # a whole run covers every table held here, not the copies kept unheld
            counts = dict(self.status.unsent_tables)
            if whole:
                counts = {t: n for t, n in counts.items() if t in self._not_held}
            counts.update({t["table"]: 0 for t in summary["tables"] if not t.get("error")})
            kept_stale = whole and bool(self._not_held) and self._unsent_gen != generation
            if whole or self._unsent_gen == generation:
                self._set_unsent(counts, generation)
            if kept_stale:  # a kept copy may have been written since its count: count it
                self._unsent_gen, self._count_due = None, self.clock()
        elif self._unsent_gen != self._writes:
            self._count_due = self.clock()  # what waits to be sent: count it now
        proved = (sent and whole and summary["mode"] == "sync"
                  and (summary["converged"] or outcome == "nothing")
                  and not self.status.pending_conflicts)
        # A run of the tables the feed announced keeps an earlier proof: the other
        # tables did not move (the feed would have said so), these converged.
        proved = proved or (trigger == "feed" and self.status.proved and sent
                            and summary["converged"] and not self.status.pending_conflicts)
        self.status.note_tables(summary["tables"])
        self.status.end(outcome=outcome, at=_stamp(end_wall), error=error,
                        remote_down=down, proved=proved)
        self.publish()

    async def _log(self, summary: dict[str, Any], names: list[str], direction: str,
                   trigger: str, start: float, end: float) -> None:
        err = summary["error"]
        await self.local.execute(
            "INSERT INTO ducksync.sync_log VALUES (CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP), "
            "?, ?::VARCHAR[], ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_stamp(start), _stamp(end), direction, names, summary["pushed"],
             summary["pulled"], summary["conflicts"], summary["bytes"], summary["bytes_wire"],
             summary["outcome"], (err.get("message") if err else None), trigger,
             summary["ms"]])
        await self.local.execute("CHECKPOINT")

    # --- automatic triggers ----------------------------------------------------------
    async def interrupted(self) -> bool:
        """True when an earlier sync was cut off (a reload, a closed tab) mid-push.

        Its batches wait in the engine's outbox: sent, their answers not yet recorded.
        """
        found = await self.local.fetch_rows(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE schema_name = 'ducksync' AND table_name = 'outbox'")
        if not found or not found[0][0]:
            return False
        pending = await self.local.fetch_rows("SELECT count(*) FROM ducksync.outbox")
        return bool(pending and pending[0][0])

    async def run_forever(self) -> None:
        """Sleep until the schedule says so, sync, repeat (cancel the task to stop).

        A sync that a reload or a closed tab cut off resumes at once, not at the next
        interval: its pushed batches are only half recorded until it runs again.
        """
        self._wake = asyncio.Event()
        with contextlib.suppress(DucksyncError):
            await self._load_stored_status()
        if self._unsent_gen is None:
            self._count_due = self.clock()  # offline at start: still say what waits
        if self.schedule.online and await self.interrupted():
            with contextlib.suppress(DucksyncError):
                await self.sync(trigger="resume")
        while True:
            now = self.clock()
            due = self.schedule.next_due(now)
            if due is not None and due <= now:
                trigger = self.schedule.trigger(now)
                # a whole run covers what the feed announced; a feed run only that
                announced, keys = self.schedule.take_remote_hinted()
                with contextlib.suppress(DucksyncError):
                    if trigger != "feed":
                        await self.sync(trigger=trigger)
                    elif announced:  # sync() keeps only the tables this device holds
                        await self.sync(trigger=trigger, tables=announced, feed_keys=keys)
                continue
            count = self._count_due
            if count is not None and count <= now:  # no sync runs now: count instead
                with contextlib.suppress(DucksyncError):
                    await self.count_unsent()
                if self._count_due == count:  # done (a write meanwhile set a new time)
                    self._count_due = None
                continue
            self._wake.clear()
            wake = min([t for t in (due, count) if t is not None], default=None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), None if wake is None else wake - now)

    async def _load_stored_status(self) -> None:
        """What an earlier page on this database left (the last successful sync, the
        conflicts and rejections waiting): a reloaded page shows them at start, not
        only once its first sync ends."""
        await self._read_waiting()
        last = state.scalar(await self.local.fetch_rows(
            "SELECT strftime(max(ended_at), '%Y-%m-%d %H:%M:%S.%f') FROM ducksync.sync_log "
            "WHERE outcome = 'ok'"))
        if last and self.status.last_sync is None:
            self.status.last_sync = str(last)
        self.publish()

    async def _read_waiting(self, *, state_made: bool = False) -> None:
        """``status.pending_conflicts`` and ``status.rejections`` from their tables, in one
        query. The tables are made first: on a fresh database, or after a run cancelled
        before the engine made them, the count would fail on a missing table.
        ``state_made``: this run's survey made them (its check is one catalog query, a
        round trip in the page between the run's last statement and its answer)."""
        if not state_made:
            await state.ensure_state(self.local, extra=(SYNC_LOG_DDL,))
        waiting = (await self.local.fetch_rows(
            "SELECT (SELECT count(*) FROM ducksync.conflicts), "
            "(SELECT count(*) FROM ducksync.rejections)"))[0]
        self.status.pending_conflicts = int(waiting[0])
        self.status.rejections = int(waiting[1])

    # --- conflicts and tables --------------------------------------------------------
    async def conflicts(self, table: str | None = None) -> list[dict[str, Any]]:
        """Pending manual conflicts with both versions and their kind
        (:func:`ducksync.engine.conflicts.conflicts_with_versions`)."""
        return await engine_conflicts.conflicts_with_versions(self.local, table)

    async def resolve(self, table: str, key: str, take: str) -> dict[str, Any]:
        if take not in ("local", "remote"):
            raise DucksyncError(f"take must be 'local' or 'remote', not {take!r}")
        side: Literal["local", "remote"] = "local" if take == "local" else "remote"
        async with self._lock:
            await engine_conflicts.resolve(self.local, table, key, side)
            await self.local.execute("CHECKPOINT")
            await self._read_waiting()
        self.wrote()  # the decision travels with the next sync
        self.publish()
        return {"pending": self.status.pending_conflicts}

    # --- rows the server's sync rules refused ---------------------------------------------
    async def rejections(self, table: str | None = None) -> list[dict[str, Any]]:
        """Rejected rows (``engine.rejections.list_rejections``), each with this device's
        row as text (None: the refused change was a delete)."""
        items = await engine_rejections.list_rejections(self.local, table)
        rows: dict[tuple[str, str], str] = {}
        keys = {r["table"]: r["key_columns"] for r in items if r["key_columns"]}
        for name, columns in sorted(keys.items()):  # one query per table
            label = state.key_text_sql(columns, "x")
            for key, text in await self.local.fetch_rows(
                    f"SELECT j.key_text, CAST(x AS VARCHAR) FROM ducksync.rejections j JOIN "
                    f"{sb.quote_ident(name)} x ON {label} = j.key_text WHERE "
                    "j.table_name = ?", [name]):
                rows[(name, str(key))] = str(text)
        for r in items:
            r["local"] = None if r["deleted"] else rows.get((r["table"], r["key"]))
        return items

    async def settle_rejection(self, table: str, key: str, action: str) -> dict[str, Any]:
        """``discard`` (give the change up; the next sync brings back the server's row if
        this user may see it) or ``retry`` (send it again, unchanged, at the next sync)."""
        if action not in ("discard", "retry"):
            raise DucksyncError(f"action must be 'discard' or 'retry', not {action!r}")
        async with self._lock:
            if action == "discard":
                await engine_rejections.discard(self.local, table, key)
            else:
                await engine_rejections.retry(self.local, table, key)
            await self.local.execute("CHECKPOINT")
            await self._read_waiting()
        self.wrote()  # the next sync settles it with the server
        self.publish()
        return {"pending": self.status.rejections}

    # --- subscriptions (engine/subscriptions.py) --------------------------------------
    async def _store_hold_at_start(self) -> None:
        if self.hold_at_start is not None:
            async with self._choices:
                await subscriptions.hold_only(self.local, self.hold_at_start)
                self.hold_at_start = None

    async def subscriptions(self) -> dict[str, Any]:
        """``{all, held, not_held}``: which remote tables this device holds. A read waits
        for no sync (the page asks when a run ends and when a table is held, which starts
        a run: behind a new table's bootstrap, its "hold here" box showed the old choice);
        only storing ``connect({tables})`` first does."""
        if self.hold_at_start is None:
            async with self._choices:
                await state.ensure_state(self.local)
                return (await subscriptions.read(self.local)).to_dict()
        async with self._lock:
            await self._store_hold_at_start()
            await state.ensure_state(self.local)
            return (await subscriptions.read(self.local)).to_dict()

    async def subscribe(self, *, tables: list[str] | None = None, only: bool = False,
                        table: str | None = None, held: bool = True,
                        keep_local: bool = True) -> dict[str, Any]:
        """``only``: hold exactly ``tables`` (None: every table). Else ``table``: hold it
        (``held``) or stop holding it, keeping or dropping the local copy; the remote is
        never touched. Waits for a running sync; a newly held table is pulled at once.

        Unholding the table the running sync is on cancels that run: a new device's
        bootstrap of a large table went on to its last row (minutes) before the choice
        applied, and then dropped it. A cancelled bootstrap resumes from its cursor if
        the table is held again; the run's other tables sync at once after."""
        stopped = (not only and not held and table is not None and self.status.running
                   and self.status.progress is not None
                   and self.status.progress.table == table and self.cancel())
        async with self._lock, self._choices:
            self.hold_at_start = None
            await state.ensure_state(self.local)
            before = await subscriptions.read(self.local)
            if only:
                subs = await subscriptions.hold_only(self.local, tables)
            elif table is None:
                raise DucksyncError("subscribe needs a table (or only=true with tables)")
            elif held:
                subs = await subscriptions.hold(self.local, table)
            else:
                subs = await subscriptions.unsubscribe(self.local, table, keep_local=keep_local)
                await self.local.execute("CHECKPOINT")
                if not keep_local:
                    self.status.stopped.pop(table, None)
                    self.status.unsent_tables.pop(table, None)
            await self._note_held()
            self._split_unsent()  # a copy's changes move between "to send" and "kept"
        if ((((only or held) and subs != before) or stopped)
                and (self.schedule.interval_s or self.schedule.on_write)):
            # syncing by itself: pull what is now held (or what the cancelled run still
            # had to do) at once
            self.schedule.asap = True
            self._wakeup()
        self.publish()
        return subs.to_dict()

    async def drop_everywhere(self, table: str) -> dict[str, Any]:
        """Drop ``table`` here and on the remote (engine/drop.py): the explicit way, since
        a sync never propagates a dropped table. Waits for a running sync."""
        async with self._lock:
            done = await engine_drop.drop_everywhere(self.local, self.remote, table)
            await self.local.execute("CHECKPOINT")
        self.status.stopped.pop(table, None)  # nothing left to offer for it
        self.publish()
        return done

    async def tables(self) -> list[dict[str, Any]]:
        """Local user tables: rows, key, last sync, pending conflicts, outbox, the error
        of this page's last run of the table (None when it synced), and ``held``: whether
        this device holds it (a copy kept after unsubscribing keeps its sync state, yet
        no sync covers it: the page must not call it synced)."""
        await state.ensure_state(self.local)
        subs = await subscriptions.read(self.local)
        names = await state.list_local_tables(self.local)
        synced = {t["table"]: t for t in await engine_conflicts.table_status(self.local)}
        counts: dict[str, int] = {}
        if names:
            sql = " UNION ALL ".join(
                f"SELECT {literal(n)}, "
                f"count(*) FROM {sb.quote_ident(n)}" for n in names)
            counts = {str(n): int(c) for n, c in await self.local.fetch_rows(sql)}
        unsent = await self.count_unsent()  # no hashing unless written since the last count
        out = []
        for name in names:
            info = await state.describe_local(self.local, name)
            key = info["primary_key"] if info else []
            owed = None
            if info and not key and name in synced:  # created keyless: its key
                owed = await state.pending_key(self.local, name)  # comes after its rows
            s = synced.get(name)
            out.append({"table": name, "rows": counts.get(name, 0), "unsent": unsent.get(name),
                        "primary_key": owed or key, "key_pending": owed is not None,
                        "synced": s is not None, "synced_at": s and s["synced_at"],
                        "held": subs.holds(name),
                        "pending_conflicts": s["pending_conflicts"] if s else 0,
                        "rejections": s["pending_rejections"] if s else 0,
                        "outbox_batches": s["outbox_batches"] if s else 0,
                        "error": self.status.table_errors.get(name)})
        keyless = [str(t["table"]) for t in out if not t["primary_key"]]
        if keyless != self.status.keyless_tables:  # the badge names them (not "in sync")
            self.status.keyless_tables = keyless
            self.publish()
        return out

    async def sync_log(self, limit: int = 50) -> list[dict[str, Any]]:
        await state.ensure_state(self.local, extra=(SYNC_LOG_DDL,))
        rows = await self.local.fetch_rows(
            "SELECT started_at::VARCHAR, ended_at::VARCHAR, direction, tables, rows_pushed, "
            "rows_pulled, conflicts, bytes_raw, bytes_compressed, outcome, error, trigger, ms "
            "FROM ducksync.sync_log ORDER BY started_at DESC LIMIT ?", [int(limit)])
        keys = ("started_at", "ended_at", "direction", "tables", "rows_pushed", "rows_pulled",
                "conflicts", "bytes_raw", "bytes_compressed", "outcome", "error", "trigger",
                "ms")
        return [dict(zip(keys, r, strict=True)) for r in rows]

