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
        "same scheduler, zero latency",
        "cpu usage cohort-0",
        "time to admission small (server clock)",
        "time to admission medium",
        "time to admission large",
    ):
        assert figure in out
    assert "nan" not in out  # every class got admitted


def test_the_scheduler_in_virtual_time_meets_the_arrival_bound_and_never_livelocks() -> None:
    # Zero latency: every preemption and admission at its exact instant. Before preemptors
    # kept the quota they counted on, this run never finished (victims refilled the cohort).
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "kueue_floor.py"), "--small"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    wall = next(line for line in res.stdout.splitlines() if line.startswith("wall time"))
    simulated = float(wall.split()[2])
    bound = float(wall.split("/")[-1].split()[0])  # "... bounds 36.0 / 37.8 s"
    assert bound <= simulated <= bound + 0.5, wall
