"""Repeated ``--command`` / ``--args`` flags add up instead of keeping only the last one."""

from __future__ import annotations

import yaml
from click.testing import CliRunner

from hyperpod.cli.main import cli


def dry_run(*flags: str) -> dict:
    res = CliRunner().invoke(
        cli,
        ["create", "hyp-pytorch-job", "--job-name", "j", "--image", "i", "--dry-run", *flags],
    )
    assert res.exit_code == 0, res.output
    return yaml.safe_load(res.output)


def test_repeated_args_are_joined_in_order() -> None:
    job = dry_run(
        "--kind",
        "pytorchjob",
        "--command",
        "[python, train.py]",
        "--args",
        "[--epochs, 3]",
        "--args",
        "--lr 0.1",
    )
    container = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "train.py"]
    assert container["args"] == ["--epochs", "3", "--lr", "0.1"]


def test_the_default_hyperpod_kind_gets_the_same_command_in_the_real_clis_shape() -> None:
    job = dry_run("--command", "[python]", "--command", "[-m, x]")
    assert job["kind"] == "HyperPodPyTorchJob"
    group = job["spec"]["replicaSpecs"][0]
    assert group["name"] == "pod"
    container = group["template"]["spec"]["containers"][0]
    assert (container["name"], container["command"]) == (
        "pytorch-job-container",
        ["python", "-m", "x"],
    )
