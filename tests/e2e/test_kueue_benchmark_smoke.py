"""The Kueue baseline benchmark runs end to end at a tiny scale (a smoke run, not a timing test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_the_baseline_benchmark_admits_and_finishes_every_workload(tmp_path: Path) -> None:
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "kueue_baseline.py"),
            "--small",
            "--scale",
            "0.04",
            "--data-dir",
            str(tmp_path / "cp"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "1 cohort(s) x 6 ClusterQueues, 120 workloads" in out
    for figure in (
        "wall time",
        "cpu usage cohort-0",
        "time to admission small (server clock)",
        "time to admission medium",
        "time to admission large",
    ):
        assert figure in out
    assert "nan" not in out  # every class got admitted
