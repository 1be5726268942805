"""Split a stream of SQL text into statements, respecting quotes and comments.

Why our own splitter: the import must run in Pyodide over any LocalStore, where
DuckDB's own ``extract_statements`` is not reachable, and a script can be larger
than memory, so it is split while it streams in. One compiled regular expression
consumes everything that is not a top-level ``;`` — quoted strings (``'…'`` with
``''``; ``E'…'`` with backslash escapes), quoted identifiers, ``$tag$…$tag$``,
``--`` and ``/* */`` comments (not nested) — so the scan runs in C, not per
character in Python. The tests check it against ``duckdb.extract_statements``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Statement", "StatementSplitter", "head_without_comments"]

_BODY = re.compile(
    r"""(?:[^;'"\-/$eE]+"""
    r"""|(?<!\w)[eE]'(?:[^'\\]|\\.|'')*'"""
    # A lone e/E, but never the start of an E-string whose end has not arrived yet:
    # falling back to a plain string there would split at a ``;`` inside it.
    r"""|[eE](?!')|(?<=\w)[eE]"""
    r"""|'(?:[^']|'')*'"""
    r'''|"(?:[^"]|"")*"'''
    r"""|--[^\n]*\n"""
    r"""|/\*.*?\*/"""
    r"""|\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$"""
    r"""|\$(?![A-Za-z_]*\$)"""
    r"""|-(?!-)|/(?!\*))*""",
    re.DOTALL,
)
_LEADING = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)


@dataclass(frozen=True)
class Statement:
    """One statement without its ``;``; ``line`` is where it starts (1-based)."""

    text: str
    line: int


def head_without_comments(text: str) -> str:
    """``text`` without leading whitespace and comments (for classifying a statement)."""
    return text[_LEADING.match(text).end():]  # type: ignore[union-attr]


class StatementSplitter:
    """Feed text chunks, get complete statements; :meth:`finish` flushes the rest.

    Memory holds one statement plus one chunk. A statement is rescanned only
    when its pending text has doubled, so splitting stays linear in the input.
    """

    def __init__(self) -> None:
        self._buf = ""
        self._line = 1  # line number of the start of _buf
        self._rescan_at = 0

    def feed(self, text: str) -> Iterator[Statement]:
        """Append ``text``; yield every statement it completes."""
        self._buf += text
        if len(self._buf) < self._rescan_at:
            return
        yield from self._split(final=False)

    def finish(self) -> Iterator[Statement]:
        """Yield the last statement, even without a closing ``;`` (or unterminated)."""
        yield from self._split(final=True)
        tail = self._buf
        self._buf = ""
        if head_without_comments(tail).strip():
            yield self._statement(tail)

    def _split(self, *, final: bool) -> Iterator[Statement]:
        start = 0
        buf = self._buf
        while True:
            end = _BODY.match(buf, start).end()  # type: ignore[union-attr]
            if end < len(buf) and buf[end] == ";":
                text = buf[start:end]
                if head_without_comments(text).strip():
                    yield self._statement(text)
                self._line += buf.count("\n", start, end + 1)
                start = end + 1
                continue
            break
        self._buf = buf[start:]
        self._rescan_at = 0 if final else 2 * len(self._buf)

    def _statement(self, text: str) -> Statement:
        skipped = text[:len(text) - len(head_without_comments(text))]
        return Statement(text.strip(), self._line + skipped.count("\n"))
