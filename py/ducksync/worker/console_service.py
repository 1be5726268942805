"""The SQL console's worker side: run, page, cancel, export, history.

Why a service of its own, on a DuckDB connection of its own:

* **Cancel without blocking.** Console statements run as DuckDB-WASM *pending* queries
  (``startPendingQuery`` / ``pollPendingQuery``: DuckDB works ~100 ms per poll), so the
  queries of the page's API and of the sync interleave with a long console query
  instead of waiting behind it, and ``cancelPendingQuery`` interrupts it between polls.
* **Pages, not whole results.** The last statement's rows go into a temp table
  (``__ds_console``); the page asks for its row count and for pages of it. A page is
  formatted by DuckDB itself (``CAST … AS VARCHAR``: what DuckDB's shell prints) and
  typed by ``DESCRIBE``, so every type reads as DuckDB shows it, with DuckDB's names.
* **History in the database.** Every run is kept in ``ducksync.console_history`` (so it
  survives reloads and is searchable with SQL).

Every use of the connection holds one lock (a DuckDB-WASM connection runs one query at
a time; a second one would cancel the first), except ``cancel``.

May import: ducksync.errors, ducksync.worker, the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager
from typing import Any, Final, Protocol

from ducksync.errors import DuckDBCrashedError, DucksyncError, QueryError
from ducksync.worker import console_sql as csql
from ducksync.worker.sql import cannot_write
from ducksync.worker.sql_params import literal

__all__ = ["ConsoleCancelledError", "ConsoleConnection", "ConsoleService"]

FIRST_PAGE_ROWS: Final = 200
MAX_PAGE_ROWS: Final = 100_000
HISTORY_KEPT: Final = 500
CANCELLED_TEXT: Final = "query was canceled"  # DuckDB-WASM's pollPendingQuery error


class ConsoleCancelledError(DucksyncError):
    """The console's query was cancelled by the user (statements before it stay done)."""

    code = "cancelled"


class ConsoleConnection(Protocol):
    """A DuckDB connection of the console's own (``workers/console_worker.py`` over
    DuckDB-WASM; a native DuckDB connection in the CPython tests). Failures raise
    :class:`QueryError` with DuckDB's message."""

    async def run(self, sql: str) -> Any:
        """Run one statement so that :meth:`cancel` can interrupt it; its Arrow IPC."""

    async def rows(self, sql: str) -> list[list[Any]]:
        """A small result as rows of plain values."""

    async def ipc(self, sql: str) -> Any:
        """A result as Arrow IPC bytes (passed on untouched)."""

    async def copy_csv(self, sql: str) -> Any:
        """``sql``'s rows as CSV bytes (with a header)."""

    async def cancel(self) -> bool:
        """Interrupt the statement :meth:`run` is running; True if one was."""


def _without_wrapper(message: str, prefix: str) -> str:
    """DuckDB's error for the wrapped statement, read as if the user's ran alone:
    the ``LINE 1: …`` context loses the wrapper and its caret moves with it."""
    out: list[str] = []
    shift = 0
    for line in message.split("\n"):
        if prefix in line and line.startswith("LINE "):
            shift = len(prefix)
            line = line.replace(prefix, "", 1)
        elif shift and line.strip() == "^" and len(line) - 1 >= shift:
            line = line[shift:]
            shift = 0
        out.append(line)
    return "\n".join(out)


