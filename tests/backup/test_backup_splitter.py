"""The streaming splitter agrees with DuckDB's own parser, whatever the chunking."""

from __future__ import annotations

import duckdb
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ducksync.backup.splitter import StatementSplitter

PIECES = ["SELECT 1", "SELECT 'a;b'", "SELECT 'it''s; ok'", 'SELECT 1 AS "we;ird"""',
          "SELECT E'esc\\'aped;'", "SELECT $$dollar;$$", "SELECT $t$x;y$t$",
          "SELECT 1 -- trailing; comment\n", "/* lead; */ SELECT 2", "SELECT 3 - 1",
          "SELECT 6 / 2", "SELECT '🦆;\n'", "SELECT 'x' || 'y'", "SELECT [1, 2][1]",
          "SELECT {'a': ';'}"]


def split(text: str, cuts: list[int]) -> list[str]:
    sp, out, last = StatementSplitter(), [], 0
    for cut in sorted(c % (len(text) + 1) for c in cuts):
        out += [s.text for s in sp.feed(text[last:cut])]
        last = max(last, cut)
    out += [s.text for s in sp.feed(text[last:])]
    return out + [s.text for s in sp.finish()]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6),
       st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
       st.sampled_from([";", ";\n", " ;\n\n", ";-- c\n"]))
# A chunk ending inside an E-string once made the splitter cut at the ``;`` inside it.
@example(pieces=["SELECT 1", "SELECT E'esc\\'aped;'", "SELECT E'esc\\'aped;'"],
         cuts=[29], sep=";\n")
def test_matches_duckdb_extract_statements(pieces, cuts, sep) -> None:  # type: ignore[no-untyped-def]
    text = sep.join(pieces) + sep
    ours = split(text, cuts)
    assert len(ours) == len(duckdb.extract_statements(text)) == len(pieces)
    con = duckdb.connect()
    for mine, piece in zip(ours, pieces, strict=True):
        assert con.execute(mine).fetchall() == con.execute(piece).fetchall()


def test_line_numbers_and_missing_final_semicolon() -> None:
    sp = StatementSplitter()
    got = [*sp.feed("-- header\n\nSELECT 1;\n/* x */\nSELECT\n2"), *sp.finish()]
    assert [(s.text, s.line) for s in got] == [("-- header\n\nSELECT 1", 3),
                                               ("/* x */\nSELECT\n2", 5)]


def test_comment_only_tail_is_not_a_statement() -> None:
    sp = StatementSplitter()
    assert [s.text for s in [*sp.feed("SELECT 1;\n-- the end\n"), *sp.finish()]] == ["SELECT 1"]
