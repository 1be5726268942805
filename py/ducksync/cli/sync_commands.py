"""``ducksync push|pull|sync|status|conflicts|rejections|drop``: the engine on native stores.

These commands prove the engine natively: the same code the browser worker runs,
here over duckdb files or ``md:DB``. Exit 0 means converged; 1 means the run
finished but something waits (conflicts, CAS retries, rows the server's sync rules
rejected, a table that failed). Against a server that requires sign-in, set
``DUCKSYNC_USER``/``DUCKSYNC_PASSWORD`` (or ``DUCKSYNC_API_KEY``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from ducksync.engine.merge import POLICY_NAMES as POLICIES
from ducksync.engine.merge import checked_policy
from ducksync.errors import InvalidOptionError


def _policy(text: str) -> str:
    """``--conflict``, checked before anything opens (the engine's own check)."""
    try:
        checked_policy(text)
    except InvalidOptionError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message}: {exc.hint}") from None
    return text


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of rows above 0")
    return n


def _csv(text: str | None) -> list[str] | None:
    items = [t.strip() for t in (text or "").split(",") if t.strip()]
    return items or None


def register(subparsers: Any) -> None:
    for mode, text in (("sync", "push local changes and pull remote ones"),
                       ("push", "send local changes to REMOTE"),
                       ("pull", "bring REMOTE's changes into LOCAL")):
        p: argparse.ArgumentParser = subparsers.add_parser(mode, help=text, description=text)
        p.add_argument("local", metavar="LOCAL", help="local DuckDB file")
        p.add_argument("remote", metavar="REMOTE", help="DuckDB file, md:DB or http(s):// URL")
        p.add_argument("--table", default=None, metavar="T[,T2]",
                       help="tables (default: every table with a primary key)")
        p.add_argument("--key", default=None, metavar="COL[,COL]",
                       help="key columns for tables without a primary key")
        p.add_argument("--conflict", default="manual", metavar="POLICY", type=_policy,
                       help=f"one of {', '.join(POLICIES)} (default manual)")
        p.add_argument("--batch-rows", type=_positive, default=None, metavar="N",
                       help="rows per pushed Arrow batch (default 100000; 1000000 for an "
                            "initial push into an empty remote table)")
        p.add_argument("--watermark", default=None, metavar="COL",
                       help="append-only hint: a column whose value grows for every new or "
                            "changed row (monotonic key, updated_at); only rows above the "
                            "last sync's maximum are scanned, verified by checksums (falls "
                            "back to the full diff otherwise)")
        p.add_argument("--compress", choices=("gzip", "zstd"), default=None,
                       help="compress batches on the wire")
        p.add_argument("--allow-mass-delete", action="store_true",
                       help="let this run delete more than half of a table's rows (and at "
                            "least 1000) on the other side; without it such a table stops "
                            "unchanged and the run exits 1")
        p.add_argument("--json", action="store_true", help="print the report as JSON")
        p.set_defaults(handler=run_sync, mode=mode)
    st = subparsers.add_parser("status", help="per-table sync state and pending conflicts")
    st.add_argument("local", metavar="LOCAL")
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=run_status)
    cf = subparsers.add_parser("conflicts", help="list or resolve pending conflicts")
    cf.add_argument("local", metavar="LOCAL")
    cf.add_argument("--table", default=None, help="table of the conflict (needed to resolve "
                    "when several tables have one with the same key)")
    cf.add_argument("--resolve", default=None, metavar="KEY",
                    help="key as listed: the value (one-column key) or a JSON array of "
                         "the values (several columns, e.g. '[\"x\", 2]')")
    cf.add_argument("--take", choices=("local", "remote"), default=None)
    cf.add_argument("--json", action="store_true")
    cf.set_defaults(handler=run_conflicts)
    rj = subparsers.add_parser(
        "rejections", help="list, discard or retry rows the server's sync rules refused",
        description="Rows a server with sync rules refused (not yours, or a read-only "
                    "table) stay here and are not sent again while unchanged. Fix the row "
                    "and sync, or --discard it (the next sync brings back what the server "
                    "holds for it, if you may see it), or --retry it unchanged.")
    rj.add_argument("local", metavar="LOCAL")
    rj.add_argument("--table", default=None, help="table of the row (needed when several "
                    "tables have one with the same key)")
    act = rj.add_mutually_exclusive_group()
    act.add_argument("--discard", default=None, metavar="KEY",
                     help="give up the refused change (key as listed, or a JSON array "
                          "of the values as for `conflicts --resolve`)")
    act.add_argument("--retry", default=None, metavar="KEY",
                     help="send the row again at the next sync, unchanged")
    rj.add_argument("--json", action="store_true")
    rj.set_defaults(handler=run_rejections)
    dr = subparsers.add_parser(
        "drop", help="drop a table here and on REMOTE (a sync never does)",
        description="Drop TABLE in LOCAL and in REMOTE and forget its sync state. A sync "
                    "never propagates a dropped table (it stops the table and keeps the "
                    "other side's copy); this is the explicit way. Other devices keep "
                    "their copy and report it dropped on the remote.")
    dr.add_argument("local", metavar="LOCAL", help="local DuckDB file")
    dr.add_argument("remote", metavar="REMOTE", help="DuckDB file, md:DB or http(s):// URL")
    dr.add_argument("table", metavar="TABLE")
    dr.add_argument("--everywhere", action="store_true", required=True,
                    help="required: confirms that both copies go")
    dr.set_defaults(handler=run_drop)


