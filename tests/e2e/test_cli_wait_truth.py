"""``hyp create ... --wait`` tells the truth about a job that cannot make progress."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hyperpod.cli.main import cli
from support import control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_a_crash_looping_pod_ends_the_wait_with_its_reason_and_last_log_lines(
    tmp_path: Path,
) -> None:
    with control_plane(tmp_path / "cp") as cp:
        res = CliRunner().invoke(
            cli,
            [
                "--kubeconfig",
                str(cp.kubeconfig),
                "create",
                "hyp-pytorch-job",
                "--job-name",
                "broken",
                "--image",
                "local/python",
                "--command",
                "[python, -c, 'import no_such_module_here']",
                "--wait",
                "--timeout",
                "180",
            ],
        )
    assert res.exit_code != 0, res.output
    assert "CrashLoopBackOff (restarts" in res.output
    assert "cannot make progress: pod broken-master-0" in res.output
    assert "No module named 'no_such_module_here'" in res.output
    assert "still on the cluster" in res.output
