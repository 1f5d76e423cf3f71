"""The single copies of the time, condition, owner and cause helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hyperpod.api import meta


def test_rfc3339_writes_seconds_in_utc_from_a_datetime_or_an_epoch() -> None:
    moment = datetime(2024, 1, 2, 4, 4, 5, 123, tzinfo=timezone(timedelta(hours=1)))
    assert meta.rfc3339(moment) == "2024-01-02T03:04:05Z"
    assert meta.rfc3339(moment.timestamp()) == "2024-01-02T03:04:05Z"


def test_parse_time_reads_z_and_offsets_and_refuses_the_rest() -> None:
    assert meta.parse_time("2024-01-02T03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert meta.parse_time("2024-01-02T04:04:05+01:00") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert meta.parse_time("yesterday") is None
    assert meta.parse_time(None) is None
    assert meta.parse_time(17) is None


def test_epoch_of_reads_plain_and_micro_times() -> None:
    assert meta.epoch_of("1970-01-01T00:01:00Z") == 60.0
    assert meta.epoch_of("1970-01-01T00:01:00.500000Z") == 60.5
    assert meta.epoch_of("soon") is None


def test_set_condition_moves_the_transition_time_only_when_the_status_changes() -> None:
    conditions: list[dict[str, str]] = []
    assert meta.set_condition(conditions, "Ready", "False", "Starting")
    conditions[0]["lastTransitionTime"] = "2000-01-01T00:00:00Z"
    assert meta.set_condition(conditions, "Ready", "False", "StillStarting")
    assert conditions[0]["lastTransitionTime"] == "2000-01-01T00:00:00Z"
    assert not meta.set_condition(conditions, "Ready", "False", "StillStarting")
    assert meta.set_condition(conditions, "Ready", "True")
    assert conditions[0]["lastTransitionTime"] != "2000-01-01T00:00:00Z"


def test_owner_reference_and_cause_have_the_wire_shape() -> None:
    owner = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "uid": "u"}}
    assert meta.owner_reference(owner, controller=False) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "p",
        "uid": "u",
        "controller": False,
        "blockOwnerDeletion": True,
    }
    assert meta.cause("spec.x", "bad") == {
        "reason": "FieldValueInvalid",
        "message": "bad",
        "field": "spec.x",
    }
