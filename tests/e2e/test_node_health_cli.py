"""`hyp` node commands and kubectl against a real control plane with fake local GPUs and p5 nodes.

The local node has 4 fake GPUs (HYPERPOD_FAKE_GPUS=4); faults go through the fake NVML.
Tests run in file order on one control plane per module.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support import RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
HYP = str(Path(sys.executable).with_name("hyp"))
LOCAL = "hp-local"
HEALTH = "sagemaker.amazonaws.com/node-health-status"
CONFIG: dict[str, Any] = {
    "nodes": {
        "local": {"name": LOCAL},
        "simulated": [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 2}],
    },
    "nodeRecovery": "None",
    "health": {"pollSeconds": 0.3, "rebootSeconds": 0.5, "kubeletStaleSeconds": 3},
    "kubelet": {"heartbeatSeconds": 1, "simulatedHeartbeatSeconds": 0.5},
}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(
        tmp_path_factory.mktemp("health"), CONFIG, env={"HYPERPOD_FAKE_GPUS": "4"}
    )
    try:
        yield plane
    finally:
        plane.stop()


def hyp(
    cp: RunningControlPlane, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        [HYP, "--kubeconfig", str(cp.kubeconfig), *args], capture_output=True, text=True, timeout=60
    )
    if check and res.returncode != 0:
        raise AssertionError(
            f"hyp {' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
        )
    return res


def node(cp: RunningControlPlane, name: str) -> dict[str, Any]:
    return json.loads(cp.kubectl("get", "node", name, "-o", "json").stdout)


def until(pred: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"condition not met in {timeout}s")


def test_nodes_join_schedulable_with_deep_health_passed(cp: RunningControlPlane) -> None:
    until(lambda: node(cp, LOCAL)["status"]["capacity"].get("nvidia.com/gpu") == "4")
    rows = json.loads(hyp(cp, "list", "node", "-o", "json").stdout)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {LOCAL, "p5-0", "p5-1"}
    assert {r["health"] for r in rows} == {"Schedulable"}
    assert {r["deep_health_check"] for r in rows} == {"Passed"}
    assert by_name["p5-0"]["gpus"] == "8/8" and by_name[LOCAL]["gpus"] == "4/4"


def test_a_single_gpu_ecc_fault_on_the_local_node_drops_allocatable_only(
    cp: RunningControlPlane,
) -> None:
    out = hyp(cp, "inject-fault", "--node", LOCAL, "--fault", "gpu-ecc-dbe", "--gpu", "1").stdout
    assert "testing tool" in out
    until(lambda: node(cp, LOCAL)["status"]["allocatable"]["nvidia.com/gpu"] == "3")
    n = node(cp, LOCAL)
    assert n["metadata"]["labels"][HEALTH] == "Schedulable"
    assert not [t for t in n["spec"].get("taints") or [] if t["key"] == HEALTH]
    desc = hyp(cp, "describe", "node", "--node", LOCAL).stdout
    assert "GPU-00000000-fake-4000-8000-000000000001" in desc
    assert "volatile double-bit ECC" in desc and "3/4" in desc


TRAINER = """
import os, shutil, signal, sys, time
def stop(*_):
    shutil.copy(os.environ["HYPERPOD_EVICTION_FILE"], sys.argv[1])
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
time.sleep(600)
"""


def test_a_pod_holding_a_gpu_that_fails_is_evicted_and_the_node_stays_schedulable(
    cp: RunningControlPlane, tmp_path: Path
) -> None:
    hint = tmp_path / "eviction.json"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "holder", "namespace": "default"},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": LOCAL},
            "terminationGracePeriodSeconds": 2,
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "c",
                    "image": "python",
                    "command": [sys.executable, "-c", TRAINER, str(hint)],
                    "resources": {"limits": {"nvidia.com/gpu": "2"}},
                }
            ],
        },
    }
    cp.kubectl("apply", "-f", "-", input=json.dumps(pod))

    def held() -> list[str] | None:
        p = json.loads(cp.kubectl("get", "pod", "holder", "-o", "json").stdout)
        if p["status"].get("phase") != "Running":
            return None
        return list(
            json.loads(p["metadata"]["annotations"]["hyperpod.local/devices"])["c"][
                "nvidia.com/gpu"
            ]
        )

    uuids = until(held)
    indices = sorted(int(u.rsplit("-", 1)[1]) for u in uuids)
    assert indices == [0, 2]  # GPU 1 is unhealthy since the test above: never handed out
    index = indices[0]
    hyp(cp, "inject-fault", "--node", LOCAL, "--fault", "gpu-ecc-dbe", "--gpu", str(index))
    until(lambda: cp.kubectl("get", "pod", "holder", check=False).returncode != 0)
    events = cp.kubectl(
        "get", "events", "--field-selector", "involvedObject.name=holder", "-o", "json"
    ).stdout
    assert "a GPU it holds on node" in events and f"GPU {index}" in events
    # The trainer's SIGTERM handler found why it was stopped in $HYPERPOD_EVICTION_FILE.
    told = json.loads(hint.read_text())
    assert told["node"] == LOCAL and told["reason"] == "DeletionByNodeHealthAgent"
    assert f"GPU {index}" in told["message"]
    n = node(cp, LOCAL)
    assert n["status"]["allocatable"]["nvidia.com/gpu"] == "2"
    assert n["metadata"]["labels"][HEALTH] == "Schedulable"


def test_bad_node_commands_get_one_line_errors(cp: RunningControlPlane) -> None:
    res = hyp(cp, "inject-fault", "--node", "nope", "--fault", "gpu-lost", check=False)
    assert res.returncode == 1 and "node 'nope' not found" in res.stderr
    assert "Traceback" not in res.stderr
    res = hyp(
        cp, "inject-fault", "--node", "p5-0", "--fault", "gpu-lost", "--gpu", "8", check=False
    )
    assert res.returncode == 1 and "GPUs 0..7" in res.stderr
    res = hyp(
        cp, "inject-fault", "--node", "p5-0", "--fault", "disk-full", "--gpu", "1", check=False
    )
    assert res.returncode == 1 and "--gpu applies only to GPU faults" in res.stderr
    res = hyp(cp, "inject-fault", "--node", "p5-0", "--fault", "melted", check=False)
    assert res.returncode == 2 and "melted" in res.stderr


def test_xid_79_on_a_simulated_node_taints_it_and_uncordon_does_not_clear_it(
    cp: RunningControlPlane,
) -> None:
    hyp(cp, "inject-fault", "--node", "p5-1", "--fault", "gpu-xid-79", "--gpu", "3")
    until(
        lambda: node(cp, "p5-1")["metadata"]["labels"][HEALTH] == "UnschedulablePendingReplacement"
    )
    cp.kubectl("cordon", "p5-1")
    cp.kubectl("uncordon", "p5-1")
    time.sleep(1)
    n = node(cp, "p5-1")
    assert n["metadata"]["labels"][HEALTH] == "UnschedulablePendingReplacement"
    effects = {t["effect"] for t in n["spec"]["taints"] if t["key"] == HEALTH}
    assert effects == {"NoSchedule", "NoExecute"}
    desc = hyp(cp, "describe", "node", "--node", "p5-1").stdout
    assert "XID 79 on GPU 3 (GPU has fallen off the bus)" in desc
    events = cp.kubectl(
        "get", "events", "--field-selector", "involvedObject.name=p5-1", "-o", "json"
    ).stdout
    assert "NodeHealthStatusChanged" in events
    # The health agent's verdict in /metrics, as series an alert can use (issue 17).
    text = cp.kubectl("get", "--raw", "/metrics").stdout
    for line in (
        'hyperpod_node_health_status{node="p5-1",status="UnschedulablePendingReplacement"} 1.0',
        'hyperpod_node_health_status{node="p5-1",status="Schedulable"} 0.0',
        'hyperpod_node_health_status{node="p5-0",status="Schedulable"} 1.0',
        'hyperpod_node_deep_health_check_status{node="p5-0",status="Passed"} 1.0',
        f'kube_node_spec_taint{{effect="NoExecute",key="{HEALTH}",node="p5-1",'
        'value="UnschedulablePendingReplacement"} 1.0',
        'kube_node_status_condition{condition="GpuProblem",node="p5-1",status="true"} 1.0',
    ):
        assert line in text, line


def test_reboot_clears_the_fault_and_the_local_node_cannot_be_replaced(
    cp: RunningControlPlane,
) -> None:
    hyp(cp, "reboot", "node", "--node", "p5-1")
    until(lambda: node(cp, "p5-1")["metadata"]["labels"][HEALTH] == "Schedulable")
    assert not [t for t in node(cp, "p5-1")["spec"].get("taints") or [] if t["key"] == HEALTH]
    hyp(cp, "reboot", "node", "--node", LOCAL)
    until(lambda: node(cp, LOCAL)["status"]["allocatable"]["nvidia.com/gpu"] == "4")
    hyp(cp, "replace", "node", "--node", LOCAL)
    until(lambda: node(cp, LOCAL)["spec"].get("unschedulable") is True)
    events = cp.kubectl(
        "get", "events", "--field-selector", f"involvedObject.name={LOCAL}", "-o", "json"
    ).stdout
    assert "cannot be replaced" in events


def test_a_deep_health_check_on_the_local_node_runs_the_real_checks(
    cp: RunningControlPlane,
) -> None:
    deep = "sagemaker.amazonaws.com/deep-health-check-status"
    hyp(cp, "start", "deep-health-check", "--node", "p5-0")
    hyp(cp, "start", "deep-health-check", "--node", LOCAL)
    until(lambda: node(cp, LOCAL)["metadata"]["labels"][deep] == "InProgress", timeout=30)
    until(lambda: node(cp, LOCAL)["metadata"]["labels"][deep] == "Passed", timeout=150)
    events = cp.kubectl(
        "get", "events", "--field-selector", f"involvedObject.name={LOCAL}", "-o", "json"
    ).stdout
    assert "gloo all-reduce over 2 processes: ok" in events
    assert "matmul 256x256" in events
    until(lambda: node(cp, "p5-0")["metadata"]["labels"][deep] == "Passed")
