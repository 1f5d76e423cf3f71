"""The real HyperPod CLI (PyPI ``sagemaker-hyperpod``) drives the local cluster unchanged.

It runs from its own virtualenv ``.venv-hyperpod-cli`` (created by ``scripts/test.sh``; it
installs a console script also named ``hyp``). A 2-replica job it creates trains the digits
example to completion with ranks 0 and 1, and its progress (an annotation: the SDK's status
models forbid unknown fields) shows in our ``hyp list`` while the real list and describe still
parse the job; list, describe, list-pods, get-logs, exec, get-operator-logs and delete work
against the HyperPodPyTorchJob operator; its template flow (init, configure, validate, create)
submits a job, and our hyp reads the directory it wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hyperpod.cli.main import cli
from support import RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
REAL_HYP = ROOT / ".venv-hyperpod-cli" / "bin" / "hyp"
REAL_PY = ROOT / ".venv-hyperpod-cli" / "bin" / "python"


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    if not REAL_HYP.exists():
        pytest.skip(
            "the real HyperPod CLI is not installed: run scripts/test.sh, or "
            "python3 -m venv .venv-hyperpod-cli && .venv-hyperpod-cli/bin/pip install "
            "sagemaker-hyperpod"
        )
    control = start_control_plane(tmp_path_factory.mktemp("hpcli"))
    yield control
    control.stop()


def real(cp: RunningControlPlane, *args: str, tool: Path = REAL_HYP) -> str:
    """Run the real CLI (or its python); its stdout. It tries to send telemetry: that fails."""
    env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig), "HOME": str(cp.data_dir)}
    res = subprocess.run([str(tool), *args], env=env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, f"{tool.name} {args} failed:\n{res.stdout}\n{res.stderr[-3000:]}"
    return res.stdout


def wait_state(cp: RunningControlPlane, name: str, want: str, timeout: float = 150) -> dict:
    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        job = json.loads(cp.kubectl("get", "hpjob", name, "-o", "json").stdout)
        conds = (job.get("status") or {}).get("conditions") or []
        if conds and conds[-1]["type"] == want:
            return job
        if conds and conds[-1]["type"] in ("Completed", "Failed"):
            break
        time.sleep(0.5)
    raise AssertionError(f"{name} never reached {want}: {json.dumps(job.get('status'))}")


def test_a_two_replica_job_created_by_the_real_cli_trains_with_both_ranks(
    cp: RunningControlPlane,
) -> None:
    command = f"[{sys.executable}, -m, hyperpod.examples.digits]"
    out = real(
        cp,
        "create",
        "hyp-pytorch-job",
        "--job-name",
        "digits",
        "--image",
        "local/python",
        "--command",
        command,
        "--args",
        "[--epochs, 1]",
        "--node-count",
        "2",
    )
    assert "Using version" in out
    job = wait_state(cp, "digits", "Completed")
    assert job["status"]["masterAddr"] == "digits-pod-0"
    header, row = cp.kubectl("get", "hpjob", "digits").stdout.splitlines()
    assert header.split() == ["NAME", "STATE", "RESTARTS", "MASTER", "AGE"]
    assert row.split()[:4] == ["digits", "Completed", "0", "digits-pod-0"]
    pods = json.loads(cp.kubectl("get", "pods", "-l", "HPJob=digits", "-o", "json").stdout)
    ranks = sorted(
        {e["name"]: e["value"] for e in p["spec"]["containers"][0]["env"]}["RANK"]
        for p in pods["items"]
    )
    assert ranks == ["0", "1"]
    assert "world_size=2" in cp.kubectl("logs", "digits-pod-0").stdout  # rank 0 reports
    deadline = time.monotonic() + 15  # rank 0's last report is surfaced within a second or two
    while "100%" not in (row := _our_row(cp, "digits"))["progress"]:
        assert time.monotonic() < deadline, row
        time.sleep(0.5)
    annotations = json.loads(cp.kubectl("get", "hpjob", "digits", "-o", "json").stdout)
    assert "hyperpod.local/progress" in annotations["metadata"]["annotations"]

    assert "digits" in real(cp, "list", "hyp-pytorch-job")
    assert "Completed" in real(cp, "list", "hyp-pytorch-job")
    described = real(cp, "describe", "hyp-pytorch-job", "--job-name", "digits")
    assert "Name:           digits" in described and "Completed" in described
    listed = real(cp, "list-pods", "hyp-pytorch-job", "--job-name", "digits")
    assert "digits-pod-0" in listed and "digits-pod-1" in listed
    logs = real(
        cp, "get-logs", "hyp-pytorch-job", "--job-name", "digits", "--pod-name", "digits-pod-0"
    )
    assert "final test accuracy" in logs
    operator = real(cp, "get-operator-logs", "hyp-pytorch-job", "--since-hours", "1")
    assert "job default/digits: Completed=True" in operator


def test_exec_and_delete_of_the_real_cli_reach_a_running_job(cp: RunningControlPlane) -> None:
    real(
        cp,
        "create",
        "hyp-pytorch-job",
        "--job-name",
        "sleeper",
        "--image",
        "local/python",
        "--command",
        "[sleep, 300]",
    )
    wait_state(cp, "sleeper", "Running")
    out = real(
        cp,
        "exec",
        "hyp-pytorch-job",
        "--job-name",
        "sleeper",
        "-p",
        "sleeper-pod-0",
        "--",
        "echo",
        "inside",
    )
    assert "inside" in out
    real(cp, "delete", "hyp-pytorch-job", "--job-name", "sleeper")
    assert "sleeper" not in cp.kubectl("get", "hpjob", "-o", "name").stdout


def test_the_real_sdk_lists_a_job_applied_with_kubectl(cp: RunningControlPlane) -> None:
    manifest = ROOT / "examples" / "hyperpodpytorchjob-digits.yaml"
    cp.kubectl("apply", "-f", str(manifest))
    script = (
        "from sagemaker.hyperpod.training import HyperPodPytorchJob\n"
        "for job in HyperPodPytorchJob.list(namespace='default'):\n"
        "    print(job.metadata.name, job.replicaSpecs[0].name)\n"
    )
    out = real(cp, "-c", script, tool=REAL_PY)
    assert "hyperpod-digits worker" in out
    cp.kubectl("delete", "-f", str(manifest), "--wait=false")


def _our_row(cp: RunningControlPlane, name: str) -> dict:
    rows = json.loads(ours(cp, "list", "hyp-pytorch-job", "-o", "json"))
    return next(r for r in rows if r["name"] == name)


def ours(cp: RunningControlPlane, *args: str) -> str:
    res = CliRunner().invoke(cli, ["--kubeconfig", str(cp.kubeconfig), *args])
    assert res.exit_code == 0, res.output
    return res.output


def test_our_hyp_and_the_real_cli_see_each_others_jobs(cp: RunningControlPlane) -> None:
    out = ours(
        cp,
        "create",
        "hyp-pytorch-job",
        "--job-name",
        "ourjob",
        "--image",
        "local/python",
        "--command",
        "[sleep, 1]",
        "--node-count",
        "2",
        "--wait",
    )
    assert "Created HyperPodPyTorchJob 'ourjob'" in out
    listed = real(cp, "list", "hyp-pytorch-job")
    assert "ourjob" in listed and "Completed" in listed
    assert "ourjob-pod-1" in real(cp, "list-pods", "hyp-pytorch-job", "--job-name", "ourjob")
    real(
        cp,
        "create",
        "hyp-pytorch-job",
        "--job-name",
        "theirjob",
        "--image",
        "local/python",
        "--command",
        "[sleep, 1]",
    )
    rows = json.loads(ours(cp, "list", "hyp-pytorch-job", "-o", "json"))
    assert {"ourjob", "theirjob"} <= {r["name"] for r in rows}
    assert "Kind" in ours(cp, "describe", "hyp-pytorch-job", "--job-name", "theirjob")
    pods = json.loads(
        ours(cp, "list-pods", "hyp-pytorch-job", "--job-name", "theirjob", "-o", "json")
    )
    assert [p["name"] for p in pods] == ["theirjob-pod-0"]
    ours(cp, "delete", "hyp-pytorch-job", "--job-name", "theirjob")
    assert "theirjob" not in cp.kubectl("get", "hpjob", "-o", "name").stdout


def test_the_real_clis_template_flow_creates_a_job_our_hyp_can_read(
    cp: RunningControlPlane, tmp_path: Path
) -> None:
    env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig), "HOME": str(cp.data_dir)}

    def run(*args: str, tool: Path = REAL_HYP) -> str:
        res = subprocess.run(
            [str(tool), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
        )
        assert res.returncode == 0, f"{args}:\n{res.stdout}\n{res.stderr[-3000:]}"
        return res.stdout

    run("init", "hyp-pytorch-job", ".")
    assert (tmp_path / "k8s.jinja").exists()
    run("configure", "--job-name", "realtpl", "--image", "local/python",
        "--command", "[python3, --version]")  # fmt: skip
    run("validate")
    run("create")
    (k8s,) = list((tmp_path / "run").glob("*/k8s.yaml"))
    assert "realtpl" in k8s.read_text()
    wait_state(cp, "realtpl", "Completed")
    # Our hyp reads the directory the real CLI initialised.
    res = CliRunner().invoke(cli, ["validate", "-c", str(tmp_path / "config.yaml")])
    assert res.exit_code == 0, res.output
