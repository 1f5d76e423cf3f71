"""StatefulSets on a real control plane: stable names, ordered and parallel pod management,
partitioned rolling updates and scale-down from the highest ordinal (simulated nodes)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")

CONFIG = {"nodes": {"simulated": [{"group": "sim", "instanceType": "ml.m5.2xlarge", "count": 2}]}}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("sts"), CONFIG)
    yield plane
    plane.stop()


def statefulset(name: str, replicas: int, node_type: str = "kwok", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "nodeSelector": {"type": node_type},
                    "containers": [{"name": "db", "image": "postgres:16"}],
                },
            },
            **spec,
        },
    }


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


def live_pods(cp: RunningControlPlane, app: str) -> dict[str, dict[str, Any]]:
    return {
        p["metadata"]["name"]: p
        for p in get_json(cp, "pods", "-l", f"app={app}")["items"]
        if not p["metadata"].get("deletionTimestamp")
    }


def test_pods_get_stable_ordinal_names_created_in_order(cp: RunningControlPlane) -> None:
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(statefulset("db", 3)))
    cp.kubectl("rollout", "status", "sts/db", "--timeout=60s")
    pods = live_pods(cp, "db")
    assert sorted(pods) == ["db-0", "db-1", "db-2"]
    for name, pod in pods.items():
        assert pod["spec"]["hostname"] == name and pod["spec"]["subdomain"] == "db"
        assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == name
    events = get_json(cp, "events", "--field-selector", "involvedObject.name=db")["items"]
    created = [
        e["message"].split()[2]
        for e in sorted(events, key=lambda e: e["metadata"]["name"])
        if e["reason"] == "SuccessfulCreate"
    ]
    assert created == ["db-0", "db-1", "db-2"]
    status = get_json(cp, "sts", "db")["status"]
    assert status["readyReplicas"] == 3 and status["currentRevision"] == status["updateRevision"]


def test_ordered_ready_waits_for_each_pod_but_parallel_does_not(cp: RunningControlPlane) -> None:
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(statefulset("ordered", 3, "nowhere")))
    cp.kubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump(statefulset("parallel", 3, "nowhere", podManagementPolicy="Parallel")),
    )
    wait_for("three parallel pods", lambda: len(live_pods(cp, "parallel")) == 3)
    wait_for("the ordered set's status", lambda: get_json(cp, "sts", "ordered").get("status"))
    assert sorted(live_pods(cp, "ordered")) == ["ordered-0"]


def test_a_partitioned_rolling_update_replaces_only_ordinals_at_or_above_the_partition(
    cp: RunningControlPlane,
) -> None:
    sts = statefulset("part", 3, updateStrategy={"rollingUpdate": {"partition": 1}})
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(sts))
    cp.kubectl("rollout", "status", "sts/part", "--timeout=60s")
    cp.kubectl("set", "image", "sts/part", "db=postgres:17")

    def images() -> dict[str, str]:
        return {n: p["spec"]["containers"][0]["image"] for n, p in live_pods(cp, "part").items()}

    wait_for(
        "ordinals 1 and 2 updated",
        lambda: (
            images() == {"part-0": "postgres:16", "part-1": "postgres:17", "part-2": "postgres:17"}
        ),
    )
    revisions = get_json(cp, "controllerrevisions", "-l", "app=part")["items"]
    assert sorted(r["revision"] for r in revisions) == [1, 2]


def test_scaling_down_removes_the_highest_ordinals(cp: RunningControlPlane) -> None:
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(statefulset("shrink", 3)))
    cp.kubectl("rollout", "status", "sts/shrink", "--timeout=60s")
    cp.kubectl("scale", "sts/shrink", "--replicas=1")
    wait_for("one pod left", lambda: sorted(live_pods(cp, "shrink")) == ["shrink-0"])
