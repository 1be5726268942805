"""Import a SQL script into the local database: all or nothing, never over data.

Why statement by statement (not one ``execute`` of the whole script): the
script streams in, so memory holds one statement; each ``CREATE TABLE`` is
checked before it runs (a table that already has rows is an error unless
``replace``); errors name the statement's line; progress counts rows. Everything
runs in one transaction: any failure rolls back to the database as it was.
Transaction statements inside the script (``BEGIN``/``COMMIT``) are skipped.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import TypedDict

from ducksync.backup.catalog import ENGINE_SCHEMA
from ducksync.backup.progress import ProgressFn, noop
from ducksync.backup.splitter import Statement, StatementSplitter, head_without_comments
from ducksync.backup.sqlscript import MANIFEST_PREFIX
from ducksync.engine import sqlbuild as sb
from ducksync.engine.store import LocalStore
from ducksync.engine.transaction import transaction
from ducksync.errors import BackupError, DucksyncError

__all__ = ["ImportResult", "ImportSession", "import_sql", "text_chunks"]

_IDENT = r'(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)'
_NAME = rf"(?P<a>{_IDENT})(?:\s*\.\s*(?P<b>{_IDENT}))?(?:\s*\.\s*(?P<c>{_IDENT}))?"
_CREATE = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?(?P<temp>(?:TEMP|TEMPORARY)\s+)?TABLE\s+"
                     rf"(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}", re.IGNORECASE)
_INSERT = re.compile(rf"INSERT\s+(?:OR\s+\w+\s+)?INTO\s+{_NAME}", re.IGNORECASE)
_TXN = re.compile(r"(?:BEGIN|COMMIT|ROLLBACK|ABORT|END|START\s+TRANSACTION)\b", re.IGNORECASE)


class ImportResult(TypedDict):
    """What an import did: tables created (``schema.name`` labels), rows inserted."""

    tables: list[str]
    rows: int
    statements: int


def _unquote(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident


def _label(schema: str, name: str) -> str:
    return name if schema == "main" else f"{schema}.{name}"


async def text_chunks(source: AsyncIterable[str] | Iterable[str]) -> AsyncIterator[str]:
    """Iterate sync or async sources alike."""
    if isinstance(source, AsyncIterable):
        async for chunk in source:
            yield chunk
    else:
        for chunk in source:
            yield chunk


# The next step when a table already has rows, in the words of the caller's control: the
# CLI's flag here; the page names its checkbox (ducksync.worker.backup_service).
REPLACE_HINT = "pass --replace to drop and recreate it, or import into an empty database"


class ImportSession:
    """One import transaction: :meth:`run` each statement inside :meth:`opened`."""

    def __init__(self, store: LocalStore, *, replace: bool, on_progress: ProgressFn,
                 replace_hint: str = REPLACE_HINT) -> None:
        self.store = store
        self.replace = replace
        self.replace_hint = replace_hint
        self.on_progress = on_progress
        self.tables: list[str] = []
        self.rows = 0
        self.statements = 0
        self.tables_total = 0
        self.rows_total = -1
        self._current = ""
        self._schema = "main"

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[None]:
        """The import's one transaction: committed when the block ends, rolled back
        (only if it is still open: engine/transaction.py) when anything in it fails."""
        async with transaction(self.store):
            self._schema = str((await self.store.fetch_rows("SELECT current_schema()"))[0][0])
            yield
        self.progress(table="", done=len(self.tables))

    def result(self) -> ImportResult:
        return {"tables": self.tables, "rows": self.rows, "statements": self.statements}

    def progress(self, *, table: str, done: int | None = None) -> None:
        self.on_progress({
            "phase": "import", "table": table,
            "tables_done": done if done is not None else max(len(self.tables) - 1, 0),
            "tables_total": max(self.tables_total, len(self.tables)),
            "rows_done": self.rows, "rows_total": self.rows_total})

    def read_manifest(self, stmt: Statement) -> None:
        """Take totals from the export's manifest comment, when the script has one."""
        for line in stmt.text.splitlines():
            if line.startswith(MANIFEST_PREFIX):
                data = json.loads(line[len(MANIFEST_PREFIX):])
                self.tables_total = len(data.get("tables", []))
                self.rows_total = sum(int(t.get("rows", 0)) for t in data.get("tables", []))
                return
            if not line.startswith("--"):
                return

    def _target(self, match: re.Match[str]) -> tuple[str, str]:
        parts = [_unquote(p) for p in match.group("a", "b", "c") if p is not None]
        return (self._schema if len(parts) == 1 else parts[-2]), parts[-1]

    async def _guard_create(self, schema: str, name: str) -> None:
        if schema.lower() == ENGINE_SCHEMA:
            raise BackupError(f"the import writes table {schema}.{name}: schema {ENGINE_SCHEMA} "
                              "holds this device's sync state",
                              hint="remove those statements; exports never include it")
        found = await self.store.fetch_rows(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = "
            "current_database() AND NOT temporary AND lower(schema_name) = lower(?) "
            "AND lower(table_name) = lower(?)", [schema, name])
        if not found:
            return
        ref = f"{sb.quote_ident(found[0][0])}.{sb.quote_ident(found[0][1])}"
        has_rows = (await self.store.fetch_rows(f"SELECT EXISTS (SELECT 1 FROM {ref})"))[0][0]
        if has_rows and not self.replace:
            raise BackupError(f"table {_label(schema, name)} already has rows; nothing was "
                              "imported", hint=self.replace_hint)
        await self.store.execute(f"DROP TABLE {ref}")

    async def run(self, stmt: Statement) -> None:
        """Run one statement; failures become :class:`BackupError` naming its line."""
        self.statements += 1
        if self.statements == 1:
            self.read_manifest(stmt)
        head = head_without_comments(stmt.text)
        if _TXN.match(head):
            return
        try:
            if (m := _CREATE.match(head)) and not m.group("temp"):
                schema, name = self._target(m)
                await self._guard_create(schema, name)
                await self.store.execute(stmt.text)
                self.tables.append(_label(schema, name))
                self.progress(table=_label(schema, name))
            elif m := _INSERT.match(head):
                schema, name = self._target(m)
                if schema.lower() == ENGINE_SCHEMA:
                    await self._guard_create(schema, name)
                found = await self.store.fetch_rows(stmt.text)
                self.rows += int(found[0][0]) if found and found[0] else 0
                self.progress(table=_label(schema, name))
            else:
                await self.store.execute(stmt.text)
        except BackupError:
            raise
        except DucksyncError as exc:
            raise BackupError(
                f"statement {self.statements} (line {stmt.line}) failed: {exc.message}; "
                "nothing was imported",
                hint="fix that statement in the script and import again") from exc


async def import_sql(
    store: LocalStore,
    source: AsyncIterable[str] | Iterable[str],
    *,
    replace: bool = False,
    on_progress: ProgressFn = noop,
    replace_hint: str = REPLACE_HINT,
) -> ImportResult:
    """Run a SQL script (text chunks) in one transaction; see the module docstring."""
    session = ImportSession(store, replace=replace, on_progress=on_progress,
                            replace_hint=replace_hint)
    splitter = StatementSplitter()
    async with session.opened():
        async for chunk in text_chunks(source):
            for stmt in splitter.feed(chunk):
                await session.run(stmt)
        for stmt in splitter.finish():
            await session.run(stmt)
    return session.result()


