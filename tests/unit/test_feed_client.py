"""The change feed's pure client side (``ducksync.feed``): parsing, deciding, backing off."""

from __future__ import annotations

from ducksync.feed import FALLBACK, LIVE, FeedEvent, FeedState, OwnCommits, SseParser
from ducksync.server.feed import event_id, sse_comment, sse_event


def test_events_split_anywhere_are_parsed_whole() -> None:
    wire = (b"retry: 1000\n\n" + sse_event("changes", {"tables": {"a": 3}, "snapshot": True},
                                          "r.3")
            + sse_comment("ping") + sse_event("changes", {"tables": {"b": 1}}, "r.4")).decode()
    parser, events = SseParser(), []
    for i in range(0, len(wire), 7):  # arbitrary chunk boundaries, as a network delivers
        events += list(parser.feed(wire[i:i + 7]))
    assert events == [FeedEvent("changes", {"tables": {"a": 3}, "snapshot": True}, "r.3"),
                      FeedEvent("changes", {"tables": {"b": 1}}, "r.4")]
    assert parser.retry_ms == 1000 and parser.comments == 1


def test_unknown_or_malformed_events_are_skipped() -> None:
    parser = SseParser()
    assert list(parser.feed("event: changes\ndata: not json\n\nevent: x\ndata: [1]\n\n")) == []
    assert list(parser.feed("data: {\"a\":\ndata: 1}\n\n")) == [FeedEvent("message", {"a": 1})]


def test_a_client_syncs_only_the_versions_it_lacks() -> None:
    state = FeedState()
    assert state.receive(FeedEvent("changes", {"tables": {"a": 2, "b": 5}}, "r.7")) == ["a", "b"]
    assert state.last_id == "r.7"
    assert state.receive(FeedEvent("changes", {"tables": {"a": 2, "b": 6}}, "r.8")) == ["b"]
    assert state.receive(FeedEvent("changes", {"tables": {"a": 2}}, "r.8")) == []
    assert state.receive(FeedEvent("hello", {"resumed": True}, "r.8")) == []
    assert state.receive(FeedEvent("changes", {"tables": {"a": "2", 3: 1}})) == []  # junk


def test_reconnects_back_off_and_an_open_stream_resets_them() -> None:
    state = FeedState(base_s=1.0, cap_s=8.0, rng=lambda: 1.0)
    waits = [state.dropped("down") for _ in range(6)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert state.to_dict() == {"state": FALLBACK, "reason": "down"}
    state.opened()
    assert state.to_dict() == {"state": LIVE, "reason": None}
    assert state.dropped("again") == 1.0


def test_the_event_id_grows_with_every_commit() -> None:
    assert event_id("r", {"a": 2, "b": 5}) == "r.7"
    assert event_id("r", {"a": 3, "b": 5}) != event_id("r", {"a": 2, "b": 5})


def _changes(tables: dict[str, int], keys: dict[str, object] | None = None) -> FeedEvent:
    return FeedEvent("changes", {"tables": tables} | ({"keys": keys} if keys else {}))


def test_keys_are_a_hint_only_without_a_gap_in_the_versions() -> None:
    state = FeedState()
    state.receive(_changes({"a": 4, "b": 1}))  # the snapshot: no keys
    hinted = {"a": {"since": 4, "keys": ["7", "9"]}, "b": {"since": 0, "keys": ["1"]}}
    assert state.receive(_changes({"a": 5, "b": 2}, hinted)) == ["a", "b"]
    assert state.keys == {"a": ["7", "9"]}  # b's keys start from a version b never had
    # the next event without keys (another server's commit): no hint for it
    assert state.receive(_changes({"a": 6})) == ["a"] and state.keys == {}
    assert state.receive(_changes({"a": 7}, {"a": {"since": 6, "keys": [7]}})) == ["a"]
    assert state.keys == {}  # not text: ignored


def test_a_device_does_not_sync_for_its_own_commits() -> None:
    own = OwnCommits()
    state = FeedState(own=own)
    state.receive(_changes({"a": 4, "b": 1}))
    own.started("a")
    own.finished("a", committed=True)
    assert state.receive(_changes({"a": 5})) == []  # its own: it holds the rows already
    own.started("a")
    own.finished("a", committed=True)
    assert state.receive(_changes({"a": 7})) == ["a"]  # one of the two was another's
    own.started("a")
    own.finished("a", committed=False)  # replayed: committed nothing now
    assert state.receive(_changes({"a": 8})) == ["a"]
    own.started("b")  # announced before its answer came back: synced, recounted after
    assert state.receive(_changes({"b": 2})) == ["b"]
    own.finished("b", committed=True)
    assert state.receive(_changes({"b": 3})) == ["b"]  # not counted as the device's
    own.started("b")
    own.finished("b", committed=True)
    assert state.receive(_changes({"b": 4})) == [] and not own.busy()
