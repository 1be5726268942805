"""The engine's contract tests again, with SqlRemoteStore as the remote.

SqlRemoteStore (the browser's direct ``motherduck`` transport) runs here over a real
DuckDB (a native connection as its connector, bindable scalar parameters only). The
tests are the *same functions* as for the native store, imported and collected again
under the ``sql_remote`` fixture (no copies): conflicts and policies, CAS,
replay/exactly-once, schema evolution, every type, bulk and watermark paths, and the
compact (verified) answers, which count the same calls and bytes on both stores.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import remote_kind
from hypothesis import HealthCheck, given, settings

CONTRACT = {
    "test_sync": ["test_initial_push_and_pull", "test_noop_sync_moves_only_checksums",
                  "test_insert_update_delete_both_ways", "test_policies",
                  "test_callable_policy_sees_both_versions",
                  "test_manual_conflict_kept_then_resolved",
                  "test_cas_refuses_overwrite_of_concurrent_remote_change",
                  "test_replayed_batch_is_a_noop",
                  "test_remote_hash_change_costs_transfer_not_a_wrong_merge",
                  "test_schema_add_column_and_incompatible_change",
                  "test_no_primary_key_is_a_clear_error", "test_composite_key_and_quoted_names",
                  "test_pull_only_leaves_local_changes_pending",
                  "test_batches_respect_batch_rows"],
    "test_types": ["test_all_types_round_trip_exactly"],
    "test_fastpaths": ["test_swapped_values_are_seen",
                       "test_bulk_initial_push_builds_the_same_base_as_the_general_path",
                       "test_bulk_push_in_ranges_with_verified_answers",
                       "test_bulk_refuses_keys_written_meanwhile",
                       "test_remote_bulk_path_without_primary_key_needs_an_empty_table",
                       "test_watermark_pull_moves_only_new_rows",
                       "test_watermark_falls_back_on_update_or_delete",
                       "test_watermark_on_an_updated_at_column_carries_updates",
                       "test_watermark_column_must_exist",
                       "test_scattered_remote_changes_move_little",
                       "test_values_swapped_between_columns_are_seen",
                       "test_bulk_push_crash_after_the_remote_committed_recovers_exactly_once",
                       "test_bulk_push_crash_in_the_local_record_recovers"],
}


def _engine_module(name: str) -> Any:
    """tests/engine/<name>.py by path (tests/e2e has a test_sync.py too)."""
    spec = importlib.util.spec_from_file_location(f"sql_contract_{name}",
                                                  Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


for _name, _tests in CONTRACT.items():
    _module = _engine_module(_name)
    globals().update({t: getattr(_module, t) for t in _tests})  # collected here again
_properties = _engine_module("test_properties")


@pytest.fixture(autouse=True)
def sql_remote() -> Iterator[None]:
    with remote_kind("sql"):
        yield


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_properties.policy, _properties.program)
def test_random_interleavings_converge_on_sql_remote(pol: str, ops: list[tuple[Any, ...]]) -> None:
    with remote_kind("sql"):
        _properties.check(_properties.World(pol), ops)
