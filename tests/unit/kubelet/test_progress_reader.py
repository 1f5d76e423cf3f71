"""Reading a container's progress: the file, or PROGRESS lines in its CRI log; rank 0; the ETA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hyperpod.kubelet import progress_reader as pr


def pod(uid: str, name: str, rtype: str = "master", index: int = 0) -> dict[str, Any]:
    return {
        "metadata": {
            "uid": uid,
            "name": name,
            "labels": {
                "training.kubeflow.org/replica-type": rtype,
                "training.kubeflow.org/replica-index": str(index),
            },
        },
        "spec": {"containers": [{"name": "pytorch"}]},
    }


def test_the_eta_comes_from_the_rate_since_the_first_report() -> None:
    out = pr.summarize(
        {
            "step": 30,
            "totalSteps": 100,
            "time": 1030.0,
            "firstStep": 0,
            "firstTime": 1000.0,
            "metrics": {"loss": 0.5},
        }
    )
    assert out["percent"] == 30.0
    assert out["etaSeconds"] == 70  # 1 step/s, 70 steps left
    assert out["metrics"] == {"loss": "0.5"}
    assert out["updateTime"] == "1970-01-01T00:17:10.000000Z"


def test_no_eta_before_a_second_report_and_zero_when_done() -> None:
    base = {"totalSteps": 10, "time": 5.0, "firstTime": 5.0}
    assert "etaSeconds" not in pr.summarize({**base, "step": 1, "firstStep": 1})
    assert pr.summarize({**base, "step": 10, "firstStep": 10})["etaSeconds"] == 0


def test_the_file_is_preferred(tmp_path: Path) -> None:
    cdir = tmp_path / "pods" / "u1" / "pytorch"
    cdir.mkdir(parents=True)
    (cdir / "progress.json").write_text(
        json.dumps({"step": 4, "totalSteps": 8, "time": 20.0, "firstStep": 0, "firstTime": 0.0})
    )
    out = pr.job_progress(tmp_path, [pod("u1", "j-master-0")])
    assert out is not None and out["step"] == 4 and out["etaSeconds"] == 20


def test_stdout_lines_in_the_log_are_read_with_their_timestamps(tmp_path: Path) -> None:
    cdir = tmp_path / "pods" / "u1" / "pytorch"
    cdir.mkdir(parents=True)
    (cdir / "0.json").write_text(json.dumps({"pid": 1, "pgid": 1, "startedAt": 0}))
    (cdir / "0.log").write_text(
        "2026-01-01T00:00:00.000000000Z stdout F starting\n"
        "2026-01-01T00:00:10.000000000Z stdout F PROGRESS 10/100 loss=2.0\n"
        "2026-01-01T00:00:11.000000000Z stderr F PROGRESS 99/100\n"
        "2026-01-01T00:00:20.000000000Z stdout F PROGRESS 20/100 loss=1.0\n"
    )
    out = pr.job_progress(tmp_path, [pod("u1", "j-master-0")])
    assert out is not None
    assert (out["step"], out["totalSteps"], out["etaSeconds"]) == (20, 100, 80)
    assert out["metrics"] == {"loss": "1.0"}


def test_rank_zero_is_the_master_else_the_first_worker() -> None:
    pods = [
        pod("w1", "j-worker-1", "worker", 1),
        pod("m", "j-master-0"),
        pod("w0", "j-worker-0", "worker", 0),
    ]
    assert pr.rank0(pods)["metadata"]["name"] == "j-master-0"  # type: ignore[index]
    assert pr.rank0(pods[::2])["metadata"]["name"] == "j-worker-0"  # type: ignore[index]
    assert pr.rank0([]) is None


def test_a_container_that_reported_nothing_has_no_progress(tmp_path: Path) -> None:
    assert pr.job_progress(tmp_path, [pod("nothing", "j-master-0")]) is None