def _human(rep: dict[str, Any]) -> str:
    from ducksync.errors import error_from_wire

    lines = []
    for t in rep["tables"]:
        if error := t["error"]:  # message (hint) [request id …], as the error prints
            lines.append(f"{t['table']}: FAILED {error['name']}: {error_from_wire(error)}")
            continue
        lines.append(
            f"{t['table']}: pushed {t['pushed']}, pulled {t['pulled']}, conflicts "
            f"{t['conflicts']} ({t['pending_conflicts']} pending), sent {t['bytes_sent']} B, "
            f"received {t['bytes_received']} B, {t['ms']:.0f} ms"
            + ("" if t["converged"] else " — not converged"))
        if t.get("rejections"):
            lines.append(f"{t['table']}: {t['rejections']} row(s) rejected by the server's "
                         "sync rules, kept here: `ducksync rejections LOCAL` lists them")
    return "\n".join(lines)


def run_sync(args: argparse.Namespace) -> int:
    from ducksync.engine.sqlbuild import quote_ident
    from ducksync.engine.sync import SyncOptions, sync
    from ducksync.stores import open_local, open_store

    remote = open_store(args.remote)
    local = open_local(args.local)
    opts = SyncOptions(tables=_csv(args.table), key=_csv(args.key), policy=args.conflict,
                       batch_rows=args.batch_rows,
                       compression=args.compress, watermark=args.watermark,
                       allow_mass_delete=args.allow_mass_delete)
    async def run() -> tuple[dict[str, Any], list[str]]:
        try:
            await _prime(local, remote)
            report = (await sync(local, remote, opts, args.mode)).to_dict()
        finally:
            await _close(remote)
        everything = opts.tables is None and opts.key is None
        return report, await _keyless(local, report) if everything else []

    rep, keyless = asyncio.run(run())
    print(json.dumps(rep, default=str) if args.json else _human(rep))
    for name in keyless:
        print(f"{name}: not synced (no primary key): declare one (ALTER TABLE "
              f"{quote_ident(name)} ADD PRIMARY KEY (col)) or pass --table {name} --key COL",
              file=sys.stderr)
    return 0 if rep["converged"] else 1


async def _keyless(local: Any, report: dict[str, Any]) -> list[str]:
    """Local tables a run over every table left out for want of a primary key: the
    engine syncs only keyed tables by default, and a silent skip reads as "synced"."""
    from ducksync.engine import state

    done = {t["table"] for t in report["tables"]}
    out = []
    for name in await state.list_local_tables(local):
        info = None if name in done else await state.describe_local(local, name)
        if info is not None and not info["primary_key"]:
            out.append(name)
    return out


async def _prime(local: Any, remote: Any) -> None:
    """Each run opens a new store that knows nothing of the remote; told what the last
    sync here saw (``engine.state.last_remote``), its survey takes one round trip instead
    of two (a guess the survey's own statement checks). A remote behind our server needs
    none: the server's pooled stores know."""
    from ducksync.engine.state import last_remote

    prime = getattr(remote, "prime", None)
    if prime is not None and (last := await last_remote(local)) is not None:
        prime(*last)


async def _close(remote: Any) -> None:
    """Close an HTTP store's connections in the loop that opened them (a CLI run in a
    long-lived process, or a test, would otherwise leak its sockets)."""
    aclose = getattr(remote, "aclose", None)
    if aclose is not None:
        await aclose()


