"""Kueue manages batch/v1 Jobs: a Job in a team queue waits for quota and runs when admitted.

One simulated p5 node (8 GPUs) and team a's quota of one such node: the first 8-GPU Job is
admitted and runs; the second waits suspended (no pods) until the first completes, then runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hyperpod.cli.main import cli
from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")]

CONFIG = {"nodes": {"simulated": [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 1}]}}
NS = "hyperpod-ns-a"


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("kueue-jobs"), CONFIG)
    yield plane
    plane.stop()


def hyp(cp: RunningControlPlane, *args: str) -> str:
    res = CliRunner().invoke(
        cli, ["--kubeconfig", str(cp.kubeconfig), *args], catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    return res.output


def gpu_job(name: str, duration: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"kueue.x-k8s.io/queue-name": f"{NS}-localqueue"},
        },
        "spec": {
            "template": {
                "metadata": {"annotations": {"hyperpod.local/simulate-duration": duration}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "work",
                            "image": "local/python",
                            "resources": {
                                "requests": {"nvidia.com/gpu": "8"},
                                "limits": {"nvidia.com/gpu": "8"},
                            },
                        }
                    ],
                },
            }
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


def job(cp: RunningControlPlane, name: str) -> dict[str, Any]:
    return get_json(cp, "job", name, "-n", NS)  # type: ignore[no-any-return]


def completed(cp: RunningControlPlane, name: str) -> bool:
    conds = (job(cp, name).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Complete" and c["status"] == "True" for c in conds)


def pods_of(cp: RunningControlPlane, name: str) -> list[dict[str, Any]]:
    return get_json(cp, "pods", "-n", NS, "-l", f"batch.kubernetes.io/job-name={name}")["items"]  # type: ignore[no-any-return]


def test_a_job_in_a_team_queue_waits_for_quota_and_runs_when_admitted(
    cp: RunningControlPlane,
) -> None:
    hyp(
        cp,
        "create",
        "compute-quota",
        "--team",
        "a",
        "--instance-type",
        "ml.p5.48xlarge",
        "--count",
        "1",
    )
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(gpu_job("first", "4s")))
    wait_for("first to be admitted", lambda: not job(cp, "first")["spec"]["suspend"])
    started = job(cp, "first")["spec"]["template"]["spec"]
    assert started["nodeSelector"] == {"node.kubernetes.io/instance-type": "ml.p5.48xlarge"}

    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(gpu_job("second", "1s")))
    wl = wait_for(
        "second's Workload",
        lambda: next(
            (
                w
                for w in get_json(cp, "workloads", "-n", NS)["items"]
                if w["metadata"]["ownerReferences"][0]["name"] == "second"
            ),
            None,
        ),
    )
    assert wl["spec"]["podSets"][0]["count"] == 1
    # While first holds the quota, second stays suspended and has no pods. Read second's
    # state before first's: if first is still running afterwards, it was running before too.
    while True:
        pods, suspended = pods_of(cp, "second"), job(cp, "second")["spec"]["suspend"]
        if completed(cp, "first"):
            break
        assert suspended is True and pods == []
        time.sleep(0.3)
    wait_for("second to be admitted", lambda: not job(cp, "second")["spec"]["suspend"], 60)
    wait_for("second to complete", lambda: completed(cp, "second"), 60)
    (pod,) = pods_of(cp, "second")
    assert pod["spec"]["nodeName"] == "p5-0"
    finished = [
        w
        for w in get_json(cp, "workloads", "-n", NS)["items"]
        if any(c["type"] == "Finished" and c["status"] == "True" for c in w["status"]["conditions"])
    ]
    assert len(finished) == 2
