"""A remote's request-size limit, applied before anything is created or sent.

Our server refuses request bodies above ``DUCKSYNC_MAX_BODY_BYTES`` (HTTP 413, often
as a reset connection while the client is still uploading, which looked like the
server being down). A remote that has such a limit says so (:class:`BodyLimited`),
and the engine then (1) cuts batches well under it, so a large row that fits still
goes, alone if need be, and (2) refuses, before the remote table is created and
before any batch of a push is sent, a row whose values alone exceed it, naming the
table, the row's key, the size and the limit. The store itself refuses any body still
above the limit before sending it (:func:`too_large`), so no path retries a hopeless
upload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ducksync.engine import sqlbuild as sb
from ducksync.engine.store import BodyLimited, LocalStore, RemoteStore
from ducksync.errors import PayloadTooLargeError

__all__ = ["batch_bytes_under", "body_limit", "check_rows_fit", "describe_key", "too_large"]

# A batch aims at this share of the limit: the Arrow schema message (large for wide
# tables), offsets and the byte estimate's error must fit in the rest.
_BATCH_SHARE = 0.75
# Types whose values can be arbitrarily large and whose size DuckDB reads cheaply.
_TEXT_TYPES = ("VARCHAR", "JSON")
_BYTE_TYPES = ("BLOB", "BIT")
_PLUS_TERMS = 256  # terms summed with +; more go through list_sum (expression depth)


async def body_limit(remote: RemoteStore) -> int | None:
    """The remote's request body limit in bytes, or None when it has none."""
    return await remote.max_body_bytes() if isinstance(remote, BodyLimited) else None


def batch_bytes_under(limit: int | None, batch_bytes: int) -> int:
    """The batch size to aim at: ``batch_bytes``, lowered to fit under ``limit``."""
    return batch_bytes if limit is None else max(1, min(batch_bytes, int(limit * _BATCH_SHARE)))


def _size_sql(types: Mapping[str, str]) -> str | None:
    """SQL for the bytes of a row's variable-width values (None: the table has none).

    Nested types are not counted here (measuring them costs a cast of every value);
    a row they make too big is refused by the store when its batch is sent.
    """
    terms = []
    for name, type_sql in types.items():
        kind, ref = sb.check_type(type_sql).strip().upper(), "t." + sb.quote_ident(name)
        if kind in _TEXT_TYPES:
            terms.append(f"coalesce(strlen({ref}), 0)")
        elif kind in _BYTE_TYPES:
            terms.append(f"coalesce(octet_length({ref}), 0)")
    if not terms:
        return None
    if len(terms) <= _PLUS_TERMS:  # a + chain: cheaper than building a list per row
        return f"({' + '.join(terms)})"
    # a chain of thousands of terms would pass DuckDB's expression depth limit
    return f"list_sum([{', '.join(terms)}])"


def describe_key(key: Sequence[str], values: Sequence[Any]) -> str:
    """A row's key for a message: ``(id)=(7)``, ``(a, b)=('x', 2)``."""
    return f"({', '.join(key)})=({', '.join(repr(v) for v in values)})"


def too_large(table: str, what: str, size: int, limit: int, where: str) -> PayloadTooLargeError:
    """The error for ``what`` (a row or a batch of ``table``) of ``size`` bytes."""
    return PayloadTooLargeError(
        f"{what} of table {table!r} is {size:,} bytes; {where} accepts request bodies of "
        f"at most {limit:,} bytes, so it cannot be sent",
        hint="nothing of it was sent: keep values this large outside the table (a file "
             "with its path in the row) or shrink them, or raise the server's "
             "DUCKSYNC_MAX_BODY_BYTES")


async def check_rows_fit(local: LocalStore, remote: RemoteStore, table: str,
                         types: Mapping[str, str], key: Sequence[str], *,
                         pushed_only: bool = False) -> None:
    """Refuse, before anything is created or sent, a row that cannot be sent at all.

    Only for a remote with a limit: one scan of the variable-width columns of the
    table (before it is created remotely, or before its bulk push), or of the rows
    the plan pushes (``pushed_only``: a join with ``__ds_plan``).
    """
    limit = await body_limit(remote)
    size = _size_sql(types)
    if limit is None or size is None:
        return
    source = f"{sb.quote_ident(table)} t"
    if pushed_only:
        source += (f" SEMI JOIN (SELECT {sb.cols_sql(key)} FROM __ds_plan WHERE action = "
                   f"'push') p ON {sb.key_join_sql(key, 't', 'p')}")
    rows = await local.fetch_rows(
        f"SELECT {sb.cols_sql(key, 't')}, {size} FROM {source} WHERE {size} > ? LIMIT 1",
        [limit])
    if rows:
        *values, n = rows[0]
        raise too_large(table, f"row {describe_key(key, values)}", int(n), limit,
                        "the remote")
