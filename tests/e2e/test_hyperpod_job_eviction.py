"""The HyperPod operator reacts to the health agent: an evicted rank is taken over by a spare.

A GPU fault injected into the node of rank 1 makes the health agent taint it and evict the pod;
the operator counts the fault, marks the node a repeat offender, hands rank 1 to the ready spare
and keeps the job Running.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from hyperpod.cli.main import cli
from support import RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
Obj = dict[str, Any]
CONFIG = {
    "nodes": {
        "local": {"enabled": False},
        "simulated": [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 4}],
    },
    "nodeRecovery": "None",
    "health": {"pollSeconds": 0.3, "evictionTimeoutSeconds": 1},
    "kubelet": {"simulatedHeartbeatSeconds": 0.5},
}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    control = start_control_plane(tmp_path_factory.mktemp("hpevict"), CONFIG)
    yield control
    control.stop()


def job() -> Obj:
    container = {
        "name": "pytorch",
        "image": "local/python",
        "command": ["python", "-m", "hyperpod.examples.digits"],
        # A whole node per pod, so each rank and the spare sit on their own node.
        "resources": {"limits": {"nvidia.com/gpu": "8"}, "requests": {"nvidia.com/gpu": "8"}},
    }
    return {
        "apiVersion": "sagemaker.amazonaws.com/v1",
        "kind": "HyperPodPyTorchJob",
        "metadata": {"name": "evict", "namespace": "default"},
        "spec": {
            "nprocPerNode": "1",
            "runPolicy": {
                "jobMaxRetryCount": 5,
                "restartPolicy": {"evalPeriodSeconds": 600, "maxNumRepeatOffendersToAvoid": 1},
            },
            "replicaSpecs": [
                {
                    "name": "worker",
                    "replicas": 2,
                    "spares": 1,
                    "template": {"spec": {"containers": [container]}},
                }
            ],
        },
    }


def get(cp: RunningControlPlane, *what: str) -> Obj:
    return dict(json.loads(cp.kubectl("get", *what, "-o", "json").stdout))


def until(pred: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("timed out")


def test_a_rank_evicted_from_a_faulty_node_is_taken_over_by_the_spare(
    cp: RunningControlPlane,
) -> None:
    cp.kubectl("apply", "-f", "-", input=json.dumps(job()))

    def all_running() -> list[Obj]:
        items = get(cp, "pods", "-l", "HPJob=evict")["items"]
        ok = len(items) == 3 and all(p["status"].get("phase") == "Running" for p in items)
        return items if ok else []

    pods = {p["metadata"]["name"]: p for p in until(all_running)}
    node = pods["evict-worker-1"]["spec"]["nodeName"]
    spare_node = pods["evict-worker-spare-0"]["spec"]["nodeName"]
    res = CliRunner().invoke(
        cli,
        ["--kubeconfig", str(cp.kubeconfig), "inject-fault", "--node", node, "--fault",
         "gpu-xid-79"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output

    def took_over() -> Obj:
        spare = get(cp, "pod", "evict-worker-spare-0")
        labels = spare["metadata"]["labels"]
        return spare if labels.get("sagemaker.amazonaws.com/node-rank") == "1" else {}

    until(took_over)
    hp = get(cp, "hpjob", "evict")
    assert hp["status"]["restartCount"] == 1
    faults = json.loads(hp["metadata"]["annotations"]["hyperpod.local/node-faults"])
    assert faults == {node: 2}
    events = get(cp, "events", "--field-selector", "involvedObject.name=evict")["items"]
    reasons = {e["reason"] for e in events}
    assert {"PodEvictedFromFaultyNode", "SpareTookOver"} <= reasons
    # A new spare is made, kept off the repeat offender.
    new_spare = until(
        lambda: get(cp, "pods", "-l", "HPJob=evict,hyperpod.local/role=spare")["items"]
    )
    affinity = new_spare[0]["spec"]["affinity"]["nodeAffinity"]
    terms = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][-1]["values"] == [node]
    assert spare_node != node
