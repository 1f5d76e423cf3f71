"""The HorizontalPodAutoscaler acting on real pods: a cpu-burning Deployment scales up to
maxReplicas, an idle one scales down at the rate its ``behavior`` allows.

Real processes on the local node, usage read from metrics.k8s.io (psutil), scaling through
the Deployment's scale subresource. The control plane syncs autoscalers every second here
(15 s upstream) so the test stays short.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.timeout(180),
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed"),
]

# About a third of a core: busy 30 ms, asleep 60 ms.
BURN = """
import time
while True:
    end = time.monotonic() + 0.03
    while time.monotonic() < end:
        pass
    time.sleep(0.06)
"""


def deployment(name: str, replicas: int, command: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "main",
                            "image": "python:3.11",
                            "command": command,
                            "resources": {"requests": {"cpu": "100m", "memory": "16Mi"}},
                        }
                    ],
                },
            },
        },
    }


def autoscaler(name: str, low: int, high: int, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
            **extra,
        },
    }


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    config = {
        "nodes": {"local": {"name": "local-node"}},
        "addons": {"trainingOperator": False, "kueue": False, "healthAgent": False},
        "horizontalPodAutoscaler": {"syncPeriodSeconds": 1},
    }
    plane = start_control_plane(tmp_path_factory.mktemp("hpa"), config)
    yield plane
    plane.stop()


def apply(cp: RunningControlPlane, *objs: dict[str, Any]) -> None:
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objs))


def get(cp: RunningControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def wait(cp: RunningControlPlane, what: str, fn: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what}: last {last!r}\n{cp.log()[-3000:]}")


def conditions(hpa: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (hpa.get("status") or {}).get("conditions") or []}


def test_a_cpu_burning_deployment_scales_up_to_max(cp: RunningControlPlane) -> None:
    hpa = autoscaler("burn", 1, 3)
    hpa["spec"]["metrics"].append(
        {
            "type": "Resource",
            "resource": {
                "name": "memory",
                "target": {"type": "AverageValue", "averageValue": "1Gi"},
            },
        }
    )
    apply(cp, deployment("burn", 1, ["python3", "-c", BURN]), hpa)
    try:
        wait(
            cp,
            "the autoscaler scaling the deployment to 3",
            lambda: get(cp, "deploy", "burn")["spec"]["replicas"] == 3,
            90,
        )
        hpa = wait(
            cp,
            "the autoscaler's status after the rescale",
            lambda: (h := get(cp, "hpa", "burn"))["status"].get("lastScaleTime") and h,
        )
        st = hpa["status"]
        assert st["desiredReplicas"] == 3
        cpu = st["currentMetrics"][0]["resource"]
        assert cpu["name"] == "cpu" and cpu["current"]["averageUtilization"] > 50
        assert cpu["current"]["averageValue"].endswith("m")
        memory = st["currentMetrics"][1]["resource"]
        assert memory["name"] == "memory" and memory["current"]["averageValue"].endswith("Ki")
        conds = conditions(hpa)
        assert conds["ScalingActive"]["reason"] == "ValidMetricFound"
        assert conds["ScalingActive"]["status"] == "True"
        assert conds["AbleToScale"]["status"] == "True"
        events = cp.kubectl(
            "get", "events", "--field-selector", "involvedObject.name=burn", "-o", "json"
        ).stdout
        assert "SuccessfulRescale" in events and "cpu resource utilization" in events
        row = cp.kubectl("get", "hpa", "burn", "--no-headers").stdout.split()
        assert row[1] == "Deployment/burn" and row[2] == "cpu:" and row[3].endswith("/50%,")
        assert row[3] != "<unknown>/50%," and row[4] == "memory:" and row[5].endswith("/1Gi")
        described = cp.kubectl("describe", "hpa", "burn").stdout
        assert "SuccessfulRescale" in described and "ValidMetricFound" in described
        # Upward pressure stays but maxReplicas caps it: ScalingLimited says so.
        wait(
            cp,
            "ScalingLimited=True TooManyReplicas",
            lambda: (
                conditions(get(cp, "hpa", "burn")).get("ScalingLimited", {}).get("reason")
                == "TooManyReplicas"
            ),
            30,
        )
    finally:
        cp.kubectl("delete", "hpa,deploy", "burn", "--wait=false", check=False)


def test_an_idle_deployment_scales_down_at_the_behavior_rate(cp: RunningControlPlane) -> None:
    behavior = {
        "scaleDown": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 600}],
        }
    }
    apply(cp, deployment("idle", 3, ["sleep", "600"]))
    wait(
        cp, "3 idle replicas", lambda: get(cp, "deploy", "idle")["status"].get("readyReplicas") == 3
    )
    apply(cp, autoscaler("idle", 1, 5, behavior=behavior))
    try:
        wait(
            cp,
            "one replica removed",
            lambda: get(cp, "deploy", "idle")["spec"]["replicas"] == 2,
            60,
        )
        hpa = wait(
            cp,
            "ScalingLimited=True ScaleDownLimit",
            lambda: (
                (h := get(cp, "hpa", "idle"))
                and conditions(h).get("ScalingLimited", {}).get("reason") == "ScaleDownLimit"
                and h
            ),
            30,
        )
        assert conditions(hpa)["ScalingLimited"]["status"] == "True"
        time.sleep(3)  # a few more syncs: the 600 s period allows no second removal
        assert get(cp, "deploy", "idle")["spec"]["replicas"] == 2
    finally:
        cp.kubectl("delete", "hpa,deploy", "idle", "--wait=false", check=False)
