"""An elastic HyperPodPyTorchJob follows capacity on a real control plane (simulated p5 nodes).

A 3-pod job (one whole node per pod) starts while one of the three nodes is cordoned: the third
rank cannot be placed and the job shrinks to 2; when the node is uncordoned, a capacity probe
fits and the job grows back to 3, every rank with the new WORLD_SIZE.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from support import RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
Obj = dict[str, Any]
CONFIG = {
    "nodes": {
        "local": {"enabled": False},
        "simulated": [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 3}],
    },
    "nodeRecovery": "None",
    "health": {"pollSeconds": 0.3, "evictionTimeoutSeconds": 1, "rebootSeconds": 0.5},
    "kubelet": {"simulatedHeartbeatSeconds": 0.5},
}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    control = start_control_plane(tmp_path_factory.mktemp("hpelastic"), CONFIG)
    yield control
    control.stop()


def job() -> Obj:
    container = {
        "name": "pytorch",
        "image": "local/python",
        "command": ["python", "-m", "hyperpod.examples.digits"],
        "resources": {"limits": {"nvidia.com/gpu": "8"}, "requests": {"nvidia.com/gpu": "8"}},
    }
    return {
        "apiVersion": "sagemaker.amazonaws.com/v1",
        "kind": "HyperPodPyTorchJob",
        "metadata": {"name": "stretchy", "namespace": "default"},
        "spec": {
            "nprocPerNode": "1",
            "runPolicy": {
                "jobMaxRetryCount": 5,
                "restartPolicy": {"evalPeriodSeconds": 600, "scaleUpSnoozeTimeInSeconds": 1},
            },
            "elasticPolicy": {
                "minReplicas": 1,
                "maxReplicas": 3,
                "faultyScaleDownTimeoutInSeconds": 2,
                "scalingTimeoutInSeconds": 3,
                "gracefulShutdownTimeoutInSeconds": 5,
            },
            "replicaSpecs": [
                {"name": "worker", "replicas": 3, "template": {"spec": {"containers": [container]}}}
            ],
        },
    }


def get(cp: RunningControlPlane, *what: str) -> Obj:
    return dict(json.loads(cp.kubectl("get", *what, "-o", "json").stdout))


def until(pred: Any, timeout: float = 150) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("timed out")


def ranks_running(cp: RunningControlPlane, count: int) -> list[Obj]:
    items = get(cp, "pods", "-l", "HPJob=stretchy")["items"]
    ranks = [p for p in items if "hyperpod.local/role" not in p["metadata"]["labels"]]
    live = [p for p in ranks if not p["metadata"].get("deletionTimestamp")]
    ok = len(live) == count and all(p["status"].get("phase") == "Running" for p in live)
    return live if ok else []


def test_an_elastic_job_shrinks_without_capacity_and_grows_when_a_node_returns(
    cp: RunningControlPlane,
) -> None:
    cp.kubectl("cordon", "p5-2")  # one of the three nodes is unavailable to start with
    cp.kubectl("apply", "-f", "-", input=json.dumps(job()))
    two = until(lambda: ranks_running(cp, 2))
    env = {e["name"]: e["value"] for e in two[0]["spec"]["containers"][0]["env"]}
    assert env["WORLD_SIZE"] == "2"
    assert two[0]["spec"]["terminationGracePeriodSeconds"] == 5
    hp = get(cp, "hpjob", "stretchy")
    assert hp["metadata"]["annotations"]["hyperpod.local/elastic-replicas"] == "2"
    cp.kubectl("uncordon", "p5-2")
    three = until(lambda: ranks_running(cp, 3))
    env = {e["name"]: e["value"] for e in three[0]["spec"]["containers"][0]["env"]}
    assert env["WORLD_SIZE"] == "3"
    assert "p5-2" in {p["spec"]["nodeName"] for p in three}
    events = get(cp, "events", "--field-selector", "involvedObject.name=stretchy")["items"]
    reasons = {e["reason"] for e in events}
    assert {"ScaledDown", "ScaledUp"} <= reasons
