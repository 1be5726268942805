"""Every name ducksync gives its own tables and columns, declared once.

Why one place: these names share a namespace with the user's tables and columns, on
two databases (the local one and the remote), and some cross the wire (the batch
and answer columns). A user table that collides, or a store that spells a name
differently from the engine, is a silent bug; listed here, a test
(``tests/engine/test_names.py``) checks that every ``__ds_*`` literal in the code is
one of them, so a new name is declared before it is used.

Three kinds:

* **temp tables / views** (``__ds_*``): connection-local scratch of one operation.
  On MotherDuck they live on the *client's* DuckDB, not on the server (see
  ``docs/remote-store.md``), so no hash the remote answers with may be computed by
  a statement that reads one.
* **protocol columns** (``__ds_*``): columns of batches, answers and hash lists.
* **schema ``ducksync``**: the engine's state in the local database and the
  ledger in the remote one (the remote's tables are created by
  :mod:`ducksync.stores.remote_sql`, once, outside data transactions).
"""

from __future__ import annotations

from typing import Final

__all__ = ["CONSOLE_HISTORY", "CONSOLE_RESULT", "FEED_JOINED", "FEED_KEYS", "FEED_ROWS",
           "LOCAL_STATE", "PROTOCOL_COLUMNS", "REMOTE_LEDGER", "ROWS_PREFIX", "SCHEMA", "TEMP",
           "is_internal"]

SCHEMA: Final = "ducksync"

# Columns that travel: batch (__ds_op, __ds_expect, __ds_lh), answer (+ __ds_status,
# __ds_rk, __ds_rh), hash lists (__ds_rk, __ds_rh), ledger rows (__ds_batch, __ds_at).
PROTOCOL_COLUMNS: Final = frozenset({
    "__ds_op", "__ds_expect", "__ds_lh", "__ds_status", "__ds_rk", "__ds_rh",
    "__ds_batch", "__ds_at", "__ds_seq", "__ds_cur",
    "__ds_ok",  # remote store: a batch row's new values pass its scope's filter
    # local scratch (never travel): keys.add_pending_key's rows of a key held twice
    "__ds_row", "__ds_h", "__ds_mine",
    # conflicts.conflicts_with_versions: a kept conflict row as one struct (its text)
    "__ds_version",
})

# The feed pull's temp tables (engine/feed_pull.py uses these constants).
FEED_KEYS: Final = "__ds_fk"
FEED_ROWS: Final = "__ds_frows"
FEED_JOINED: Final = "__ds_frt"

# Temp tables and registered views, by the module that owns them.
TEMP: Final = {
    # engine (local database)
    "__ds_l": "detect: local rows joined with the base",
    "__ds_lcur": "detect: the table hashed once (write-tracked stores)",
    "__ds_lr": "detect: local rows of a watermark range",
    "__ds_r": "detect: remote changes found by the descent",
    "__ds_rt": "detect: remote hashes of the differing leaves",
    "__ds_rcs": "detect: remote bucket checksums",
    "__ds_rkeys": "detect/merge: keys to fetch",
    "__ds_rfresh": "detect: rows fetched after a watermark",
    "__ds_rrows": "merge: fetched remote rows",
    "__ds_plan": "merge: the three-way plan",
    "__ds_push": "push: snapshot of the rows to push",
    "__ds_push_total": "push: how many rows the push sends",
    "__ds_res": "push (local) / remote store: an apply answer",
    "__ds_rng": "bulk: prefix of the range copies __ds_rng0/1/2",
    "__ds_spans": "bulk: each sent range's span of the first key column (keys sent twice)",
    "__ds_p0": "bulk: prediction scratch", "__ds_p1": "bulk: prediction scratch",
    "__ds_adopt": "bulk: the remote's (key, hashes) read after a crash",
    "__ds_unrec": "bulk: journaled rows of batches whose answer was lost, not yet in the base",
    "__ds_boot0": "bootstrap: a page of remote rows", "__ds_boot1": "bootstrap: the next page",
    "__ds_boot_total": "bootstrap: how many rows it still pulls",
    "__ds_boot_kept": "bootstrap: a page's rows whose keys neither the table nor base hold",
    "__ds_dup": "keys: rows whose key several rows hold, as a pending primary key is added",
    "__ds_dup_keys": "keys: per such key, the row kept and how many contents were written here",
    "__ds_x": "engine scratch",
    FEED_KEYS: "engine, feed pull: the keys a feed event named, cast to the local key types",
    FEED_ROWS: "engine, feed pull: the remote's rows for those keys",
    FEED_JOINED: "engine, feed pull: per named key, the remote's row now and the base's hashes",
    # stores (the remote's connection; on MotherDuck: the client's DuckDB)
    "__ds_in_raw": "remote store: the batch as received",
    "__ds_in": "remote store: the batch cast to the table's types",
    "__ds_chk": "remote store: compare-and-swap, current hashes",
    "__ds_chk2": "remote store: compare-and-swap, statuses",
    "__ds_keys_raw": "remote store: keys to fetch as received",
    "__ds_keys": "remote store: keys to fetch, cast",
    "__ds_rej": "remote store: the batch's rows its scope refuses, as answers",
    "__ds_kept": "remote store: the batch's rows its scope accepts",
    "__ds_page": "remote store: a keyset page read beside the connection for its end (told)",
    "__ds_held": "remote store (CTE): remote rows holding a batch's keys outside its scope",
    "__ds_new": "remote store (CTE): a batch's rows cast, with their scope verdict",
    "__ds_hashes": "native remote store: a table's kept row hashes",
    "__ds_ingest": "native stores: an IPC payload registered for ingest",
    "__ds_answer": "native remote store: an answer registered for the ledger",
    "__ds_scratch": "browser: the scratch database of ingests",
    "__ds_template": "browser: an ingest's empty table of one IPC schema (__ds_template_N)",
    "__ds_lit": "worker: a bound literal",
    "__ds_console": "console: the last statement's result, paged (its own connection)",
    "__ds_q": "worker: query() wrapping a statement to return DuckDB's text of some types",
}
CONSOLE_RESULT: Final = "__ds_console"

# The local database's state (engine/state.py, conflicts.py, outbox.py).
LOCAL_STATE: Final = ("tables", "outbox", "conflicts", "conflict_log", "sync_log", "rejections",
                      "subscriptions", "base__<table>", "conflict_rows__<table>",
                      "bulk_sent__<table>", "push_sent__<table>", "console_history")
# The SQL console's query history (ducksync.worker.console_service): survives reloads.
CONSOLE_HISTORY: Final = "console_history"

# The remote's ledger (stores/remote_sql.py).
REMOTE_LEDGER: Final = ("ledger", "ledger_results", "ledger_rowsets", "ledger_verified",
                        "table_writes", "identity", "write_scratch")
ROWS_PREFIX: Final = "ledger_rows__"  # + table name: answers kept as rows


def is_internal(name: str) -> bool:
    """True for a ``__ds_*`` name declared above."""
    return name in TEMP or name in PROTOCOL_COLUMNS
