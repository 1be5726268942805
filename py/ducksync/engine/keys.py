"""Key values must tell rows apart: a NULL or a repeated key is refused before anything moves.

Rows are matched across the two sides by key. A NULL never equals anything, so a
row with a NULL key would be skipped (never sent, never compared), and a key held
by several rows would collapse them into one (a pull deletes every local row with
the key, then inserts the remote's). A declared PRIMARY KEY rules both out (DuckDB
and MotherDuck enforce it), so only a key that the side does not declare is
checked: locally when the table is about to be created on the remote or has
changes, remotely on the rows detection reads. The check is one aggregate over the
relation, and it runs before the remote table is created and before any row is
written on either side.

Also checked by the remote itself, for ``push`` alone (which reads no remote rows):
``stores.remote_sql.repeated_keys_sql`` in its compare-and-swap.
"""

from __future__ import annotations

from typing import Literal

from ducksync.engine import sqlbuild as sb
from ducksync.engine.state import key_text_sql
from ducksync.engine.store import LocalStore
from ducksync.errors import InvalidKeyError

__all__ = ["SAMPLE", "refuse_bad_keys"]

SAMPLE = 3  # offending keys named in the message


def _check_sql(key: list[str], source: str) -> str:
    """One pass: keys on several rows or with a NULL, grouped, then summed.

    Columns: repeated keys, rows holding them, their sample (``label (n rows)``), then
    per key column the rows where it is NULL, then a sample of keys with a NULL."""
    nulls = " OR ".join(f"{sb.quote_ident(k)} IS NULL" for k in key)
    label = key_text_sql(key, "g")
    per_column = "".join(f", sum(n) FILTER (WHERE {sb.quote_ident(k)} IS NULL)::BIGINT"
                         for k in key)
    return (
        f"WITH g AS (SELECT {sb.cols_sql(key)}, count(*) AS n FROM {source} GROUP BY ALL "
        f"HAVING count(*) > 1 OR {nulls}) "
        f"SELECT count(*) FILTER (WHERE NOT ({nulls})), "
        f"sum(n) FILTER (WHERE NOT ({nulls}))::BIGINT, "
        f"(SELECT string_agg(s, ', ' ORDER BY n DESC, s) FROM (SELECT {label} || ' (' || n "
        f"|| ' rows)' AS s, n FROM g WHERE NOT ({nulls}) ORDER BY n DESC, s LIMIT {SAMPLE}))"
        f"{per_column}, (SELECT string_agg(s, ', ' ORDER BY s) FROM (SELECT {label} AS s "
        f"FROM g WHERE {nulls} ORDER BY s LIMIT {SAMPLE})) FROM g")


async def refuse_bad_keys(local: LocalStore, table: str, key: list[str], source: str, *,
                          side: Literal["local", "remote"]) -> None:
    """Raise :class:`InvalidKeyError` when ``source`` (a relation of the local database
    with the ``key`` columns: the table itself, or the remote rows detection fetched)
    holds a NULL in a key column or a key on several rows."""
    row = (await local.fetch_rows(_check_sql(key, source)))[0]
    repeated, repeated_rows, sample = int(row[0] or 0), int(row[1] or 0), row[2]
    null_rows = [int(n or 0) for n in row[3:3 + len(key)]]
    null_sample = row[3 + len(key)]
    if not repeated and not any(null_rows):
        return
    cols = ", ".join(key)
    problems = [f"{k} is NULL in {n} row{'s' if n > 1 else ''}"
                for k, n in zip(key, null_rows, strict=True) if n]
    if any(null_rows) and len(key) > 1 and null_sample:
        problems[-1] += f" (e.g. {null_sample})"
    if repeated:
        problems.append(f"{repeated} key value{'s are' if repeated > 1 else ' is'} held by "
                        f"more than one row ({repeated_rows} rows), e.g. {sample}")
    where = "the local table" if side == "local" else "the remote table"
    fix = ("in the local table" if side == "local" else "on the remote")
    done = "nothing was sent or changed" if side == "local" else "no row was pulled or changed"
    raise InvalidKeyError(
        f"{where} {table!r} has rows its key ({cols}) cannot tell apart: "
        + "; ".join(problems),
        hint=f"give every row a unique, non-NULL ({cols}) {fix}, or pass --key with columns "
             f"that identify each row; {done}")
