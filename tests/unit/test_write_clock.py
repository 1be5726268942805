"""The local worker's write clock and the classifier that decides what it counts."""

from __future__ import annotations

import pytest

from ducksync.worker import cannot_write
from ducksync.worker.write_clock import WriteClock


def test_token_moves_around_every_write_and_is_none_during_one() -> None:
    clock = WriteClock()
    before = clock.write_token()
    assert before is not None and clock.write_token() == before  # reads do not move it
    with clock.writing():
        assert clock.write_token() is None
        with clock.writing():  # nested / concurrent writes
            assert clock.write_token() is None
        assert clock.write_token() is None
    after = clock.write_token()
    assert after is not None and after != before


def test_a_failed_write_still_moves_the_token() -> None:
    clock = WriteClock()
    before = clock.write_token()
    with pytest.raises(RuntimeError), clock.writing():
        raise RuntimeError("the statement failed halfway")
    assert clock.write_token() not in (None, before)


def test_tokens_of_another_start_never_match() -> None:
    assert WriteClock().write_token() != WriteClock().write_token()


@pytest.mark.parametrize("sql", [
    "SELECT * FROM t", "  -- note\n select 1", "FROM t", "(SELECT 1)", "VALUES (1)",
    "DESCRIBE t", "SHOW TABLES", "SUMMARIZE t", "TABLE t", "select 1;"])
def test_plain_queries_cannot_write(sql: str) -> None:
    assert cannot_write(sql)


@pytest.mark.parametrize("sql", [
    "INSERT INTO t VALUES (1)", "UPDATE t SET v = 1", "DELETE FROM t", "CREATE TABLE x (i INT)",
    "EXPLAIN ANALYZE DELETE FROM t", "WITH x AS (SELECT 1) DELETE FROM t",
    "PRAGMA enable_profiling", "SELECT 1; DELETE FROM t", "COPY t FROM 'f.csv'",
    "CALL something()", "", "   ", "/* only a comment */"])
def test_anything_else_counts_as_a_write(sql: str) -> None:
    assert not cannot_write(sql)