def run_status(args: argparse.Namespace) -> int:
    from ducksync.cli import open_existing_local
    from ducksync.engine.conflicts import table_status

    rows = asyncio.run(table_status(open_existing_local(args.local)))
    if args.json:
        print(json.dumps(rows, default=str))
    elif not rows:
        print(f"no table has synced yet in {args.local}: `ducksync sync {args.local} REMOTE` "
              "syncs every table with a primary key")
    for r in [] if args.json else rows:
        print(f"{r['table']}: key {','.join(r['key'])}, {r['base_rows']} rows synced at "
              f"{r['synced_at']}, {r['pending_conflicts']} pending conflicts, "
              f"{r['pending_rejections']} rejected rows, "
              f"{r['outbox_batches']} unsettled batches")
    return 0


def run_conflicts(args: argparse.Namespace) -> int:
    from ducksync.cli import open_existing_local
    from ducksync.engine.conflicts import (
        conflicts_with_versions,
        list_conflicts,
        names_key,
        resolve,
    )
    from ducksync.errors import DucksyncError

    local = open_existing_local(args.local)
    if args.resolve is None:
        rows = asyncio.run(conflicts_with_versions(local, args.table))
        if args.json:
            print(json.dumps(rows, default=str))
        for r in [] if args.json else rows:  # both versions: what the choice is between
            print(f"{r['table']} key={r['key']} ({r['kind']}) at {r['detected_at']}\n"
                  f"  local:  {'deleted' if r['local'] is None else r['local']}\n"
                  f"  remote: {'deleted' if r['remote'] is None else r['remote']}")
        if rows and not args.json:
            print(f"keep one: ducksync conflicts {args.local} --resolve KEY "
                  "--take local|remote (then sync)")
        return 0
    if args.take is None:
        raise DucksyncError("--resolve needs --take local|remote")
    matches = [r for r in asyncio.run(list_conflicts(local, args.table))
               if names_key(r, args.resolve)]
    _one(matches, args.resolve, "pending conflict", "conflicts")
    asyncio.run(resolve(local, matches[0]["table"], matches[0]["key"], args.take))
    print(f"resolved {matches[0]['table']} key={matches[0]['key']}: took {args.take}",
          file=sys.stderr)
    return 0


def _one(matches: list[dict[str, Any]], key: str, what: str, command: str) -> None:
    """The one listed item ``key`` names, or an error saying which fix applies: another
    key (none matched) or ``--table`` (several tables have one with that key)."""
    from ducksync.errors import DucksyncError

    if not matches:
        raise DucksyncError(f"no {what} has key {key!r}",
                            hint=f"`ducksync {command} LOCAL` lists them with their keys")
    if len(matches) > 1:
        tables = ", ".join(sorted(m["table"] for m in matches))
        raise DucksyncError(f"{len(matches)} {what}s have key {key!r} (tables {tables})",
                            hint="add --table T to say which")


def run_rejections(args: argparse.Namespace) -> int:
    from ducksync.cli import open_existing_local
    from ducksync.engine.rejections import discard, list_rejections, retry
    from ducksync.engine.waiting import names_key

    local = open_existing_local(args.local)
    rows = asyncio.run(list_rejections(local, args.table))
    typed = args.discard or args.retry
    if typed is None:
        if args.json:
            print(json.dumps(rows, default=str))
        for r in [] if args.json else rows:
            print(f"{r['table']} key={r['key']}: {r['why']}"
                  + (" (a delete)" if r["deleted"] else "") + f", at {r['rejected_at']}")
        return 1 if rows else 0
    matches = [r for r in rows if names_key(r, typed)]
    _one(matches, typed, "rejected row", "rejections")
    done = discard if args.discard else retry
    asyncio.run(done(local, matches[0]["table"], matches[0]["key"]))
    print(f"{'discarded' if args.discard else 'will retry'} {matches[0]['table']} "
          f"key={matches[0]['key']}", file=sys.stderr)
    return 0


def run_drop(args: argparse.Namespace) -> int:
    from ducksync.engine.drop import drop_everywhere
    from ducksync.stores import open_local, open_store

    remote = open_store(args.remote)

    async def run() -> dict[str, bool]:
        try:
            return await drop_everywhere(open_local(args.local), remote, args.table)
        finally:
            await _close(remote)

    done = asyncio.run(run())
    where = [side for side in ("local", "remote") if done[side]]
    print(f"dropped {args.table!r} ({' and '.join(where) or 'sync state only'})",
          file=sys.stderr)
    return 0
