"""Subscriptions (engine/subscriptions.py): a device holds the remote tables it chose, and
unsubscribing never deletes a remote row, whether the local copy is kept or dropped."""

from __future__ import annotations

from typing import Any

from engine_helpers import do_sync, local_db, remote_db, rows, run

from ducksync.engine import subscriptions


def _remote_with(tables: tuple[str, ...] = ("a", "b")) -> Any:
    """A remote holding ``tables`` (20 rows each), pushed by another device."""
    writer, r = local_db(), remote_db()
    for t in tables:
        writer.con.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v VARCHAR)")
        writer.con.execute(f"INSERT INTO {t} SELECT i, '{t}' || i FROM range(20) x(i)")
    assert do_sync(writer, r).converged
    return r


def _local_tables(store: Any) -> list[str]:
    return [n for (n,) in store.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary "
        "ORDER BY 1").fetchall()]


def test_every_table_is_held_by_default_and_hold_only_narrows_it() -> None:
    r = _remote_with()
    everything, only_a = local_db(), local_db()
    assert do_sync(everything, r).converged
    assert _local_tables(everything) == ["a", "b"]
    run(subscriptions.hold_only(only_a, ["a"]))
    rep = do_sync(only_a, r)
    assert [t.table for t in rep.tables] == ["a"] and rep.converged
    assert _local_tables(only_a) == ["a"] and rows(only_a, "a") == rows(r, "a")
    # stored in the local database: a later run (a reload) holds the same
    assert run(subscriptions.read(only_a)).to_dict() == {"all": False, "held": ["a"],
                                                         "not_held": []}
    # an explicit table list still syncs what it names
    assert do_sync(only_a, r, tables=["b"]).converged and rows(only_a, "b") == rows(r, "b")


def test_unsubscribing_keeps_or_drops_the_local_copy_and_never_deletes_remote_rows() -> None:
    r = _remote_with()
    device = local_db()
    assert do_sync(device, r).converged
    before = {t: rows(r, t) for t in ("a", "b")}

    # keep: the copy stays, no longer synced either way
    run(subscriptions.unsubscribe(device, "a", keep_local=True))
    device.con.execute("DELETE FROM a")  # emptied here: must not reach the remote
    r.con.execute("INSERT INTO a VALUES (100, 'remote only')")
    rep = do_sync(device, r)
    assert [t.table for t in rep.tables] == ["b"] and rep.converged
    assert rows(device, "a") == []
    assert rows(r, "a") == [*before["a"], (100, "remote only")]

    # drop: the local table and its sync state go; the remote keeps every row
    run(subscriptions.unsubscribe(device, "b", keep_local=False))
    assert _local_tables(device) == ["a"]
    assert device.con.execute(
        "SELECT count(*) FROM ducksync.tables WHERE name = 'b'").fetchone() == (0,)
    assert do_sync(device, r).tables == []  # nothing held: nothing synced, nothing said
    assert rows(r, "b") == before["b"]

    # held again: the dropped table comes back whole from the remote
    run(subscriptions.hold(device, "b"))
    assert do_sync(device, r).converged
    assert rows(device, "b") == rows(r, "b") == before["b"]
