"""A config.yaml written for the real HyperPod CLI's cluster-stack template (v1.0 field names)
is converted by `hyp init cluster-stack --provider aws`, with a note for what does not carry."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hyperpod.api import aws_real_cli
from hyperpod.api.aws_config import AwsClusterConfig
from hyperpod.cli.main import cli

REAL = Path(__file__).parents[4] / "examples" / "aws" / "real-cli-config.yaml"


def _real(**over: Any) -> dict[str, Any]:
    return yaml.safe_load(REAL.read_text()) | over


def test_the_real_templates_defaults_become_an_equivalent_aws_config() -> None:
    converted, notes = aws_real_cli.convert(_real())
    cfg = AwsClusterConfig.model_validate(converted)
    assert cfg.resource_name_prefix == "hyp-eks-stack"
    assert cfg.eks.create and cfg.eks.kubernetes_version == "1.31"
    assert cfg.eks_cluster_name == "eks-cluster" and cfg.cluster_name == "hyperpod-cluster"
    g = cfg.instance_groups[0]
    assert (g.name, g.instance_type, g.instance_count, g.ebs_volume_gb) == (
        "gpu",
        "ml.g5.8xlarge",
        2,
        500,
    )
    assert cfg.helm.mpi_operator and cfg.helm.neuron_device_plugin and cfg.helm.job_auto_restart
    assert cfg.fsx.create and cfg.fsx.storage_capacity_gib == 1200
    assert cfg.tags == {"team": "ml-platform"}
    assert cfg.availability_zone_ids == ["use2-az2", "use2-az3"]
    assert cfg.lifecycle.bucket_name is None  # the real default name is not a usable bucket
    assert any("mlflow.enabled" in n for n in notes)
    assert any(n.startswith("helm_repo_url: ignored") for n in notes)


def test_reused_network_ids_map_onto_the_networking_section() -> None:
    converted, notes = aws_real_cli.convert(
        _real(
            create_vpc_stack=False,
            vpc_id="vpc-0a1b2c3d4e5f60718",
            security_group_ids=["sg-0a1b2c3d4e5f60718", "sg-0a1b2c3d4e5f60719"],
            private_subnet_ids=["subnet-0a1b2c3d4e5f60718"],
        )
    )
    net = AwsClusterConfig.model_validate(converted).networking
    assert not net.create_vpc and net.vpc_id == "vpc-0a1b2c3d4e5f60718"
    assert not net.create_security_group and net.security_group_id == "sg-0a1b2c3d4e5f60718"
    assert not net.create_private_subnet and net.private_subnet_id == "subnet-0a1b2c3d4e5f60718"
    assert any("kept sg-0a1b2c3d4e5f60718" in n for n in notes)


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"create_hyperpod_cluster_stack": False}, "create_hyperpod_cluster_stack"),
        ({"rig_settings": [{"x": 1}]}, "rig_settings"),
        ({"create_sagemaker_iam_role_stack": False}, "sagemaker_iam_role_name"),
    ],
)
def test_settings_hyp_cannot_honour_are_refused_by_name(over: dict[str, Any], field: str) -> None:
    with pytest.raises(aws_real_cli.NotConvertible, match=field):
        aws_real_cli.convert(_real(**over))


def test_hyp_init_converts_the_file_keeps_the_original_and_says_so(tmp_path: Path) -> None:
    shutil.copy(REAL, tmp_path / "config.yaml")
    res = CliRunner().invoke(cli, ["init", "cluster-stack", str(tmp_path), "--provider", "aws"])
    assert res.exit_code == 0, res.output
    assert "written for the real HyperPod CLI" in res.output and "note: " in res.output
    assert (tmp_path / "config.real-cli.yaml").read_text() == REAL.read_text()
    text = (tmp_path / "config.yaml").read_text()
    assert text.startswith("# template: cluster-stack")
    data = yaml.safe_load(text)
    assert data["provider"] == "aws" and data["instance_groups"][0]["name"] == "gpu"
    check = CliRunner().invoke(cli, ["validate", "-c", str(tmp_path / "config.yaml"), "--offline"])
    assert "error:" not in check.output, check.output


def test_hyp_init_names_the_field_it_cannot_convert_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_real(fsx_file_system_id="fs-1")))
    res = CliRunner().invoke(cli, ["init", "cluster-stack", str(tmp_path), "--provider", "aws"])
    assert res.exit_code == 1
    assert "fsx_file_system_id" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "config.real-cli.yaml").exists()
