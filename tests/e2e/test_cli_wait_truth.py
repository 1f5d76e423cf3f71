"""``hyp create ... --wait`` tells the truth about a job that cannot make progress."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hyperpod.cli.main import cli
from support import RunningControlPlane, control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def create(cp: RunningControlPlane, name: str, *flags: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["--kubeconfig", str(cp.kubeconfig), "create", "hyp-pytorch-job", "--job-name", name,
         "--image", "local/python", "--command", "[python, -c, 'import no_such_module_here']",
         "--wait", "--timeout", "180", *flags],
    )  # fmt: skip


def test_a_failing_rank_ends_the_wait_with_the_reason_and_last_log_lines(tmp_path: Path) -> None:
    with control_plane(tmp_path / "cp") as cp:
        # A HyperPodPyTorchJob (the default kind, jobMaxRetryCount 0) fails at the first fault.
        hpjob = create(cp, "broken")
        # A Kubeflow PyTorchJob restarts the container in place: a crash loop, seen as one.
        kubeflow = create(cp, "looping", "--kind", "pytorchjob")
    assert hpjob.exit_code == 2, hpjob.output
    assert "job 'broken' failed" in hpjob.output
    assert "last log lines of broken-pod-0" in hpjob.output
    assert "No module named 'no_such_module_here'" in hpjob.output
    assert kubeflow.exit_code != 0, kubeflow.output
    assert "CrashLoopBackOff (restarts" in kubeflow.output
    assert "cannot make progress: pod looping-master-0" in kubeflow.output
    assert "No module named 'no_such_module_here'" in kubeflow.output
    assert "still on the cluster" in kubeflow.output
