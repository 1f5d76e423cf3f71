"""Two teams share GPUs through Kueue on a real control plane, driven by kubectl and `hyp`.

Team b borrows team a's idle quota; team a's job reclaims it by preemption (b's job is
suspended and its templates restored); when a's job goes away b's job resumes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hyperpod.cli.main import cli
from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")]

CONFIG = {
    "nodes": {"simulated": [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 2}]},
}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("kueue"), CONFIG)
    yield plane
    plane.stop()


def hyp(cp: RunningControlPlane, *args: str) -> str:
    res = CliRunner().invoke(
        cli, ["--kubeconfig", str(cp.kubeconfig), *args], catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    return res.output


def job(name: str, team: str, gpus_per_pod: int, priority: str | None = None) -> dict[str, Any]:
    labels = {"kueue.x-k8s.io/queue-name": f"hyperpod-ns-{team}-localqueue"}
    if priority:
        labels["kueue.x-k8s.io/priority-class"] = f"{priority}-priority"

    def template() -> dict[str, Any]:
        return {
            "spec": {
                "containers": [
                    {
                        "name": "pytorch",
                        "image": "local/python",
                        "command": ["python", "-c", "import time; time.sleep(600)"],
                        "resources": {
                            "requests": {"nvidia.com/gpu": str(gpus_per_pod), "cpu": "1"},
                            "limits": {"nvidia.com/gpu": str(gpus_per_pod)},
                        },
                    }
                ]
            }
        }

    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": name, "namespace": f"hyperpod-ns-{team}", "labels": labels},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": template()},
                "Worker": {"replicas": 1, "template": template()},
            }
        },
    }


def get_json(cp: RunningControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def suspended(cp: RunningControlPlane, name: str, team: str, kind: str = "pytorchjob") -> bool:
    j = get_json(cp, kind, name, "-n", f"hyperpod-ns-{team}")
    return bool(j["spec"].get("runPolicy", {}).get("suspend"))


def workload_of(cp: RunningControlPlane, name: str, team: str) -> dict[str, Any] | None:
    items = get_json(cp, "workloads", "-n", f"hyperpod-ns-{team}")["items"]
    for wl in items:
        if any(r["name"] == name for r in wl["metadata"].get("ownerReferences") or []):
            return wl  # type: ignore[no-any-return]
    return None


def conditions(wl: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in ((wl or {}).get("status") or {}).get("conditions") or []}


def test_two_teams_borrow_reclaim_and_resume(cp: RunningControlPlane, tmp_path: Path) -> None:
    out = hyp(
        cp,
        "create",
        "cluster-policy",
        "--priority-class",
        "inference=90",
        "--priority-class",
        "training=70",
        "--fair-share",
        "disabled",
    )
    assert "workloadpriorityclass/training-priority created" in out
    for team in ("a", "b"):
        hyp(
            cp,
            "create",
            "compute-quota",
            "--team",
            team,
            "--instance-type",
            "ml.p5.48xlarge",
            "--count",
            "1",
            "--borrow-limit",
            "100",
        )
    listing = hyp(cp, "list", "compute-quota")
    assert "a" in listing and "b" in listing
    assert "hyperpod-ns-a-clusterqueue" in cp.kubectl("get", "clusterqueues").stdout

    # team b takes all 16 GPUs: 8 of its own and 8 borrowed from idle team a
    manifest = tmp_path / "b.yaml"
    manifest.write_text(yaml.safe_dump(job("b-big", "b", 8)))
    cp.kubectl("apply", "-f", str(manifest))
    wait_for(lambda: not suspended(cp, "b-big", "b"), "b-big admitted and unsuspended")
    started = get_json(cp, "pytorchjob", "b-big", "-n", "hyperpod-ns-b")
    master = started["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    assert master["nodeSelector"] == {"node.kubernetes.io/instance-type": "ml.p5.48xlarge"}
    cq_b = wait_for(
        lambda: (
            (s := get_json(cp, "clusterqueue", "hyperpod-ns-b-clusterqueue").get("status", {})).get(
                "admittedWorkloads"
            )
            == 1
            and s
        ),
        "b's queue status",
    )
    gpu = next(
        r for f in cq_b["flavorsUsage"] for r in f["resources"] if r["name"] == "nvidia.com/gpu"
    )
    assert (gpu["total"], gpu["borrowed"]) == ("16", "8")

    # team a wants its quota back: b's job is preempted and suspended
    manifest_a = tmp_path / "a.yaml"
    manifest_a.write_text(yaml.safe_dump(job("a-train", "a", 4, priority="training")))
    cp.kubectl("apply", "-f", str(manifest_a))
    wait_for(lambda: not suspended(cp, "a-train", "a"), "a-train admitted")
    wait_for(lambda: suspended(cp, "b-big", "b"), "b-big suspended")
    wl_b = conditions(workload_of(cp, "b-big", "b"))
    assert wl_b["Preempted"]["reason"] == "InCohortReclamation"
    assert wl_b["Evicted"]["reason"] == "Preempted"
    restored = get_json(cp, "pytorchjob", "b-big", "-n", "hyperpod-ns-b")
    assert (
        "nodeSelector" not in restored["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    )
    wl_a = workload_of(cp, "a-train", "a")
    assert wl_a is not None and wl_a["spec"]["priority"] == 70
    # `kubectl get workloads` shows queue and where it is admitted
    table = cp.kubectl("get", "workloads", "-n", "hyperpod-ns-a").stdout
    assert "hyperpod-ns-a-localqueue" in table and "hyperpod-ns-a-clusterqueue" in table

    # the queue view explains why b waits
    view = json.loads(hyp(cp, "list", "queue", "-o", "json"))
    b_row = next(r for r in view if r["team"] == "b")
    assert [p["job"] for p in b_row["pending"]] == ["PyTorchJob/b-big"]
    assert "insufficient unused quota for nvidia.com/gpu" in b_row["pending"][0]["reason"]

    # when a's job goes away, b's job resumes
    cp.kubectl("delete", "pytorchjob", "a-train", "-n", "hyperpod-ns-a")
    wait_for(lambda: not suspended(cp, "b-big", "b"), "b-big resumed")
    assert conditions(workload_of(cp, "b-big", "b"))["Admitted"]["status"] == "True"

    # a job submitted with `hyp` (a HyperPodPyTorchJob) is wired to the team's queue and priority
    hyp(
        cp,
        "create",
        "hyp-pytorch-job",
        "--job-name",
        "a-hyp",
        "--image",
        "local/python",
        "--command",
        "[python, -c, pass]",
        "--instance-type",
        "ml.p5.48xlarge",
        "--node-count",
        "1",
        "--accelerators",
        "8",
        "--queue-name",
        "hyperpod-ns-a-localqueue",
        "--priority",
        "training-priority",
        "-n",
        "hyperpod-ns-a",
    )
    wl_hyp = wait_for(lambda: workload_of(cp, "a-hyp", "a"), "workload of the hyp job")
    assert wl_hyp["spec"]["queueName"] == "hyperpod-ns-a-localqueue"
    assert wl_hyp["spec"]["priority"] == 70
    # a reclaims its quota from b again: the hyp job is admitted
    wait_for(lambda: not suspended(cp, "a-hyp", "a", "hpjob"), "a-hyp admitted")


def test_bad_governance_input_gets_a_clear_error(cp: RunningControlPlane) -> None:
    res = CliRunner().invoke(
        cli,
        [
            "--kubeconfig",
            str(cp.kubeconfig),
            "create",
            "compute-quota",
            "--team",
            "x",
            "--instance-type",
            "ml.p9.huge",
            "--count",
            "1",
        ],
    )
    assert res.exit_code != 0
    assert "--instance-type ml.p9.huge: unknown instance type" in res.output
    bad_cq = {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "ClusterQueue",
        "metadata": {"name": "bad"},
        "spec": {
            "resourceGroups": [
                {
                    "coveredResources": ["cpu"],
                    "flavors": [
                        {
                            "name": "f",
                            "resources": [
                                {"name": "cpu", "nominalQuota": "1", "borrowingLimit": "1"}
                            ],
                        }
                    ],
                }
            ]
        },
    }
    res2 = cp.kubectl("apply", "-f", "-", input=json.dumps(bad_cq), check=False)
    assert res2.returncode != 0
    assert "borrowingLimit must be nil when cohort is empty" in res2.stderr
    lq = {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "LocalQueue",
        "metadata": {"name": "orphan", "namespace": "default"},
        "spec": {"clusterQueue": "missing"},
    }
    cp.kubectl("apply", "-f", "-", input=json.dumps(lq))
    status = wait_for(
        lambda: get_json(cp, "localqueue", "orphan", "-n", "default").get("status"), "lq status"
    )
    active = {c["type"]: c for c in status["conditions"]}["Active"]
    assert (active["status"], active["reason"]) == ("False", "ClusterQueueDoesNotExist")
