"""``nprocPerNode``: torchrun with no flags starts that many local ranks in each pod."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from support import RunningControlPlane, control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
TORCHRUN = Path(sys.executable).with_name("torchrun")


def explain(cp: RunningControlPlane) -> str:
    """What a failed run leaves behind: the job's status, the pods, events and each pod's log."""
    run = cp.kubectl
    parts = [
        run("get", "hpjob", "quad", "-o", "jsonpath={.status}", check=False).stdout,
        run("get", "pods", "-o", "wide", check=False).stdout,
        run("get", "events", check=False).stdout,
    ]
    for pod in ("quad-node-0", "quad-node-1"):
        parts.append(f"--- {pod}\n" + run("logs", pod, check=False).stdout)
        parts.append(run("logs", pod, "--previous", check=False).stdout)
    return "\n".join(parts)


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed next to python")
def test_two_pods_with_two_processes_each_train_as_a_world_of_four(tmp_path: Path) -> None:
    container = {
        "name": "pytorch",
        "image": "local/python",
        "command": [str(TORCHRUN), "-m", "hyperpod.examples.digits", "--epochs", "1"],
    }
    job = {
        "apiVersion": "sagemaker.amazonaws.com/v1",
        "kind": "HyperPodPyTorchJob",
        "metadata": {"name": "quad", "namespace": "default"},
        "spec": {
            "nprocPerNode": 2,
            "replicaSpecs": [
                {"name": "node", "replicas": 2, "template": {"spec": {"containers": [container]}}}
            ],
        },
    }
    with control_plane(tmp_path / "cp") as cp:
        cp.kubectl("apply", "-f", "-", input=json.dumps(job))
        deadline = time.monotonic() + 200
        state = ""
        while time.monotonic() < deadline and state not in ("Completed", "Failed"):
            got = json.loads(cp.kubectl("get", "hpjob", "quad", "-o", "json").stdout)
            conds = (got.get("status") or {}).get("conditions") or []
            state = conds[-1]["type"] if conds else ""
            time.sleep(0.5)
        assert state == "Completed", explain(cp)
        assert got["spec"]["nprocPerNode"] == "2"
        assert "world_size=4" in cp.kubectl("logs", "quad-node-0").stdout
