"""PodDisruptionBudgets are honoured by the eviction subresource and so by ``kubectl drain``
(a Deployment on two simulated nodes)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")

CONFIG = {"nodes": {"simulated": [{"group": "sim", "instanceType": "ml.m5.2xlarge", "count": 2}]}}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("pdb"), CONFIG)
    yield plane
    plane.stop()


def get_json(cp: RunningControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def apply(cp: RunningControlPlane, obj: dict[str, Any]) -> None:
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(obj))


def guarded(cp: RunningControlPlane, name: str, min_available: int | str) -> None:
    apply(
        cp,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "nodeSelector": {"type": "kwok"},
                        "containers": [{"name": "web", "image": "nginx"}],
                    },
                },
            },
        },
    )
    apply(
        cp,
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": name}}},
        },
    )
    cp.kubectl("rollout", "status", f"deploy/{name}", "--timeout=60s")
    wait_for(
        "the budget's status",
        lambda: (get_json(cp, "pdb", name).get("status") or {}).get("currentHealthy") == 2,
    )


def pods(cp: RunningControlPlane, app: str) -> list[dict[str, Any]]:
    return [
        p
        for p in get_json(cp, "pods", "-l", f"app={app}")["items"]
        if not p["metadata"].get("deletionTimestamp")
    ]


def test_an_eviction_that_would_break_the_budget_is_refused_with_429(
    cp: RunningControlPlane,
) -> None:
    guarded(cp, "strict", 2)
    status = get_json(cp, "pdb", "strict")["status"]
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (
        2,
        2,
        0,
    )
    core = client.CoreV1Api(cp.api_client())
    victim = pods(cp, "strict")[0]["metadata"]["name"]
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_eviction(
            victim,
            "default",
            {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": victim}},
        )
    assert err.value.status == 429
    assert "disruption budget" in json.loads(err.value.body)["message"]
    node = pods(cp, "strict")[0]["spec"]["nodeName"]
    res = cp.kubectl("drain", node, "--timeout=3s", "--pod-selector=app=strict", check=False)
    assert res.returncode != 0
    assert "violate the pod's disruption budget" in res.stderr
    cp.kubectl("uncordon", node)
    assert len(pods(cp, "strict")) == 2


def test_kubectl_drain_evicts_within_the_budget_and_the_pods_move(
    cp: RunningControlPlane,
) -> None:
    guarded(cp, "relaxed", 1)
    node = pods(cp, "relaxed")[0]["spec"]["nodeName"]
    cp.kubectl("drain", node, "--timeout=60s", "--pod-selector=app=relaxed")
    cp.kubectl("rollout", "status", "deploy/relaxed", "--timeout=60s")
    moved = pods(cp, "relaxed")
    assert len(moved) == 2 and all(p["spec"]["nodeName"] != node for p in moved)
    cp.kubectl("uncordon", node)
