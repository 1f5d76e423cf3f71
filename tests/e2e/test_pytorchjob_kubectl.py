"""kubectl against a real control plane: PyTorchJob STATE column, admission errors, scale, delete."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import RunningControlPlane, control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.kubectl, pytest.mark.timeout(240)]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def _needs_kubectl(kubectl_required: None) -> None:
    return None


def manifest(name: str, workers: int = 1) -> dict[str, Any]:
    def template() -> dict[str, Any]:
        command = [sys.executable, "-c", "import time; time.sleep(60)"]
        return {"spec": {"containers": [{"name": "pytorch", "image": "local", "command": command}]}}

    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": name},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": template()},
                "Worker": {"replicas": workers, "template": template()},
            }
        },
    }


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def names(cluster: RunningControlPlane, kind: str, job: str) -> list[str]:
    out = cluster.kubectl(
        "get", kind, "-l", f"training.kubeflow.org/job-name={job}", "-o", "json"
    ).stdout
    return sorted(item["metadata"]["name"] for item in json.loads(out)["items"])


def test_every_example_manifest_is_accepted_by_the_server(cluster: RunningControlPlane) -> None:
    for path in sorted(EXAMPLES.glob("pytorchjob-*.yaml")):
        res = cluster.kubectl("apply", "--dry-run=server", "-f", str(path))
        assert "(server dry run)" in res.stdout


def test_kubectl_get_pytorchjobs_shows_the_state_column(cluster: RunningControlPlane) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest("shown")))
    wait_for(
        lambda: (
            "Created" in cluster.kubectl("get", "pytorchjobs").stdout
            or "Running" in cluster.kubectl("get", "pytorchjobs").stdout
        ),
        "a STATE",
    )
    header, *rows = cluster.kubectl("get", "pytorchjobs").stdout.splitlines()
    assert header.split() == ["NAME", "STATE", "AGE"]
    assert any(row.split()[0] == "shown" for row in rows)
    assert names(cluster, "pods", "shown") == ["shown-master-0", "shown-worker-0"]
    assert names(cluster, "services", "shown") == ["shown-master-0", "shown-worker-0"]
    cluster.kubectl("delete", "pytorchjob", "shown", "--wait=true")
    wait_for(lambda: names(cluster, "pods", "shown") == [], "the pods (and their processes) to go")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda m: m["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][
                0
            ].update(name="main"),
            "spec.pytorchReplicaSpecs.Worker.template.spec.containers",
        ),
        (
            lambda m: m["spec"]["pytorchReplicaSpecs"]["Master"].update(replicas=2),
            "spec.pytorchReplicaSpecs.Master.replicas: Invalid value: 2: must be 1",
        ),
        (
            lambda m: m["spec"]["pytorchReplicaSpecs"]["Worker"].update(replicas=0),
            "spec.pytorchReplicaSpecs.Worker.replicas",
        ),
        (lambda m: m["metadata"].update(name="9lives"), "metadata.name"),
        (
            lambda m: m["spec"]["pytorchReplicaSpecs"]["Worker"].update(restartPolicy="Sometimes"),
            "spec.pytorchReplicaSpecs.Worker.restartPolicy",
        ),
        (
            lambda m: m["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"].update(
                volumes=[{"name": "Bad Volume", "emptyDir": {}}]
            ),
            "spec.pytorchReplicaSpecs.Master.template.spec.volumes[0].name",
        ),
    ],
    ids=[
        "no-pytorch-container",
        "two-masters",
        "zero-workers",
        "bad-name",
        "bad-restart-policy",
        "template-not-a-pod",
    ],
)
def test_bad_jobs_are_rejected_naming_the_field(
    cluster: RunningControlPlane, change: Callable[[dict[str, Any]], None], field: str
) -> None:
    body = manifest("rejected")
    change(body)
    res = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(body), check=False)
    assert res.returncode != 0
    assert "is invalid" in res.stderr and field in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_kubectl_scale_changes_the_worker_count(cluster: RunningControlPlane) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest("scaled")))
    wait_for(lambda: len(names(cluster, "pods", "scaled")) == 2, "two pods")
    cluster.kubectl("scale", "pytorchjob", "scaled", "--replicas=2")
    wait_for(lambda: "scaled-worker-1" in names(cluster, "pods", "scaled"), "a second worker")
    cluster.kubectl("delete", "pytorchjob", "scaled", "--wait=true")
    wait_for(
        lambda: (
            names(cluster, "pods", "scaled") == [] and names(cluster, "services", "scaled") == []
        ),
        "the pods and services to be collected",
    )


def test_the_example_manifest_trains_to_succeeded_as_a_user_would_run_it(tmp_path: Path) -> None:
    """kubectl apply of examples/pytorchjob-digits.yaml, unchanged but for its hostPath."""
    text = (EXAMPLES / "pytorchjob-digits.yaml").read_text()
    text = text.replace("/tmp/hyperpod-examples/digits", str(tmp_path / "checkpoints"))
    # Pods inherit the control plane's environment: `python` must be this virtualenv's.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    with control_plane(tmp_path / "cp", env={"PATH": path}) as cp:
        cp.kubectl("apply", "-f", "-", input=text)

        def state() -> str:
            rows = cp.kubectl("get", "pytorchjobs", "--no-headers").stdout.split()
            return rows[1] if len(rows) > 1 else ""

        wait_for(lambda: state() in ("Succeeded", "Failed"), "the job to finish", timeout=150)
        assert state() == "Succeeded", cp.kubectl("describe", "pytorchjob", "digits").stdout
        logs = cp.kubectl("logs", "digits-master-0").stdout
        accuracy = re.search(r"final test accuracy: (\d\.\d+)", logs)
        assert accuracy is not None and float(accuracy.group(1)) >= 0.9, logs
        described = cp.kubectl("describe", "pytorchjob", "digits").stdout
        for reason in ("PyTorchJobSucceeded", "SuccessfulCreatePod", "SuccessfulCreateService"):
            assert reason in described
        job = json.loads(cp.kubectl("get", "pytorchjob", "digits", "-o", "json").stdout)
        assert job["status"]["replicaStatuses"]["Master"]["succeeded"] == 1
        assert "world_size=3 backend=gloo" in logs
        assert any((tmp_path / "checkpoints").glob("ckpt-*.pt"))
        cp.kubectl("delete", "pytorchjob", "digits", "--wait=true")
