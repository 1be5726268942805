"""MotherDuck's client window (ducksync.motherduck_versions): the pin, the installed
duckdb and the startup check that refuses ``md:`` outside it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import duckdb
import pytest
from packaging.requirements import Requirement

from ducksync.errors import UnsupportedVersionError
from ducksync.motherduck_versions import (
    ACCEPTED_CLIENTS,
    check_client_version,
    in_window,
    parse_version,
)
from ducksync.server.remote import RemoteDatabase
from ducksync.stores import native

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _duckdb_pin() -> Requirement:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    pins = [Requirement(r) for deps in extras.values() for r in deps
            if Requirement(r).name == "duckdb"]
    assert len(pins) == 1, pins  # one pin, in one place
    return pins[0]


def test_the_duckdb_pin_lies_inside_the_window() -> None:
    spec = _duckdb_pin().specifier
    low, high = (".".join(map(str, v)) for v in ACCEPTED_CLIENTS)
    # Bounded above by the window's top, and every release it admits is accepted.
    assert any(s.operator in ("<=", "<", "==", "~=") for s in spec), f"unbounded pin: {spec}"
    candidates = [f"{a}.{b}.{c}" for a in (1, 2) for b in range(10) for c in range(12)]
    admitted = [v for v in candidates if spec.contains(v)]
    assert admitted and all(in_window(v) for v in admitted), (spec, low, high)
    assert spec.contains(high)


def test_the_installed_duckdb_is_inside_the_window() -> None:
    assert in_window(duckdb.__version__), duckdb.__version__
    check_client_version("md:my_db")  # does not raise


def test_versions_parse_and_compare_numerically() -> None:
    assert parse_version("1.5.6") == (1, 5, 6) and parse_version("v1.4.10") == (1, 4, 10)
    assert parse_version("1.5.6.dev42") == (1, 5, 6)
    assert in_window("1.4.0") and in_window("1.5.6") and in_window("1.4.10")
    assert not in_window("1.3.2") and not in_window("1.5.7") and not in_window("2.0.1")


def test_md_outside_the_window_is_refused_naming_both_versions() -> None:
    with pytest.raises(UnsupportedVersionError) as caught:
        check_client_version("md:my_db", installed="2.0.1")
    err = caught.value
    assert err.code == "unsupported_version"
    assert "2.0.1" in err.message and "1.4.0 through 1.5.6" in err.message
    assert err.hint and "duckdb>=1.4.0,<=1.5.6" in err.hint
    check_client_version("/tmp/x.duckdb", installed="2.0.1")  # only md: is MotherDuck's


def test_server_and_cli_check_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duckdb, "__version__", "2.0.1")
    monkeypatch.setenv("MOTHERDUCK_TOKEN", "not-used-the-check-comes-first")
    with pytest.raises(UnsupportedVersionError, match=r"2\.0\.1"):
        RemoteDatabase(spec="md:my_db").connection()
    with pytest.raises(UnsupportedVersionError, match=r"2\.0\.1"):
        native.connect("md:my_db")
