"""Shared fixtures for backup tests: a table of every type, export/import drivers, compare."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from ducksync.backup import export_csv, export_sql, import_csv, import_sql
from ducksync.backup.importer import ImportResult
from ducksync.stores.native import NativeLocalStore

T = TypeVar("T")

EVERY_TYPE_DDL = '''
CREATE TABLE every (
  id INTEGER PRIMARY KEY, i8 TINYINT, u64 UBIGINT, big BIGINT NOT NULL, h HUGEINT, uh UHUGEINT,
  dec DECIMAL(38,10), dsmall DECIMAL(4,2), f FLOAT, d DOUBLE, b BOOLEAN, v VARCHAR, bl BLOB,
  u UUID, dt DATE, ts TIMESTAMP, tsz TIMESTAMPTZ, tns TIMESTAMP_NS, tm TIME, iv INTERVAL,
  e ENUM('calm', 'it''s ok', 'x,y'), l VARCHAR[], li INTEGER[][], arr DOUBLE[3],
  s STRUCT(a VARCHAR, "odd ""name""" INTEGER[], t TIMESTAMP), m MAP(VARCHAR, BLOB[]),
  bits BIT
);
INSERT INTO every VALUES
 (1, -128, 18446744073709551615, -9223372036854775808,
  -170141183460469231731687303715884105728, 340282366920938463463374607431768211455,
  1234567890123456789012345678.0123456789, -0.01, 3.4028235e38, 0.30000000000000004, true,
  'it''s "quoted"; -- not a comment /* nor this */
second line 🦆 ünïcødé $$ \\n',
  '\\xAA\\x00\\x5C\\x27'::BLOB, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '1970-01-01', '2024-02-29 23:59:59.999999', '2024-06-01 12:00:00.123456+05:30',
  '2024-06-01 12:00:00.123456789', '23:59:59.999999',
  INTERVAL '1 year 2 months 3 days 04:05:06.000007', 'it''s ok',
  ['a,b', NULL, 'NULL', 'it''s', '"q"', '[x]', '', '🦆'], [[1, NULL], [], NULL],
  [1.5, -0.0, 1e300], {'a': 'x, y}', 'odd "name"': [1, NULL], 't': '2000-01-01'},
  MAP {'k''1': ['\\x00'::BLOB], 'k2': NULL}, '101'::BIT),
 (2, NULL, NULL, 0, NULL, NULL, NULL, NULL, 'nan', 'inf', NULL, '', ''::BLOB, NULL,
  'infinity', '-infinity', NULL, NULL, NULL, NULL, NULL, [], [], NULL,
  {'a': NULL, 'odd "name"': [], 't': NULL}, MAP {}, NULL),
 (3, NULL, NULL, 1, NULL, NULL, NULL, NULL, '-inf', -1e-300, false, 'NULL', NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, INTERVAL '-1 day', 'x,y', NULL, NULL, [NULL, 2, 3], NULL,
  NULL, NULL),
 (4, NULL, NULL, 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE SCHEMA "other schema";
CREATE TABLE "other schema"."Odd ""Table"" 🦆" ("k" VARCHAR, "rowid" INTEGER);
INSERT INTO "other schema"."Odd ""Table"" 🦆" VALUES ('a', 1), ('b', NULL), (NULL, 3);
CREATE TABLE empty_one (x INTEGER NOT NULL, y VARCHAR, PRIMARY KEY (x, y));
CREATE SCHEMA ducksync;
CREATE TABLE ducksync.tables (name VARCHAR PRIMARY KEY, synced_at TIMESTAMP);
INSERT INTO ducksync.tables VALUES ('every', now());
'''

USER_TABLES = ['main.every', '"other schema"."Odd ""Table"" 🦆"', 'main.empty_one']


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make_source(path: Path) -> NativeLocalStore:
    store = NativeLocalStore(spec=str(path))
    store.con.execute(EVERY_TYPE_DDL)
    return store


async def script_of(store: NativeLocalStore, **kw: Any) -> str:
    return "".join([chunk async for chunk in export_sql(store, **kw)])


def sql_roundtrip(src: NativeLocalStore, dst: NativeLocalStore, **kw: Any) -> ImportResult:
    script = run(script_of(src))
    return run(import_sql(dst, [script[i:i + 7777] for i in range(0, len(script), 7777)], **kw))


def csv_roundtrip(src: NativeLocalStore, dst: NativeLocalStore, **kw: Any) -> ImportResult:
    buf = io.BytesIO()
    run(export_csv(src, buf))
    buf.seek(0)
    return run(import_csv(dst, buf, **kw))


def assert_same_tables(dst: NativeLocalStore, src_path: Path) -> None:
    """Every user table of ``src_path`` equals the one in ``dst``: rows (EXCEPT ALL both
    ways), row counts, column names and types, primary keys."""
    dst.con.execute(f"ATTACH '{src_path}' AS src (READ_ONLY)")
    try:
        for ref in USER_TABLES:
            a, b = f"src.{ref}", ref
            for x, y in ((a, b), (b, a)):
                diff = dst.con.execute(
                    f"SELECT count(*) FROM (FROM {x} EXCEPT ALL FROM {y})").fetchone()
                assert diff == (0,), f"{x} has rows missing from {y}"
            counts = [dst.con.execute(f"SELECT count(*) FROM {t}").fetchone() for t in (a, b)]
            assert counts[0] == counts[1], ref
        shape = ("SELECT schema_name, table_name, column_name, data_type, is_nullable "
                 "FROM duckdb_columns() WHERE database_name = ? AND schema_name <> 'ducksync' "
                 "ORDER BY ALL")
        cons = ("SELECT schema_name, table_name, constraint_column_names FROM "
                "duckdb_constraints() WHERE database_name = ? AND constraint_type = "
                "'PRIMARY KEY' AND schema_name <> 'ducksync' ORDER BY ALL")
        db = dst.con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        for q in (shape, cons):
            assert dst.con.execute(q, ["src"]).fetchall() == dst.con.execute(q, [db]).fetchall()
    finally:
        dst.con.execute("DETACH src")


def close_source(store: NativeLocalStore) -> None:
    store.con.execute("CHECKPOINT")
    store.close()