class ConsoleService:
    """Handlers for the CONSOLE_* requests (see :mod:`ducksync.protocol`)."""

    def __init__(self, conn: ConsoleConnection, *,
                 writing: Callable[[], AbstractContextManager[None]],
                 after_write: Callable[[], Awaitable[None]],
                 checkpoint: Callable[[], Awaitable[None]],
                 spawn: Callable[[Coroutine[Any, Any, None]], None],
                 now_ms: Callable[[], float]) -> None:
        """``writing``/``after_write``: the worker's write accounting (WriteClock, then
        CHECKPOINT + a debounced sync) around SQL that may write; ``checkpoint`` folds
        a history row in; ``spawn`` runs work after a reply; ``now_ms``: epoch ms."""
        self.conn = conn
        self._writing = writing
        self._after_write = after_write
        self._checkpoint = checkpoint
        self._spawn = spawn
        self._now_ms = now_ms
        self._lock = asyncio.Lock()
        self._running = False
        self._cancelled = False
        self._result = 0  # id of the result in the result table (0: none)
        self._columns: list[str] = []
        self._history_ready = False

    @property
    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]]:
        from ducksync import protocol

        return {protocol.CONSOLE_RUN: self.run, protocol.CONSOLE_PAGE: self.page,
                protocol.CONSOLE_CANCEL: self.cancel, protocol.CONSOLE_EXPORT: self.export,
                protocol.CONSOLE_HISTORY: self.history}

    # --- run ------------------------------------------------------------------------
    async def run(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{sql, cursor?, page_rows?}``: the statement under ``cursor`` (else every
        statement); the last one's result: ``kind "table"`` (columns with DuckDB's types,
        total, first page) or ``kind "raw"`` (DDL/DML/EXPLAIN...: its own small result)."""
        sql = payload.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            raise QueryError("no SQL given", hint="type a statement in the editor")
        cursor = payload.get("cursor")
        if isinstance(cursor, int):
            one = csql.statement_at(sql, cursor)
            statements = [one] if one else []
        else:
            statements = csql.split(sql)
        if not statements:
            raise QueryError("there is only a comment here, no statement",
                             hint="type a statement in the editor")
        if self._running:
            raise QueryError("a console query is already running",
                             hint="wait for it, or press Cancel")
        page_rows = min(int(payload.get("page_rows") or FIRST_PAGE_ROWS), MAX_PAGE_ROWS)
        text = sql if not isinstance(cursor, int) else statements[0].sql
        started = self._now_ms()
        self._running, self._cancelled = True, False
        try:
            async with self._lock:
                writes = not all(cannot_write(s.sql) for s in statements)
                with self._writing() if writes else contextlib.nullcontext():
                    result = await self._execute([s.sql for s in statements], page_rows)
                if writes:
                    await self._after_write()
        except DucksyncError as exc:
            self._remember(text, started, None, exc.message)
            raise
        finally:
            self._running = False
        ms = round(self._now_ms() - started, 1)
        self._remember(text, started, result.get("total"), None)
        span = statements[-1]
        return {**result, "ms": ms, "statements": len(statements),
                "span": [span.start, span.end] if isinstance(cursor, int) else None}

    async def _execute(self, statements: list[str], page_rows: int) -> dict[str, Any]:
        for statement in statements[:-1]:
            await self._run(statement)
        last = statements[-1]
        body = csql.query_body(last)
        if body is not None:
            self._result += 1  # the previous result is gone from here on
            self._columns = []
            described = await self._describe(body)
            table_sql = csql.result_table_sql(body)
            try:
                await self._run(table_sql, wrapper=table_sql[: table_sql.find(last)])
            except QueryError as exc:
                if not exc.message.startswith("Parser Error"):
                    raise
                # not a query after all (e.g. WITH … DELETE): run it as it is, below
            else:
                return await self._table(page_rows, described)
        return {"kind": "raw", "ipc": await self._run(last), "statement": csql.statement_verb(last)}

    async def _describe(self, body: str) -> list[list[Any]] | None:
        try:
            return await self.conn.rows(csql.describe_query_sql(body))
        except DuckDBCrashedError:
            raise  # DuckDB was restarted: running it would crash it again
        except QueryError:
            return None  # the run itself says what is wrong

    async def _run(self, sql: str, *, wrapper: str = "") -> Any:
        if self._cancelled:
            raise ConsoleCancelledError("cancelled before this statement ran",
                                        hint="statements before it were run")
        try:
            return await self.conn.run(sql)
        except QueryError as exc:
            if self._cancelled or CANCELLED_TEXT in exc.message:
                raise ConsoleCancelledError(
                    "cancelled while it ran", hint="statements before it were run") from None
            if wrapper:
                raise QueryError(_without_wrapper(exc.message, wrapper),
                                 hint=exc.hint) from None
            raise

    async def _table(self, page_rows: int,
                     described: list[list[Any]] | None) -> dict[str, Any]:
        stored = await self.conn.rows(csql.describe_sql())
        self._columns = [str(r[0]) for r in stored]
        shown = described if described is not None and len(described) == len(stored) \
            else stored
        total = int((await self.conn.rows(csql.count_sql()))[0][0])
        ipc = await self.conn.ipc(csql.page_sql(self._columns, 0, page_rows))
        return {"kind": "table", "result": self._result, "total": total,
                "columns": [{"name": str(r[0]), "type": str(r[1])} for r in shown],
                "ipc": ipc, "offset": 0}

    # --- pages, cancel, export ------------------------------------------------------
    def _check_result(self, payload: dict[str, Any]) -> None:
        if payload.get("result") != self._result or not self._columns:
            raise QueryError("this result was replaced by a newer run",
                             hint="run the query again")

    async def page(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{result, offset, limit}`` -> ``{ipc, offset}``: rows as DuckDB's text."""
        offset = max(0, int(payload.get("offset") or 0))
        limit = max(1, min(int(payload.get("limit") or FIRST_PAGE_ROWS), MAX_PAGE_ROWS))
        async with self._lock:
            self._check_result(payload)
            ipc = await self.conn.ipc(csql.page_sql(self._columns, offset, limit))
        return {"ipc": ipc, "offset": offset, "result": self._result}

    async def cancel(self, _: dict[str, Any]) -> dict[str, Any]:
        """Interrupt the running console query; ``{cancelled}`` says if one was running."""
        if not self._running:
            return {"cancelled": False}
        self._cancelled = True
        await self.conn.cancel()
        return {"cancelled": True}

    async def export(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{result, format: "csv"|"arrow"}`` -> ``{data}``: the whole result, as a file."""
        fmt = payload.get("format")
        if fmt not in ("csv", "arrow"):
            raise QueryError(f"cannot export as {fmt!r}", hint="choose csv or arrow")
        async with self._lock:
            self._check_result(payload)
            query = f"SELECT * FROM {csql.RESULT_TABLE}"
            data = await (self.conn.copy_csv(query) if fmt == "csv" else self.conn.ipc(query))
        return {"data": data, "format": fmt}

    # --- history --------------------------------------------------------------------
    def _remember(self, sql: str, started: float, rows: int | None, error: str | None) -> None:
        self._spawn(self._record(sql, started, rows, error))

    async def _ensure_history(self) -> None:
        if not self._history_ready:
            for statement in csql.history_sql():
                await self.conn.rows(statement)
            self._history_ready = True

    async def _record(self, sql: str, started: float, rows: int | None,
                      error: str | None) -> None:
        ms = self._now_ms() - started
        table = csql.HISTORY_TABLE
        # History is a convenience: failing to keep an entry never fails the run.
        with contextlib.suppress(Exception):
            async with self._lock:
                await self._ensure_history()
                await self.conn.rows(
                    f"INSERT INTO {table} SELECT coalesce(max(id), 0) + 1, {literal(sql)}, "
                    f"{int(started)}, {literal(round(ms, 1))}, {literal(rows)}, "
                    f"{literal(error)} FROM {table}")
                await self.conn.rows(f"DELETE FROM {table} WHERE id <= "
                                     f"(SELECT max(id) FROM {table}) - {HISTORY_KEPT}")
            await self._checkpoint()

    async def history(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{search?, limit?}`` -> ``{entries: [{id, sql, ran_at_ms, ms, rows, error}]}``,
        newest first; ``search`` matches anywhere in the SQL, any case."""
        limit = max(1, min(int(payload.get("limit") or 100), HISTORY_KEPT))
        search = str(payload.get("search") or "")
        where = f"WHERE contains(lower(sql), lower({literal(search)}))" if search else ""
        async with self._lock:
            await self._ensure_history()
            rows = await self.conn.rows(
                f"SELECT id, sql, ran_at_ms, ms, rows, error FROM {csql.HISTORY_TABLE} "
                f"{where} ORDER BY id DESC LIMIT {limit}")
        keys = ("id", "sql", "ran_at_ms", "ms", "rows", "error")
        return {"entries": [dict(zip(keys, row, strict=True)) for row in rows]}
