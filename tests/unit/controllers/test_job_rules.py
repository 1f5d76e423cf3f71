"""The Job controller's pure rules: completion index sets and the pod failure policy."""

from __future__ import annotations

from typing import Any

from hyperpod.controllers import job_rules as rules


def failed_pod(
    code: int, container: str = "main", conditions: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Failed",
            "conditions": conditions or [],
            "containerStatuses": [
                {"name": container, "restartCount": 2, "state": {"terminated": {"exitCode": code}}}
            ],
        },
    }


def job_with(*rules_: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"podFailurePolicy": {"rules": list(rules_)}}}


def test_completed_indexes_round_trip_through_the_interval_form() -> None:
    assert rules.format_indexes({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert rules.parse_indexes("0-2,5,7-8") == {0, 1, 2, 5, 7, 8}
    assert rules.parse_indexes("") == set() and rules.format_indexes(set()) == ""


def test_an_exit_code_rule_matches_in_and_not_in() -> None:
    fail = {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}
    assert rules.failure_action(job_with(fail), failed_pod(42)) == "FailJob"
    assert rules.failure_action(job_with(fail), failed_pod(1)) == "Count"
    ignore = {"action": "Ignore", "onExitCodes": {"operator": "NotIn", "values": [1]}}
    assert rules.failure_action(job_with(ignore), failed_pod(3)) == "Ignore"
    assert rules.failure_action(job_with(ignore), failed_pod(1)) == "Count"


def test_a_rule_for_another_container_does_not_match() -> None:
    rule = {
        "action": "FailJob",
        "onExitCodes": {"containerName": "sidecar", "operator": "In", "values": [42]},
    }
    assert rules.failure_action(job_with(rule), failed_pod(42, "main")) == "Count"


def test_a_pod_condition_rule_matches_disruptions() -> None:
    rule = {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    pod = failed_pod(137, conditions=[{"type": "DisruptionTarget", "status": "True"}])
    assert rules.failure_action(job_with(rule), pod) == "Ignore"


def test_the_completion_index_comes_from_the_annotation() -> None:
    pod = {"metadata": {"annotations": {"batch.kubernetes.io/job-completion-index": "3"}}}
    assert rules.index_of(pod) == 3
    assert rules.index_of({"metadata": {}}) is None
    assert rules.restarts(failed_pod(1)) == 2


def indexed_failure(index: int, code: int = 1) -> dict[str, Any]:
    pod = failed_pod(code)
    pod["metadata"]["annotations"] = {"batch.kubernetes.io/job-completion-index": str(index)}
    return pod


def test_an_index_fails_once_its_failures_exceed_backoff_limit_per_index() -> None:
    job: dict[str, Any] = {"spec": {"backoffLimitPerIndex": 1}}
    pods = [indexed_failure(0), indexed_failure(0), indexed_failure(1)]
    assert rules.failed_indexes(job, pods) == {0}
    job["spec"]["podFailurePolicy"] = {
        "rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [7]}}]
    }
    assert rules.failed_indexes(job, [indexed_failure(2, 7)]) == {2}
    assert rules.failed_indexes({"spec": {}}, pods) == set()
