"""`hyp create hyp-pytorch-job` passes user arguments through exactly as typed."""

import yaml
from click.testing import CliRunner

from hyperpod.cli.main import cli


def test_command_and_args_are_not_coerced_by_yaml() -> None:
    res = CliRunner().invoke(
        cli,
        [
            "create",
            "hyp-pytorch-job",
            "--job-name",
            "j",
            "--image",
            "local/python",
            "--command",
            "[true]",
            "--args",
            "[yes, null, 010]",
            "--dry-run",
        ],
    )
    assert res.exit_code == 0, res.output
    job = yaml.safe_load(res.output)
    container = job["spec"]["replicaSpecs"][0]["template"]["spec"]["containers"][0]
    assert container["command"] == ["true"]
    assert container["args"] == ["yes", "null", "010"]
