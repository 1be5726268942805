"""The page's wording helpers (web/ui_common.py, MicroPython in the page; run here in CPython
with a stand-in for PyScript's ``pyscript`` module): every message a sentence, plurals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from page_modules import page_module


@pytest.fixture(scope="module")
def common() -> Iterator[Any]:
    with page_module("ui_common") as module:
        yield module


def test_a_browser_error_and_its_hint_read_as_two_sentences(common: Any) -> None:
    text = common.plain_error({"code": "remote_unavailable", "message": "Failed to fetch",
                               "hint": "check the network"})
    assert text == ("The server could not be reached: Failed to fetch. "
                    "What to do: Check the network.")


@pytest.mark.parametrize("message", ["cannot reach the server: Failed to fetch",  # worker
                                     "cannot reach the server (Failed to fetch)"])  # session.js
def test_the_server_unreachable_is_said_once(common: Any, message: str) -> None:
    """Was "The server could not be reached: cannot reach the server: Failed to fetch."
    (the remote tables panel, the sync status)."""
    text = common.plain_error({"code": "remote_unavailable", "message": message,
                               "hint": "check the network"})
    assert text == ("The server could not be reached (Failed to fetch). "
                    "What to do: Check the network.")


def test_a_message_that_ends_a_sentence_is_left_as_it_is(common: Any) -> None:
    assert common.plain_error({"message": "Nothing was imported.", "hint": None}) == \
        "Nothing was imported."
    assert common.sentence("  ") == ""


@pytest.mark.parametrize(("n", "words"), [(0, "0 rows"), (1, "1 row"), (2, "2 rows")])
def test_counts_agree_with_their_number(common: Any, n: int, words: str) -> None:
    assert common.count(n, "row") == words


def test_motherduck_unreachable_is_said_once(common: Any) -> None:
    """The remote section's words for a failed switch (web/ui_remote.transport_error)."""
    text = common.lead_once("Could not reach MotherDuck",
                            "cannot connect to MotherDuck: Failed to fetch")
    assert text == "Could not reach MotherDuck (Failed to fetch)"
    assert common.lead_once("Could not reach MotherDuck", "token expired") == \
        "Could not reach MotherDuck: token expired"



def test_the_header_says_connecting_not_offline_while_the_remote_worker_starts(
        common: Any) -> None:
    assert common.online_words({"online": False, "remote": {"phase": "booting"}}) == \
        "connecting"
    assert common.online_words({"online": False, "remote": {"phase": "offline"}}) == "offline"
    assert common.online_words({"online": True, "remote": {"phase": "connected"}}) == "online"


@pytest.mark.parametrize("side", ["local", "remote"])
def test_a_stopped_table_s_hint_in_the_page_is_the_page_s_own_way_out(common: Any,
                                                                       side: str) -> None:
    """The engine's hint leads with CLI commands ("`ducksync pull LOCAL REMOTE --table t2`
    ... (JS: ducksync.redownload)"), which the page showed as its "What to do"."""
    from ducksync.engine.schema import _dropped_table
    from ducksync.errors import error_to_wire

    text = common.plain_error(error_to_wire(_dropped_table("t2", side)))
    assert "What to do: Use the table's buttons under Stopped tables below" in text, text
    assert "ducksync pull" not in text and "ducksync push" not in text and "JS:" not in text
    mass = common.plain_error({"code": "mass_delete", "message": "this sync would delete",
                               "hint": "sync again with --allow-mass-delete"})
    assert "Stopped tables" in mass and "--allow-mass-delete" not in mass
