"""The README's Quick start main-job command, run verbatim from the repository root."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]


def quickstart_commands() -> list[str]:
    """The commands of the first code block under '## Quick start', comments stripped."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "the Quick start has no bash block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_quick_start_has_exactly_two_commands() -> None:
    assert len(quickstart_commands()) == 2


def test_the_quick_start_main_job_runs_to_completion_and_shows_its_result(tmp_path: Path) -> None:
    main_job = quickstart_commands()[0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "HYPERPOD_HOME": str(tmp_path / "home"),
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "HYP_API_PORT": str(port),
        "PYTHON": sys.executable,
        "NO_COLOR": "1",
    }
    hyp = str(ROOT / ".venv" / "bin" / "hyp")
    try:
        res = subprocess.run(
            main_job, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=840
        )
        assert res.returncode == 0, f"{res.stdout}\n{res.stderr}"
        assert "succeeded" in res.stdout
        assert "Created HyperPodPyTorchJob 'digits'" in res.stdout  # the default kind
        assert "Completed  (pods: Succeeded 2)" in res.stderr + res.stdout  # both ranks ended
        assert re.search(r"final test accuracy: 0\.\d+", res.stdout), res.stdout
    finally:
        subprocess.run(
            [hyp, "delete", "cluster-stack", "local", "--purge", "--timeout", "30"],
            env=env,
            capture_output=True,
            timeout=120,
        )
        pidfile = tmp_path / "home" / "local" / "controlplane.pid"
        if pidfile.exists():
            try:
                os.killpg(int(pidfile.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
