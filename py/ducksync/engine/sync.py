"""Orchestration: sync, push or pull a set of tables and report what moved.

Each table is independent: a :class:`SchemaMismatchError` (or any typed error)
stops that table, is reported, and the others continue. In ``sync`` mode a
round that hit compare-and-swap conflicts (another client wrote meanwhile) is
repeated, so the next round sees those rows as remote changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from ducksync.engine import (
    bootstrap,
    bulk,
    detect,
    early_page,
    feed_pull,
    guard,
    keys,
    limits,
    merge,
    outbox,
    push,
    rejections,
    state,
    subscriptions,
)
from ducksync.engine import sqlbuild as sb
from ducksync.engine.detect import BaseSums, Top, Transfer
from ducksync.engine.merge import Policy, checked_policy
from ducksync.engine.overlap import both
from ducksync.engine.schema import Shape, Side, reconcile
from ducksync.engine.store import (
    CleanMark,
    LocalStore,
    RemoteStore,
    Survey,
    SurveyedTable,
    TableInfo,
    WriteTracked,
)
from ducksync.errors import (
    DucksyncError,
    MassDeleteError,
    NoPrimaryKeyError,
    SchemaMismatchError,
    TableDroppedError,
    error_to_wire,
)

__all__ = ["Mode", "Surveyed", "SyncOptions", "SyncReport", "TableReport", "survey", "sync"]

Mode = Literal["sync", "push", "pull"]
MAX_ROUNDS = 3
BATCH_ROWS = 100_000
BULK_ROWS = 1_000_000


@dataclass(kw_only=True)
class SyncOptions:
    """Knobs of one run. ``policies`` maps a table to its policy (else ``policy``)."""

    tables: list[str] | None = None
    key: list[str] | None = None
    policy: Policy = "manual"
    policies: dict[str, Policy] = field(default_factory=dict)
    batch_rows: int | None = None  # None: 100k rows per batch, 1M for the bulk path
    batch_bytes: int = 48 << 20  # stays under the server's 64 MB body limit
    compression: str | None = None
    # Append-only fast path: a column whose values only grow for new or changed rows
    # (a monotonic integer key, or e.g. ``updated_at``). A speed hint, never trusted:
    # rows above the cursor are fetched/compared first and checksums prove that
    # nothing else changed, else the full diff runs (see docs/engine.md).
    watermark: str | None = None
    watermarks: dict[str, str] = field(default_factory=dict)
    # Mass-delete guard (engine/guard.py): a table whose sync would delete more than
    # ``mass_delete_share`` of its rows, and at least ``mass_delete_min_rows``, on the
    # other side stops unchanged unless ``allow_mass_delete``.
    allow_mass_delete: bool = False
    mass_delete_share: float = 0.5
    mass_delete_min_rows: int = 1000
    # The change feed's hint (engine/feed_pull.py): per table, the keys (as text) the
    # commits it announced wrote. Tried first when this device did not write the table
    # since its last sync; proved by checksums, else the general round runs.
    feed_keys: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """An unknown policy is refused here, before a run sends anything."""
        checked_policy(self.policy)
        for policy in self.policies.values():
            checked_policy(policy)

    def rows_per_batch(self, bulk: bool = False) -> int:
        if self.batch_rows is not None:
            return max(1, self.batch_rows)
        return BULK_ROWS if bulk else BATCH_ROWS


@dataclass(kw_only=True)
class TableReport:
    """What happened to one table."""

    table: str
    pushed: int = 0
    pulled: int = 0
    conflicts: int = 0  # seen this run (decided by the policy or kept for a human)
    pending_conflicts: int = 0  # manual conflicts waiting in ducksync.conflicts
    # rows the remote's sync rules refused, kept here and held (ducksync.rejections)
    rejections: int = 0
    cas_retries: int = 0  # rows another client changed during the push
    pending_local: int = 0  # local changes a pull-only run did not send
    bytes_sent: int = 0
    bytes_received: int = 0
    remote_calls: int = 0
    ms: float = 0.0
    error: dict[str, Any] | None = None
    # debug hooks: time per phase (ms) and the fast paths taken ("bulk-push",
    # "local-unchanged", "remote-unchanged", "append-local", "append-pull", ...)
    timings: dict[str, float] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)
    # Why the table stopped, for a UI to offer the way out (``error`` says it in words):
    # "local" | "remote": dropped there since the last sync (re-download / re-upload
    # it, or drop it everywhere); ``{"side", "rows", "of"}``: the deletions the
    # mass-delete guard held back (allow them, or restore the rows).
    dropped_on: str | None = None
    mass_delete: dict[str, Any] | None = None

    @property
    def converged(self) -> bool:
        return (self.error is None and not self.pending_conflicts and not self.cas_retries
                and not self.pending_local and not self.rejections)


@dataclass(kw_only=True)
class SyncReport:
    """One run over several tables."""

    mode: Mode
    tables: list[TableReport]

    @property
    def converged(self) -> bool:
        return all(t.converged for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "converged": self.converged,
                "tables": [asdict(t) | {"converged": t.converged} for t in self.tables]}


@dataclass(frozen=True)
class Surveyed:
    """The remote as one :meth:`RemoteStore.survey` saw it at the start of a run.

    A snapshot: each table's first round trusts it instead of asking again (a no-op
    sync of N tables is that one call). Later rounds ask afresh. A change the remote
    takes after the survey is seen by the next sync; writes stay safe meanwhile,
    because compare-and-swap checks every pushed row against the remote as it is.
    """

    remote_id: str
    tables: dict[str, SurveyedTable]
    # the rows of the keys the change feed named, fetched beside the survey
    feed_rows: feed_pull.Fetched = field(default_factory=dict)
    hash_probe: str | None = None  # the remote engine's (Survey.hash_probe)

    @classmethod
    def of(cls, answer: Survey, feed_rows: feed_pull.Fetched | None = None) -> Surveyed:
        return cls(answer["remote_id"], {t["info"]["name"]: t for t in answer["tables"]},
                   feed_rows or {}, answer.get("hash_probe"))

    def info(self, table: str) -> TableInfo | None:
        found = self.tables.get(table)
        return found["info"] if found is not None else None

    def top(self, table: str, key: list[str]) -> Top | None:
        """The whole-table checksum, when it was taken with ``key``."""
        found = self.tables.get(table)
        if found is None or not found["key"] or found["key"] != key:
            return None
        return (int(found["checksum"]), int(found["rows"])) if found["rows"] else (0, 0)


async def survey(local: LocalStore, remote: RemoteStore, opts: SyncOptions, mode: Mode, *,
                 extra_state: tuple[str, ...] = ()) -> tuple[list[str], Surveyed]:
    """A run's start: the local state checked while the remote is surveyed (one round
    trip), then the tables to sync (``opts.tables``, else :func:`default_tables`). The
    rows of keys the change feed named are fetched beside the survey."""
    hints = {t: k for t, k in opts.feed_keys.items() if t in (opts.tables or [])}
    fetch = await feed_pull.prefetch(local, remote, hints) if hints and mode != "push" \
        else None
    (_, answer), fetched = await both(
        both(state.ensure_state(local, extra=extra_state),
             remote.survey(opts.tables, opts.key)),
        fetch() if fetch is not None else _no_rows())
    seen = Surveyed.of(answer, fetched)
    tables = opts.tables or await default_tables(local, seen, mode, opts.key)
    return tables, seen


async def _no_rows() -> feed_pull.Fetched:
    return {}


def _policy_name(p: Policy) -> str:
    return p if isinstance(p, str) else getattr(p, "__name__", "callable")


async def _bulk_eligible(local: LocalStore, remote: RemoteStore, shape: Shape,
                         xfer: Transfer, sums: BaseSums | None,
                         known_top: Top | None) -> tuple[bool, Top | None]:
    """Initial push? Base empty (no pending conflicts), key = local primary key, local
    rows, remote table empty (known without asking when this sync created it).

    Returns the remote's whole-table checksum when it was fetched (reused by detection).
    ``sums``: the base's, when known (a base with rows settles it without a query).
    """
    base = state.base_table(shape.table)
    if shape.local_pk != tuple(shape.key) or (sums is not None and sums.n):
        return False, None
    n = await local.fetch_rows(
        f"SELECT (SELECT count(*) FROM {base}) + (SELECT count(*) FROM ducksync.conflicts "
        f"WHERE table_name = ?), (SELECT count(*) FROM (SELECT 1 FROM "
        f"{sb.quote_ident(shape.table)} LIMIT 1))", [shape.table])
    if n[0][0] or not n[0][1]:
        return False, None
    if shape.remote_created:  # empty: no round trip to ask (a racing writer's keys are
        return True, None     # refused by the remote's bulk path, see bulk_push)
    top = known_top or await detect.remote_top(local, remote, shape, xfer)
    return top == (0, 0), top


async def _boots(local: LocalStore, shape: Shape, mode: Mode, sums: BaseSums | None,
                 boot_cursor: str | None, surveyed_top: Top | None) -> bool:
    """The round bootstraps the table: one under way resumes, or a new one may start
    (engine/bootstrap.py)."""
    return mode != "push" and (boot_cursor is not None or (
        surveyed_top not in (None, (0, 0)) and await bootstrap.eligible(local, shape, sums)))


async def _batch_bytes(remote: RemoteStore, opts: SyncOptions) -> int:
    """``opts.batch_bytes``, lowered under the remote's body limit (asked only when
    rows are sent or fetched: a no-op sync makes no extra round trip)."""
    return limits.batch_bytes_under(await limits.body_limit(remote), opts.batch_bytes)


async def _round(local: LocalStore, remote: RemoteStore, table: str, opts: SyncOptions,
                 mode: Mode, rep: TableReport, xfer: Transfer, shape: Shape, *,
                 local_unchanged: bool = False, known_base_top: Top | None = None,
                 sums: BaseSums | None = None, surveyed_top: Top | None = None,
                 boot_cursor: str | None = None, feed_keys: list[str] | None = None,
                 feed_rows: tuple[int, list[bytes]] | None = None,
                 hash_probe: str | None = None,
                 early: early_page.EarlyPage | None = None) -> bool:
    """One detect → merge → pull → push round; True when another round is needed.

    ``local_unchanged``: skip hashing the local table, and ``known_base_top``: the
    base's checksum, when still known (see :class:`WriteTracked`). ``sums``: the
    base's sums as the last sync left them, when known (``state.Stored``).
    ``surveyed_top``: the remote's whole-table checksum from this run's survey.
    ``boot_cursor``: where an interrupted bootstrap stopped (it resumes there).
    ``feed_keys``: the keys the change feed announced (engine/feed_pull.py), tried when
    the local table is unchanged and the remote's checksum moved. ``hash_probe``: the
    remote engine's (``Survey.hash_probe``), for a bootstrap, and ``early`` its first
    page when already asked for (engine/early_page.py).
    Sets ``xfer.base_sums`` when the round leaves the base as it found it, or when a
    bulk push summed what it wrote."""
    top: Top | None = None
    xfer.base_sums = None
    rep.cas_retries = 0  # this round re-reads the rows a compare-and-swap refused
    if surveyed_top is not None:
        xfer.calls += 1  # the checksum question, answered by the survey
    boots: bool | None = None  # this round bootstraps (asked here only when it matters)
    if shape.key_pending:  # the key a table created here still lacks: now, unless the
        boots = await _boots(local, shape, mode, sums, boot_cursor, surveyed_top)
        if not boots:      # bootstrap adds it at its end
            with xfer.phase("keys.add"):
                if await keys.add_pending_key(local, table, shape.types):
                    sums, local_unchanged, known_base_top = None, False, None
            shape = replace(shape, key_pending=False)
    if mode != "pull":
        with xfer.phase("bulk.check"):
            eligible, top = await _bulk_eligible(local, remote, shape, xfer, sums,
                                                 surveyed_top)
        if eligible:
            xfer.paths.append("bulk-push")
            if not shape.remote_created:  # else reconcile checked, before creating it
                await limits.check_rows_fit(local, remote, table, shape.types, shape.key)
            await state.forget_base_sums(local, table)
            applied, cas, xfer.base_sums = await bulk.bulk_push(
                local, remote, shape, xfer, batch_rows=opts.rows_per_batch(bulk=True),
                batch_bytes=await _batch_bytes(remote, opts), compression=opts.compression)
            rep.pushed += applied
            rep.cas_retries = cas
            return cas > 0 and mode == "sync"
    if boots if boots is not None else await _boots(local, shape, mode, sums, boot_cursor,
                                                     surveyed_top):
        xfer.paths.append("bootstrap")
        with xfer.phase("bootstrap"):
            booted = await bootstrap.run(
                local, remote, shape, xfer, cursor=boot_cursor,
                top=surveyed_top or await detect.remote_top(local, remote, shape, xfer),
                page_rows=opts.rows_per_batch(bulk=True), page_bytes=opts.batch_bytes,
                remote_probe=hash_probe, early=early.adopt if early is not None else None)
        rep.pulled += booted.pulled
        xfer.base_sums = booted.sums
        # the remote changed meanwhile, or local writes since an interruption: a normal
        # round finds how
        return booted.moved or booted.resumed
    if (feed_keys and local_unchanged and mode != "push" and sums is not None
            and surveyed_top is not None and surveyed_top != sums.top):
        with xfer.phase("feed.pull"):
            pulled = await feed_pull.feed_pull(
                local, remote, shape, xfer, keys=feed_keys, top=surveyed_top, sums=sums,
                limit=None if opts.allow_mass_delete else guard.DeleteLimit(
                    share=opts.mass_delete_share, min_rows=opts.mass_delete_min_rows),
                fetched=feed_rows)
        if pulled == feed_pull.LOCAL_MOVED:
            local_unchanged = False  # a write the token did not see: hash the table
        elif pulled is not None:  # proved: the base now equals the remote's checksum
            rep.pulled += pulled
            xfer.base_top = surveyed_top
            return False
    wm = opts.watermarks.get(table, opts.watermark)
    cursor = None
    if wm is not None:
        if wm not in shape.columns:
            raise SchemaMismatchError(f"watermark column {wm!r} is not in {table!r}",
                                      hint="pass --watermark with a column of every table "
                                           "synced, or sync the tables separately")
        cursor = await state.get_cursor(local, table, wm)
    # The remote hashes its table while the local side hashes its own: the whole-table
    # checksum is requested first and awaited after local detection (a real transport
    # overlaps the two; the answer is read into the local DB only afterwards, so local
    # statements never interleave).
    top = top or surveyed_top
    pending_top: asyncio.Future[bytes] | None = None
    if mode != "push" and top is None:
        pending_top = asyncio.ensure_future(
            remote.bucket_checksums(shape.table, shape.key, 1, 1, []))
    try:
        with xfer.phase("detect.local"):
            # A write-tracked store (the browser's) got here because a write moved its
            # token (or it has no mark yet): a change is likely, hash once.
            n_local, sums = await detect.detect_local(
                local, shape, xfer, watermark=wm, cursor=cursor, unchanged=local_unchanged,
                hash_once=isinstance(local, WriteTracked), sums=sums)
    except BaseException:
        if pending_top is not None:
            pending_top.cancel()
            with contextlib.suppress(BaseException):
                await pending_top
        raise
    base_top = sums.top if sums is not None else None
    if pending_top is not None:
        # The base's own checksum (unless detect_local read it on its way) is computed
        # while the remote is still hashing (the base does not change before
        # detect_remote compares the two).
        try:
            with xfer.phase("detect.base"):
                if base_top is None:
                    base_top = known_base_top or await detect.base_top(local, shape)
        except BaseException:
            pending_top.cancel()
            with contextlib.suppress(BaseException):
                await pending_top
            raise
        with xfer.phase("detect.remote"):
            top = await detect.ingest_top(local, xfer, await pending_top)
    prefetched = False
    n_remote = 0
    if mode != "push":
        with xfer.phase("detect.remote"):
            n_remote, prefetched = await detect.detect_remote(
                local, remote, shape, xfer, top=top, watermark=wm, cursor=cursor,
                batch_rows=opts.rows_per_batch(), base_sum=base_top)
    if not n_local and not n_remote:
        xfer.base_top = base_top  # compared and left untouched
        xfer.base_sums = sums
        return False  # nothing changed on either side: no plan, no transaction
    if n_local and shape.local_pk != tuple(shape.key) and not shape.remote_created:
        # before either side is written (reconcile checked before creating the remote)
        with xfer.phase("keys.check"):
            await keys.refuse_bad_keys(local, table, shape.key, sb.quote_ident(table),
                                       side="local")
    await state.forget_base_sums(local, table)  # before the plan writes the base
    # Detection leaves a side's table unwritten when it found nothing; the plan reads both.
    if not n_local:
        await detect.empty_local(local, shape)
    if not n_remote:
        await detect.empty_remote(local, shape)
    with xfer.phase("fetch"):
        await merge.fetch_changed(local, remote, shape, xfer, batch_rows=opts.rows_per_batch(),
                                  batch_bytes=await _batch_bytes(remote, opts),
                                  prefetched=prefetched)
    with xfer.phase("plan"):
        await merge.build_plan(local, shape)
        await rejections.hold(local, shape)
        if not opts.allow_mass_delete:
            await guard.check_deletes(
                local, table, push=mode != "pull", pull=mode != "push",
                limit=guard.DeleteLimit(share=opts.mass_delete_share,
                                        min_rows=opts.mass_delete_min_rows))
        policy = opts.policies.get(table, opts.policy)
        rep.conflicts += await merge.apply_policy(local, shape, policy)
    if mode != "push":
        with xfer.phase("pull.apply"):
            rep.pulled += await merge.apply_pull(local, shape, _policy_name(policy))
    pending = await local.fetch_rows("SELECT count(*) FROM __ds_plan WHERE action = 'push'")
    if mode == "pull":
        rep.pending_local = int(pending[0][0])
        return False
    if not pending[0][0]:
        return False
    await limits.check_rows_fit(local, remote, table, shape.types, shape.key, pushed_only=True)
    applied, cas = await push.push_plan(local, remote, shape, xfer,
                                        batch_rows=opts.rows_per_batch(),
                                        batch_bytes=await _batch_bytes(remote, opts),
                                        compression=opts.compression)
    rep.pushed += applied
    rep.cas_retries = cas
    return cas > 0 and mode == "sync"


async def sync_table(local: LocalStore, remote: RemoteStore, table: str, opts: SyncOptions,
                     mode: Mode, *, surveyed: Surveyed | None = None) -> TableReport:
    """Sync one table; typed errors land in the report instead of stopping the run.

    ``surveyed``: this run's :func:`survey` (one call per run, not per table); None
    surveys this table here.
    """
    rep, xfer, t0 = TableReport(table=table), Transfer(), time.perf_counter()
    # Read before anything else: only writes from here on can make it stale.
    tracked = local if isinstance(local, WriteTracked) else None
    token = tracked.write_token() if tracked is not None else None
    clean = False  # set when this run proves the table equal to its base at ``token``
    early: early_page.EarlyPage | None = None
    try:
        with xfer.phase("reconcile"):
            if surveyed is None:
                surveyed = Surveyed.of(await remote.survey([table], opts.key))
            early = await _start_early(local, remote, table, opts, mode, surveyed)
            # An explicit pull (push) naming a table dropped here (there) restores it.
            restore: Side | None = None
            if opts.tables is not None and table in opts.tables and mode != "sync":
                restore = "local" if mode == "pull" else "remote"
            rinfo = surveyed.info(table)
            found = await reconcile(
                local, remote, table, opts.key, create_remote=mode != "pull",
                remote_info=rinfo, remote_id=surveyed.remote_id, restore=restore,
                defer_key=(mode != "push" and rinfo is not None
                           and bool(surveyed.tables[table]["rows"])
                           and bootstrap.pageable(rinfo, opts.key)))
            if found is None:  # synced before, now gone on both sides: state forgotten
                xfer.paths.append("forgotten")
                return rep
            shape = found
            if mode == "pull" and surveyed.info(table) is None:
                return rep
            if shape.state_made:  # made just now, tied to this remote: nothing to read
                stored, rebased = state.Stored(remote_id=surveyed.remote_id), False
            else:
                stored = await state.ensure_base(local, table, shape.key, shape.types,
                                                 shape.columns)
                rebased = await state.bind_remote(local, table, surveyed.remote_id,
                                                  stored.remote_id)
            if rebased:
                xfer.paths.append("remote-changed")  # a first sync against this remote
            settled = await outbox.recover(local, remote, shape, xfer)
            # Kept sums hold while nothing wrote the base since the last sync stored them.
            sums = None if rebased or settled else BaseSums.of(stored.base_sums)
        # The last proof holds only if the base is the one it was made against.
        mark = tracked.clean.get(table) if tracked is not None else None
        unchanged = (mark is not None and mark.token == token and not rebased
                     and not settled)
        for n_round in range(MAX_ROUNDS):
            first = unchanged and n_round == 0
            if not await _round(local, remote, table, opts, mode, rep, xfer,
                                # round 0 added a pending key, or bootstrapped (which adds it)
                                shape if n_round == 0 else replace(
                                    shape, remote_created=False, key_pending=False,
                                    state_made=False),
                                local_unchanged=first,
                                known_base_top=mark.base_top if first and mark else None,
                                sums=sums if n_round == 0 else None,
                                surveyed_top=(surveyed.top(table, shape.key)
                                              if n_round == 0 and not shape.remote_created
                                              else None),
                                boot_cursor=(stored.boot_cursor if n_round == 0 and not rebased
                                             else None),
                                feed_keys=opts.feed_keys.get(table) if first else None,
                                feed_rows=surveyed.feed_rows.get(table) if first else None,
                                hash_probe=surveyed.hash_probe,
                                early=early if n_round == 0 else None):
                break
        else:
            n_round = MAX_ROUNDS
        with xfer.phase("finish"):
            rows = await local.fetch_rows(
                "SELECT (SELECT count(*) FROM ducksync.conflicts WHERE table_name = ?), "
                "(SELECT count(*) FROM ducksync.rejections WHERE table_name = ?)",
                [table, table])
            rep.pending_conflicts, rep.rejections = int(rows[0][0]), int(rows[0][1])
            if rep.rejections:  # only while the refused rows are still as refused
                await rejections.prune(local, shape)
                rep.rejections = int((await local.fetch_rows(
                    "SELECT count(*) FROM ducksync.rejections WHERE table_name = ?",
                    [table]))[0][0])
            # Keep the base's sums for the next sync (read here after a run that wrote
            # the base: one pass now saves one on every no-op sync after it).
            kept = xfer.base_sums or await detect.base_sums(local, shape)
            await local.execute("UPDATE ducksync.tables SET synced_at = now(), base_n = ?, "
                                "base_x = ?, base_sum = ?, synced_columns = ? WHERE name = ?",
                                [*kept.row(), shape.columns, table])
            wm = opts.watermarks.get(table, opts.watermark)
            if wm is not None and rep.converged:
                await state.set_cursor(local, table, wm)
        # Local changes were all pushed (not a pull-only run), nothing waits for a
        # human, no round was cut short: the table equals its base as of ``token``.
        clean = (mode != "pull" and rep.converged and not rep.conflicts
                 and n_round < MAX_ROUNDS)
    except DucksyncError as exc:
        rep.error = error_to_wire(exc)  # with the server's request id, when one answered
        if isinstance(exc, TableDroppedError):
            rep.dropped_on = exc.side
        elif isinstance(exc, MassDeleteError):
            rep.mass_delete = {"side": exc.side, "rows": exc.rows, "of": exc.of}
    finally:
        if early is not None:  # not used by a bootstrap: cancelled, never counted
            await early.close()
        if tracked is not None:
            if clean and token is not None:
                untouched = n_round == 0 and xfer.base_top is not None
                tracked.clean[table] = CleanMark(token, xfer.base_top if untouched else None)
            else:
                tracked.clean.pop(table, None)
        rep.bytes_sent, rep.bytes_received = xfer.sent, xfer.received
        rep.remote_calls, rep.ms = xfer.calls, (time.perf_counter() - t0) * 1000
        rep.timings, rep.paths = dict(xfer.timings), list(xfer.paths)
    return rep


async def _start_early(local: LocalStore, remote: RemoteStore, table: str,
                       opts: SyncOptions, mode: Mode,
                       surveyed: Surveyed) -> early_page.EarlyPage | None:
    """The table's first bootstrap page asked for now, when the survey says that a
    bootstrap may run (the local side is :func:`early_page.start`'s)."""
    found = surveyed.tables.get(table)
    if mode == "push" or found is None or not found["rows"]:
        return None
    info = found["info"]
    key = list(info["primary_key"])
    if not bootstrap.pageable(info, opts.key) or surveyed.top(table, key) is None:
        return None
    try:
        return await early_page.start(
            local, remote, table, rows=int(found["rows"]), key=key,
            types={c["name"]: c["type"] for c in info["columns"]},
            remote_id=surveyed.remote_id, page_rows=opts.rows_per_batch(bulk=True),
            remote_probe=surveyed.hash_probe)
    except DucksyncError:  # a head start only: the round decides, and says what is wrong
        return None


async def default_tables(local: LocalStore, surveyed: Surveyed, mode: Mode,
                         key: list[str] | None) -> list[str]:
    """Without ``--table``: every user table with a primary key on either side, and
    every table synced before that is gone here (reported as dropped, not skipped),
    that this device holds (``engine/subscriptions.py``; by default every table)."""
    names = set()
    here = await state.list_local_tables(local)
    known = await state.known_tables(local)
    for name in here:
        info = await state.describe_local(local, name)
        if info and (info["primary_key"] or key or known.get(name)):  # or its key pending
            names.add(name)
    names |= set(known) - set(here)
    if mode != "push":
        names |= {t["info"]["name"] for t in surveyed.tables.values()
                  if t["info"]["primary_key"] or key}
    if not names:
        raise NoPrimaryKeyError("no table with a primary key to sync",
                                hint="declare primary keys, or pass --table T --key COL")
    return sorted((await subscriptions.read(local)).filter(names))  # may leave none


async def sync(local: LocalStore, remote: RemoteStore, opts: SyncOptions,
               mode: Mode = "sync") -> SyncReport:
    """Run ``mode`` over ``opts.tables`` (default: every table with a primary key)."""
    tables, surveyed = await survey(local, remote, opts, mode)
    reports = [await sync_table(local, remote, t, opts, mode, surveyed=surveyed)
               for t in tables]
    return SyncReport(mode=mode, tables=reports)
