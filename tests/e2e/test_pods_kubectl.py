"""What users see through kubectl: get pods, describe pod, logs -f, on a real control plane."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.timeout(180),
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed"),
]

POD = """
apiVersion: v1
kind: Pod
metadata: {name: counter}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: python:3.11
    command: ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done"]
"""


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    data = tmp_path_factory.mktemp("kubectl-pods")
    config = {
        "nodes": {
            "local": {"name": "local-node"},
            "simulated": [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 1}],
        },
        "addons": {"trainingOperator": False, "kueue": False, "healthAgent": False},
    }
    plane = start_control_plane(data, config, env={"HYPERPOD_FAKE_GPUS": "2"})
    yield plane
    plane.stop()


def wait_for(cp: RunningControlPlane, args: list[str], text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = cp.kubectl(*args, check=False).stdout
        if text in out:
            return out
        time.sleep(0.2)
    raise AssertionError(
        f"{text!r} never appeared in kubectl {' '.join(args)}:\n{out}\n{cp.log()[-3000:]}"
    )


def test_nodes_show_the_local_machine_with_fake_gpus_and_the_simulated_node(
    cp: RunningControlPlane,
) -> None:
    out = wait_for(cp, ["get", "nodes"], "p5-0")
    assert "local-node" in out and "Ready" in out
    gpus = wait_for(
        cp,
        ["get", "node", "local-node", "-o", "jsonpath={.status.allocatable.nvidia\\.com/gpu}"],
        "2",
    )
    assert gpus.strip() == "2"


def test_logs_follow_streams_until_the_container_ends_and_get_describe_read_naturally(
    cp: RunningControlPlane, tmp_path: Path
) -> None:
    cp.kubectl("apply", "-f", "-", input=POD)
    wait_for(cp, ["get", "pod", "counter", "-o", "jsonpath={.status.phase}"], "Running")
    assert KUBECTL is not None
    follow = subprocess.run(
        [KUBECTL, "logs", "-f", "counter"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KUBECONFIG": str(cp.kubeconfig)},
    )
    assert follow.stdout == "line 1\nline 2\nline 3\n", follow.stderr
    out = wait_for(cp, ["get", "pods"], "Completed")
    assert "counter" in out and "0/1" in out
    desc = cp.kubectl("describe", "pod", "counter").stdout
    for text in (
        "Node:",
        "local-node",
        "Status:",
        "Succeeded",
        "Exit Code:",
        "Started",
        "Pulled",
        "not pulled",
    ):
        assert text in desc, desc


def test_a_bad_command_reads_as_a_clear_status(cp: RunningControlPlane) -> None:
    manifest = POD.replace("counter", "broken").replace(
        '["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done"]', '["foo"]'
    )
    cp.kubectl("apply", "-f", "-", input=manifest)
    out = wait_for(cp, ["get", "pod", "broken"], "StartError")
    assert "broken" in out
    desc = cp.kubectl("describe", "pod", "broken").stdout
    assert 'exec: "foo": executable file not found in $PATH' in desc


def test_a_pod_too_big_for_any_node_stays_pending_with_the_reason(cp: RunningControlPlane) -> None:
    manifest = POD.replace("counter", "huge").replace(
        "    command:", "    resources: {limits: {nvidia.com/gpu: 64}}\n    command:"
    )
    cp.kubectl("apply", "-f", "-", input=manifest)
    desc = wait_for(cp, ["describe", "pod", "huge"], "FailedScheduling")
    assert "0/2 nodes are available: 2 Insufficient nvidia.com/gpu." in desc
    assert "Pending" in cp.kubectl("get", "pod", "huge").stdout
