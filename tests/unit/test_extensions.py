"""Extensions and WebAssembly crashes in plain words (ducksync.worker.extensions), on the
messages DuckDB-WASM 1.32 really gives in Chromium (copied from the page)."""

from __future__ import annotations

import pytest

from ducksync.worker.extensions import crash_error, explain, install_as_load, is_wasm_crash

NOT_LOADED = ('Catalog Error: Scalar Function with name "current_date" is not in the catalog, '
              "but it exists in the icu extension.\n\nPlease try installing and loading the icu "
              "extension by running:\nINSTALL icu;\nLOAD icu;\n\nAlternatively, consider "
              "enabling auto-install and auto-load by running:\nSET "
              "autoinstall_known_extensions=1;\nSET autoload_known_extensions=1;")
DOWNLOAD_FAILED = ("Failed to execute 'send' on 'XMLHttpRequest': Failed to load "
                   "'https://extensions.duckdb.org/v1.4.3/wasm_eh/json.duckdb_extension.wasm'.")


def test_a_function_of_a_missing_extension_is_named_with_its_extension_and_why() -> None:
    err = explain(NOT_LOADED, "SELECT current_date")
    assert err is not None
    assert err.message.startswith("current_date needs DuckDB's icu extension, which is not "
                                  "loaded: this page's DuckDB bundles only its core functions")
    assert "INSTALL" not in err.message and "LOAD icu" in str(err.hint)


def test_a_type_or_copy_format_is_named_too() -> None:
    err = explain('Catalog Error: Copy Function with name "parquet" is not in the catalog, '
                  "but it exists in the parquet extension.", "COPY t TO 'x' (FORMAT parquet)")
    assert err is not None and err.message.startswith("parquet needs DuckDB's parquet extension")


def test_a_failed_download_says_which_extension_and_that_the_network_failed() -> None:
    err = explain(DOWNLOAD_FAILED, "LOAD json")
    assert err is not None
    assert err.message.startswith("DuckDB's json extension could not be loaded")
    assert "extensions.duckdb.org failed (offline" in err.message


def test_other_errors_are_left_to_duckdb() -> None:
    assert explain('Catalog Error: Table with name "nope" does not exist!', "FROM nope") is None
    # downloaded, but not an extension: DuckDB's own message is the clear one
    assert explain('IO Error: Extension "https://extensions.duckdb.org/v1.4.3/wasm_eh/json.'
                   'duckdb_extension.wasm" could not be loaded because its signature is either '
                   "missing or invalid", "LOAD json") is None


@pytest.mark.parametrize(("sql", "load"), [
    ("INSTALL icu", "LOAD icu"), ("  force install 'json';", "LOAD json"),
    ("LOAD icu", None), ("SELECT 'INSTALL icu'", None), ("INSTALL icu; SELECT 1", None)])
def test_install_means_load_because_wasm_install_does_nothing(sql: str, load: str | None) -> None:
    assert install_as_load(sql) == load


def test_wasm_traps_are_told_from_sql_errors() -> None:
    assert is_wasm_crash("table index is out of bounds")
    assert is_wasm_crash("RuntimeError: function signature mismatch")
    assert not is_wasm_crash("Binder Error: column unreachable not found")


def test_a_time_zone_crash_names_icu_and_says_the_database_was_reopened() -> None:
    err = crash_error("function signature mismatch",
                      "SELECT TIMESTAMP '2024-01-01' AT TIME ZONE 'Europe/Paris'")
    assert "restarted and the database reopened" in err.message
    assert "icu extension" in err.message and "AT TIME ZONE" in str(err.hint)
    assert "icu" not in crash_error("unreachable", "SELECT 1").message
