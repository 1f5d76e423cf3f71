"""The digits example trains to >= 0.9 under torchrun, checkpoints atomically and resumes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from hyperpod.api import pytorchjob as api
from hyperpod.examples import digits

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def run_torchrun(tmp_path: Path, *args: str, nproc: int = 3) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            str(nproc),
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            "127.0.0.1:0",
            "-m",
            "hyperpod.examples.digits",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_three_ranks_under_torchrun_reach_ninety_percent_and_leave_checkpoints(
    tmp_path: Path,
) -> None:
    out = run_torchrun(tmp_path, "--epochs", "10", "--checkpoint-dir", str(tmp_path / "ck"))
    assert "world_size=3 backend=gloo" in out
    match = re.search(r"final test accuracy: (\d\.\d+)", out)
    assert match is not None, out
    assert float(match.group(1)) >= 0.9
    assert out.strip().splitlines()[-1].startswith("final test accuracy:")
    saved = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert saved == ["ckpt-00000140.pt", "ckpt-00000150.pt"]  # 15 steps an epoch, newest two


def test_a_restart_resumes_from_the_newest_checkpoint(tmp_path: Path, capsys: Any) -> None:
    ck = tmp_path / "ck"
    digits.main(["--epochs", "2", "--checkpoint-dir", str(ck)])
    first = capsys.readouterr().out
    assert "starting from scratch" in first
    digits.main(["--epochs", "3", "--checkpoint-dir", str(ck)])
    second = capsys.readouterr().out
    assert "resumed from checkpoint ckpt-00000090.pt at step 90" in second
    assert "epoch 3/3 step 135" in second
    assert "epoch 1/3" not in second


def test_the_checkpoint_directory_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHECKPOINT_DIR", str(tmp_path / "from-env"))
    assert digits.parse_args([]).checkpoint_dir == str(tmp_path / "from-env")


def test_checkpoints_are_written_atomically_and_only_the_newest_two_are_kept(
    tmp_path: Path,
) -> None:
    for step in (10, 20, 30):
        digits.save_checkpoint(tmp_path, {"step": step, "model": {}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-00000020.pt", "ckpt-00000030.pt"]
    # A half-written temporary file (a crash mid-save) is never taken for a checkpoint.
    (tmp_path / ".ckpt-00000040.pt.123.tmp").write_bytes(b"partial")
    assert digits.newest_checkpoint(tmp_path) == tmp_path / "ckpt-00000030.pt"
    assert torch.load(tmp_path / "ckpt-00000030.pt", weights_only=True)["step"] == 30


@pytest.mark.parametrize(
    "bad", [["--epochs", "0"], ["--batch-size", "0"], ["--checkpoint-every", "0"]]
)
def test_bad_options_are_refused_with_a_message(bad: list[str], capsys: Any) -> None:
    with pytest.raises(SystemExit) as caught:
        digits.parse_args(bad)
    assert caught.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("pytorchjob-*.yaml")), ids=lambda p: p.name)
def test_every_example_manifest_passes_admission(path: Path) -> None:
    manifest = yaml.safe_load(path.read_text())
    manifest["metadata"].setdefault("namespace", "default")
    api.default(manifest)
    assert api.validate(manifest, None) == []


def test_the_examples_cover_the_four_variants() -> None:
    manifests = [yaml.safe_load(p.read_text()) for p in EXAMPLES.glob("pytorchjob-*.yaml")]
    assert any(
        "elasticPolicy" in m["spec"] and "Master" not in m["spec"]["pytorchReplicaSpecs"]
        for m in manifests
    )
    assert any("nvidia.com/gpu" in yaml.safe_dump(m) for m in manifests)
    assert any(
        api.ANNOTATION_AUTO_RESUME in (m["metadata"].get("annotations") or {}) for m in manifests
    )
    assert any(
        m["spec"]["pytorchReplicaSpecs"].get("Worker", {}).get("replicas") == 2
        and "Master" in m["spec"]["pytorchReplicaSpecs"]
        for m in manifests
    )
