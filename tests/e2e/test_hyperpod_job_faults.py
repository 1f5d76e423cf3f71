"""HyperPodPyTorchJob fault handling with real processes on a real control plane.

A rank killed mid-training restarts in place and training resumes from the last checkpoint;
repeated failures escalate to a full-job restart and then to Failed; a job whose log stops
matching its pattern is declared hanging and restarted.
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
    control = start_control_plane(tmp_path_factory.mktemp("hpfaults"))
    yield control
    control.stop()


def hpjob(name: str, command: list[str], replicas: int = 1, **run_policy: Any) -> Obj:
    container = {"name": "pytorch", "image": "local/python", "command": command}
    return {
        "apiVersion": "sagemaker.amazonaws.com/v1",
        "kind": "HyperPodPyTorchJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nprocPerNode": "1",
            "runPolicy": run_policy,
            "replicaSpecs": [
                {
                    "name": "worker",
                    "replicas": replicas,
                    "template": {"spec": {"containers": [container]}},
                }
            ],
        },
    }


def apply(cp: RunningControlPlane, obj: Obj) -> None:
    cp.kubectl("apply", "-f", "-", input=json.dumps(obj))


def status(cp: RunningControlPlane, name: str) -> Obj:
    return json.loads(cp.kubectl("get", "hpjob", name, "-o", "json").stdout).get("status") or {}


def wait_finished(cp: RunningControlPlane, name: str, timeout: float = 200) -> Obj:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = status(cp, name)
        conds = st.get("conditions") or []
        if conds and conds[-1]["type"] in ("Completed", "Failed") and conds[-1]["status"] == "True":
            return st
        time.sleep(0.5)
    raise AssertionError(f"{name} did not finish: {json.dumps(status(cp, name))}")


def reasons(cp: RunningControlPlane, name: str) -> list[str]:
    out = cp.kubectl(
        "get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json"
    ).stdout
    return [e["reason"] for e in json.loads(out)["items"]]


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


def test_a_killed_rank_restarts_in_place_and_training_resumes_from_its_checkpoint(
    cp: RunningControlPlane, tmp_path: Path
) -> None:
    command = [
        sys.executable, "-m", "hyperpod.examples.digits", "--epochs", "12",
        "--max-steps-per-second", "20", "--checkpoint-every", "5",
        "--checkpoint-dir", str(tmp_path),
    ]  # fmt: skip
    apply(cp, hpjob("resume", command, replicas=2, jobMaxRetryCount=8))
    deadline = time.monotonic() + 120
    while "epoch 2/" not in cp.kubectl("logs", "resume-worker-0", check=False).stdout:
        assert time.monotonic() < deadline, "training never reached epoch 2"
        time.sleep(0.5)
    victim = rank_process("resume", "1")
    assert victim is not None
    victim.send_signal(signal.SIGKILL)
    st = wait_finished(cp, "resume")
    assert st["conditions"][-1]["type"] == "Completed", st
    assert st["restartCount"] >= 1
    assert st["restartStatus"]["fullJobRestartCount"] == 0
    assert "ProcessLevelRestart" in reasons(cp, "resume")
    assert "resumed from checkpoint" in cp.kubectl("logs", "resume-worker-0").stdout
    pod = json.loads(cp.kubectl("get", "pod", "resume-worker-1", "-o", "json").stdout)
    assert pod["status"]["containerStatuses"][0]["restartCount"] >= 1  # same pod, in place


def test_repeated_failures_escalate_to_a_full_job_restart_and_then_fail(
    cp: RunningControlPlane,
) -> None:
    policy = {
        "evalPeriodSeconds": 600,
        "numRestartBeforeFullJobRestart": 2,
        "maxFullJobRestarts": 1,
    }
    command = [sys.executable, "-c", "import sys; sys.exit(3)"]
    apply(cp, hpjob("crashy", command, jobMaxRetryCount=10, restartPolicy=policy))
    st = wait_finished(cp, "crashy")
    assert st["conditions"][-1]["reason"] == "MaxFullJobRestartsExceeded", st
    assert st["restartStatus"]["fullJobRestartCount"] == 1
    seen = reasons(cp, "crashy")
    assert "FullJobRestart" in seen and "ProcessLevelRestart" in seen


def test_a_job_whose_log_stops_matching_is_declared_hanging_and_restarted(
    cp: RunningControlPlane,
) -> None:
    rule = {"name": "progress", "logPattern": r"loss \d", "expectedRecurringFrequencyInSeconds": 3}
    command = [sys.executable, "-c", "import time; print('loss 1', flush=True); time.sleep(600)"]
    apply(cp, hpjob("hangs", command, jobMaxRetryCount=1, logMonitoringConfiguration=[rule]))
    st = wait_finished(cp, "hangs")
    assert st["conditions"][-1]["type"] == "Failed", st
    assert "no line matched" in st["conditions"][-1]["message"]
    assert st["restartStatus"]["fullJobRestartCount"] == 1
    seen = reasons(cp, "hangs")
    assert "JobHanging" in seen and "FullJobRestart" in seen
