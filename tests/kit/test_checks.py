"""assert_converged and wait_until: what they accept, and what their failures say."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ducksync.testing import assert_converged, wait_until
from ducksync.testing.browser import CHROMIUM_FLAGS, complete_launch_args


class Side:
    """A device or remote stand-in: answers the kit's two queries from fixed rows."""

    def __init__(self, name: str, rows: list[dict[str, Any]], key: tuple[str, ...] = ("id",)):
        self.name, self.rows, self.key = name, rows, key
        self.queries: list[str] = []

    def query(self, sql: str) -> list[dict[str, Any]]:
        self.queries.append(sql)
        if "duckdb_constraints" in sql:
            return [{"col": k} for k in self.key]
        return self.rows


def rows(*values: tuple[str, str | None]) -> list[dict[str, Any]]:
    return [{"id": i, "note": n} for i, n in values]


def test_equal_sides_pass_and_return_the_remote_rows_even_when_empty() -> None:
    remote = Side("remote", rows(("1", "a"), ("2", None)))
    a, b = Side("A", rows(("1", "a"), ("2", None))), Side("B", rows(("1", "a"), ("2", None)))
    assert assert_converged(remote, a, b, table="notes") == remote.rows
    assert 'SELECT COLUMNS(*)::VARCHAR FROM "notes" ORDER BY ALL' in a.queries
    empty = assert_converged(Side("r", []), Side("A", []), table="notes")
    assert empty == [] and bool(empty)  # truthy: wait_until(lambda: assert_converged(...))


def test_a_non_converged_device_is_named_with_each_differing_key_and_column() -> None:
    remote = Side("remote", rows(("1", "a"), ("2", "remote edit"), ("3", "c")))
    a = Side("A", rows(("1", "a"), ("2", "remote edit"), ("3", "c")))
    b = Side("B", rows(("1", "a"), ("2", "offline edit"), ("4", None)))
    with pytest.raises(AssertionError) as failure:
        assert_converged(remote, a, b, table="notes")
    message = str(failure.value)
    assert message.splitlines()[0] == ("table 'notes' has not converged "
                                       "(remote: 3 rows; A: 3 rows; B: 3 rows):")
    assert "  B differs from the remote on 3 keys:" in message
    assert "id='2': remote {note: 'remote edit'}, B {note: 'offline edit'}" in message
    assert "id='3': on the remote, missing on B {id: '3', note: 'c'}" in message
    assert "id='4': on B, missing on the remote {id: '4', note: NULL}" in message
    assert "A differs" not in message


def test_composite_keys_no_key_and_long_diffs_stay_readable() -> None:
    remote = Side("remote", [{"a": "x", "b": "1", "v": "0"}], key=("a", "b"))
    device = Side("A", [{"a": "x", "b": "1", "v": "1"}], key=("a", "b"))
    expected = "a='x', b='1': remote {v: '0'}, A {v: '1'}"
    with pytest.raises(AssertionError, match=re.escape(expected)):
        assert_converged(remote, device, table="pairs")
    # no primary key: whole rows as a multiset, duplicates counted
    with pytest.raises(AssertionError,
                       match=re.escape("row {id: '1', note: 'a'}: 1 rows on the remote, 2 on A")):
        assert_converged(Side("r", rows(("1", "a"))), Side("A", rows(("1", "a"), ("1", "a")), ()),
                         table="log")
    many = Side("A", [{"id": str(i), "note": "x"} for i in range(25)])
    with pytest.raises(AssertionError) as failure:
        assert_converged(Side("r", []), many, table="notes", key=["id"])
    assert "on 25 keys" in str(failure.value) and "... and 15 more" in str(failure.value)


def test_wait_until_returns_the_first_truthy_value_and_retries_assertions() -> None:
    calls = iter([None, 0, AssertionError("not yet"), "done"])

    def predicate() -> Any:
        value = next(calls)
        if isinstance(value, AssertionError):
            raise value
        return value

    assert wait_until(predicate, timeout=5, interval=0.001) == "done"


def test_wait_until_fails_with_the_message_and_the_last_assertion() -> None:
    def converged() -> bool:
        raise AssertionError("table 'notes' has not converged")

    with pytest.raises(AssertionError) as failure:
        wait_until(converged, timeout=0.05, interval=0.01, message="B caught up")
    text = str(failure.value)
    assert text.startswith("wait_until: B caught up still not true after 0.05 s (")
    assert "last assertion:\ntable 'notes' has not converged" in text
    with pytest.raises(AssertionError, match=r"wait_until: <lambda> .* last value: \[\]"):
        wait_until(lambda: [], timeout=0.01, interval=0.005)
    with pytest.raises(ZeroDivisionError):  # a real error is not "not yet"
        wait_until(lambda: 1 / 0, timeout=1)


def test_launch_args_pick_a_chromium_that_exists_and_keep_the_command_line(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("DUCKSYNC_CHROMIUM", "/opt/my-chromium")
    headed = {"headless": False, "slow_mo": 100}
    args = complete_launch_args(headed, browser_name="chromium", bundled_executable=None)
    assert args == {**headed, "executable_path": "/opt/my-chromium", "args": list(CHROMIUM_FLAGS)}
    channel = complete_launch_args({"channel": "chrome"}, browser_name="chromium",
                                   bundled_executable=None)
    assert "executable_path" not in channel  # --browser-channel chose already
    assert complete_launch_args({}, browser_name="firefox", bundled_executable=None) == {}
    monkeypatch.delenv("DUCKSYNC_CHROMIUM")
    downloaded = tmp_path / "chrome"
    downloaded.write_text("")
    assert "executable_path" not in complete_launch_args(
        {}, browser_name="chromium", bundled_executable=str(downloaded))
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "chromium").write_text("#!/bin/sh\n")
    (tmp_path / "chromium").chmod(0o755)
    assert complete_launch_args({}, browser_name="chromium", bundled_executable="/missing"
                                )["executable_path"] == str(tmp_path / "chromium")
