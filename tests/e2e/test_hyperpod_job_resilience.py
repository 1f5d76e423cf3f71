"""HyperPodPyTorchJob spares and slow-job detection with real processes on a real control plane.

A spare pod waits with the trainer loaded; when a rank's process is killed the spare takes the
rank over (the faulty pod is deleted, not restarted), the other rank restarts in place and
training resumes from the last checkpoint; a new spare is created. A job whose throughput, read
from its own log, stays under a threshold is declared slow and restarted.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from support import RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    control = start_control_plane(tmp_path_factory.mktemp("hpresilience"))
    yield control
    control.stop()


def hpjob(name: str, command: list[str], spares: int = 0, **run_policy: Any) -> Obj:
    container = {"name": "pytorch", "image": "local/python", "command": command}
    group: Obj = {
        "name": "worker",
        "replicas": 2,
        "template": {"spec": {"containers": [container]}},
    }
    if spares:
        group["spares"] = spares
    return {
        "apiVersion": "sagemaker.amazonaws.com/v1",
        "kind": "HyperPodPyTorchJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nprocPerNode": "1", "runPolicy": run_policy, "replicaSpecs": [group]},
    }


def status(cp: RunningControlPlane, name: str) -> Obj:
    return json.loads(cp.kubectl("get", "hpjob", name, "-o", "json").stdout).get("status") or {}


def wait_finished(cp: RunningControlPlane, name: str, timeout: float = 240) -> Obj:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = status(cp, name)
        conds = st.get("conditions") or []
        if conds and conds[-1]["type"] in ("Completed", "Failed") and conds[-1]["status"] == "True":
            return st
        time.sleep(0.5)
    raise AssertionError(f"{name} did not finish: {json.dumps(status(cp, name))}")


def events(cp: RunningControlPlane, name: str) -> list[Obj]:
    out = cp.kubectl(
        "get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json"
    ).stdout
    return list(json.loads(out)["items"])


def wait_log(cp: RunningControlPlane, pod: str, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in cp.kubectl("logs", pod, check=False).stdout:
        assert time.monotonic() < deadline, f"{pod} never logged {text!r}"
        time.sleep(0.5)


def rank_process(job: str, rank: str) -> psutil.Process | None:
    for proc in psutil.process_iter(["cmdline"]):
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        if (
            env.get("JOB_NAME") == job
            and env.get("NODE_RANK") == rank
            and "digits" in " ".join(proc.info["cmdline"] or [])
        ):
            return proc
    return None


def test_a_spare_takes_over_a_killed_rank_and_training_resumes_from_its_checkpoint(
    cp: RunningControlPlane, tmp_path: Path
) -> None:
    command = [
        sys.executable, "-m", "hyperpod.examples.digits", "--epochs", "12",
        "--max-steps-per-second", "20", "--checkpoint-every", "5",
        "--checkpoint-dir", str(tmp_path),
    ]  # fmt: skip
    cp.kubectl("apply", "-f", "-", input=json.dumps(hpjob("spared", command, spares=1,
                                                          jobMaxRetryCount=8)))  # fmt: skip
    wait_log(cp, "spared-worker-spare-0", "spare ready")
    wait_log(cp, "spared-worker-0", "epoch 2/")
    victim = rank_process("spared", "1")
    assert victim is not None
    victim.send_signal(signal.SIGKILL)
    st = wait_finished(cp, "spared")
    assert st["conditions"][-1]["type"] == "Completed", st
    assert st["restartStatus"]["fullJobRestartCount"] == 0
    took = [e["message"] for e in events(cp, "spared") if e["reason"] == "SpareTookOver"]
    assert took == ["Spare spared-worker-spare-0 took over rank 1 from spared-worker-1"]
    spare_log = cp.kubectl("logs", "spared-worker-spare-0").stdout
    assert "spare taking over node rank 1" in spare_log
    assert "resumed from checkpoint" in cp.kubectl("logs", "spared-worker-0").stdout
    pods = json.loads(cp.kubectl("get", "pods", "-l", "HPJob=spared", "-o", "json").stdout)
    by_name = {p["metadata"]["name"]: p for p in pods["items"]}
    assert "spared-worker-1" not in by_name  # the faulty pod was replaced, not restarted
    assert (
        by_name["spared-worker-spare-0"]["metadata"]["labels"]["sagemaker.amazonaws.com/node-rank"]
        == "1"
    )
    assert by_name["spared-worker-spare-0"]["status"]["phase"] == "Succeeded"


def test_a_job_whose_logged_throughput_stays_under_its_threshold_is_restarted_as_slow(
    cp: RunningControlPlane,
) -> None:
    rule = {
        "name": "throughput",
        "logPattern": r"steps/s=([0-9.]+)",
        "metricThreshold": 10,
        "operator": "lt",
        "metricEvaluationDataPoints": 3,
    }
    script = "import time\nwhile True:\n    print('steps/s=2.5', flush=True)\n    time.sleep(0.3)\n"
    cp.kubectl("apply", "-f", "-", input=json.dumps(
        hpjob("slow", [sys.executable, "-c", script], jobMaxRetryCount=1,
              logMonitoringConfiguration=[rule])))  # fmt: skip
    st = wait_finished(cp, "slow")
    assert st["conditions"][-1]["type"] == "Failed", st
    assert st["restartStatus"]["fullJobRestartCount"] == 1
    reasons = [e["reason"] for e in events(cp, "slow")]
    assert "JobSlow" in reasons and "FullJobRestart" in reasons
