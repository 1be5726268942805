"""SQL building: identifiers are quoted, type strings cannot smuggle SQL."""

from __future__ import annotations

import pytest

from ducksync.engine import codec
from ducksync.engine.sqlbuild import check_type, quote_ident
from ducksync.errors import SchemaMismatchError


def test_quote_ident_escapes_quotes() -> None:
    assert quote_ident('we"ird') == '"we""ird"'
    with pytest.raises(SchemaMismatchError):
        quote_ident("")


@pytest.mark.parametrize("t", ["INTEGER", "DECIMAL(18,3)", 'STRUCT(a INTEGER, "b c" VARCHAR)',
                               "MAP(VARCHAR, INTEGER[])", "ENUM('x', 'it''s')", "INTEGER[3]",
                               "TIMESTAMP WITH TIME ZONE"])
def test_plain_types_pass(t: str) -> None:
    assert check_type(t) == t


@pytest.mark.parametrize("t", ["INTEGER); DROP TABLE x; --", "INTEGER DEFAULT 1",
                               "INT CHECK (1)", "INTEGER)", "", "(SELECT 1)"])
def test_hostile_types_fail(t: str) -> None:
    with pytest.raises(SchemaMismatchError):
        check_type(t)


@pytest.mark.parametrize("c", [None, "gzip", "zstd"])
def test_codec_round_trip(c: str | None) -> None:
    data = b"\xff\xff\xff\xff" + bytes(range(256)) * 50
    assert codec.decode(codec.encode(data, c)) == data
