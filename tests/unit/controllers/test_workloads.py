"""Helpers of the workload controllers: availability after minReadySeconds, deletion order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hyperpod.controllers import workloads as wl

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def pod(
    name: str,
    *,
    node: str | None = "n1",
    phase: str = "Running",
    ready_for: float | None = 60,
    created: str = "2026-03-01T11:00:00Z",
    restarts: int = 0,
) -> dict[str, Any]:
    conds = []
    if ready_for is not None:
        since = (NOW - timedelta(seconds=ready_for)).strftime("%Y-%m-%dT%H:%M:%SZ")
        conds.append({"type": "Ready", "status": "True", "lastTransitionTime": since})
    spec = {"nodeName": node} if node else {}
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": spec,
        "status": {
            "phase": phase,
            "conditions": conds,
            "containerStatuses": [{"restartCount": restarts}],
        },
    }


def test_a_pod_is_available_once_ready_for_min_ready_seconds() -> None:
    assert wl.is_available(pod("a", ready_for=10), 5, NOW)
    assert not wl.is_available(pod("a", ready_for=3), 5, NOW)
    assert not wl.is_available(pod("a", ready_for=None), 0, NOW)


def test_unscheduled_then_pending_then_unready_then_newest_pods_are_deleted_first() -> None:
    pods = [
        pod("old-ready", created="2026-03-01T10:00:00Z"),
        pod("new-ready", created="2026-03-01T11:30:00Z"),
        pod("unready", ready_for=None),
        pod("pending", phase="Pending", ready_for=None),
        pod("unscheduled", node=None, phase="Pending", ready_for=None),
    ]
    order = [p["metadata"]["name"] for p in wl.pods_to_delete(pods, 5)]
    assert order == ["unscheduled", "pending", "unready", "new-ready", "old-ready"]
    assert [p["metadata"]["name"] for p in wl.pods_to_delete(pods, 1)] == ["unscheduled"]


def test_a_pod_from_a_template_is_owned_by_its_controller() -> None:
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web-abc", "namespace": "team", "uid": "u1"},
    }
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}
    made = wl.pod_from_template(owner, template)
    assert made["metadata"]["generateName"] == "web-abc-"
    assert made["metadata"]["namespace"] == "team"
    assert wl.controller_uid(made) == "u1"
    made["spec"]["containers"][0]["name"] = "changed"
    assert template["spec"]["containers"][0]["name"] == "c"
