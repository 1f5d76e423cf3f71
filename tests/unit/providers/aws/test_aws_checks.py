"""Offline validation: every finding names the field and the fix; capacities computed by hand."""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod.api.aws_config import AwsClusterConfig
from hyperpod.providers.aws import checks
from hyperpod.providers.base import Problem


def _cfg(**over: Any) -> AwsClusterConfig:
    base: dict[str, Any] = {
        "provider": "aws",
        "region": "us-west-2",
        "availability_zone_ids": ["usw2-az2", "usw2-az1"],
        "instance_groups": [{"name": "p5", "instance_type": "ml.p5.48xlarge", "instance_count": 2}],
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return AwsClusterConfig.model_validate(base)


def _errors(problems: list[Problem]) -> dict[str, Problem]:
    return {p.field: p for p in problems if p.severity == "error"}


def test_the_default_config_has_no_errors_offline() -> None:
    assert _errors(checks.offline(_cfg())) == {}


def test_a_subnet_too_small_names_the_largest_count_and_a_cidr_that_fits() -> None:
    # /24: 251 usable; 4 p5 need 324; at most 3 fit; a /23 (507) holds them
    cfg = _cfg(
        networking={"private_subnet_cidr": "10.1.0.0/24"},
        instance_groups=[{"name": "p5", "instance_type": "ml.p5.48xlarge", "instance_count": 4}],
    )
    p = _errors(checks.offline(cfg))["networking.private_subnet_cidr"]
    assert "251 usable IPs" in p.message and "need 324" in p.message
    assert "p5 (ml.p5.48xlarge) at most 3" in p.message
    assert "10.1.0.0/23" in p.hint


def test_mixed_groups_share_the_subnet_when_counting_capacity() -> None:
    # /22: 1019 usable; 10 p5 (810) + 8 g5 (120) = 930 fits; with 8 g5 kept, p5 at most (1019-120)//81 = 11
    cfg = _cfg(
        networking={"private_subnet_cidr": "10.1.0.0/22"},
        instance_groups=[
            {"name": "p5", "instance_type": "ml.p5.48xlarge", "instance_count": 10},
            {"name": "g5", "instance_type": "ml.g5.8xlarge", "instance_count": 8},
        ],
    )
    problems = checks.offline(cfg)
    assert "networking.private_subnet_cidr" not in _errors(problems)
    note = next(p for p in problems if p.field == "networking.private_subnet_cidr")
    assert note.severity == "warning"  # 930 of 1019 is past 80 %
    assert "p5 (ml.p5.48xlarge) at most 11" in note.message
    assert "g5 (ml.g5.8xlarge) at most 13" in note.message  # (1019 - 810) // 15


def test_overlapping_cidrs_are_refused_with_the_other_field_named() -> None:
    cfg = _cfg(networking={"eks_subnet_cidrs": ["10.192.10.0/28", "10.192.8.0/28"]})
    p = _errors(checks.offline(cfg))["networking.eks_subnet_cidrs[0]"]
    assert "overlaps networking.public_subnet_cidrs[0]" in p.message


def test_the_node_cidr_must_lie_outside_the_primary_vpc_cidr() -> None:
    cfg = _cfg(networking={"private_subnet_cidr": "10.192.128.0/17"})
    p = _errors(checks.offline(cfg))["networking.private_subnet_cidr"]
    assert "secondary VPC CIDR" in p.message


def test_subnets_outside_the_vpc_are_refused() -> None:
    cfg = _cfg(networking={"public_subnet_cidrs": ["10.50.0.0/24"]})
    assert (
        "not inside networking.vpc_cidr"
        in _errors(checks.offline(cfg))["networking.public_subnet_cidrs[0]"].message
    )


def test_an_unknown_instance_type_lists_the_known_ones() -> None:
    cfg = _cfg(instance_groups=[{"name": "x", "instance_type": "ml.zz9.huge", "instance_count": 1}])
    p = _errors(checks.offline(cfg))["instance_groups[0].instance_type"]
    assert "unknown instance type" in p.message and "ml.p5.48xlarge" in p.hint


@pytest.mark.parametrize(
    ("region", "prefix"),
    [
        ("us-west-2", "usw2"),
        ("ap-southeast-1", "apse1"),
        ("eu-central-1", "euc1"),
        ("us-gov-west-1", "usgw1"),
    ],
)
def test_az_id_prefixes_follow_the_region(region: str, prefix: str) -> None:
    assert checks.az_prefix(region) == prefix


def test_az_ids_of_another_region_are_refused() -> None:
    cfg = _cfg(availability_zone_ids=["use1-az1", "usw2-az1"])
    p = _errors(checks.offline(cfg))["availability_zone_ids[0]"]
    assert "not an AZ ID of us-west-2" in p.message and "describe-availability-zones" in p.hint


def test_eks_needs_two_azs() -> None:
    cfg = _cfg(availability_zone_ids=["usw2-az2"])
    assert "two different AZs" in _errors(checks.offline(cfg))["availability_zone_ids"].message


def test_a_bucket_outside_the_managed_policy_is_refused_with_the_rename() -> None:
    cfg = _cfg(lifecycle={"bucket_name": "my-scripts"})
    p = _errors(checks.offline(cfg))["lifecycle.bucket_name"]
    assert "sagemaker-*" in p.message and "sagemaker-my-scripts" in p.hint
    ok = _cfg(lifecycle={"bucket_name": "my-scripts"}, iam={"managed_policy_only": False})
    assert "lifecycle.bucket_name" not in _errors(checks.offline(ok))


def test_an_unsupported_kubernetes_version_lists_the_supported_ones() -> None:
    p = _errors(checks.offline(_cfg(eks={"kubernetes_version": "1.27"})))["eks.kubernetes_version"]
    assert "1.32" in p.hint


def test_a_missing_script_file_is_named() -> None:
    cfg = _cfg(lifecycle={"script_file": "/nonexistent/on_create.sh"})
    assert "no such file" in _errors(checks.offline(cfg))["lifecycle.script_file"].message


def test_deep_health_checks_on_a_cpu_type_warn() -> None:
    cfg = _cfg(
        instance_groups=[
            {
                "name": "cpu",
                "instance_type": "ml.m5.2xlarge",
                "instance_count": 1,
                "deep_health_checks": ["InstanceStress"],
            }
        ]
    )
    problems = checks.offline(cfg)
    assert any(
        p.field == "instance_groups[0].deep_health_checks" and p.severity == "warning"
        for p in problems
    )


@pytest.mark.parametrize("name", ["new-vpc", "reuse-vpc", "multi-group", "fsx"])
def test_the_example_configs_pass_the_offline_checks(name: str) -> None:
    from pathlib import Path

    import yaml

    path = Path(__file__).parents[4] / "examples" / "aws" / f"{name}.yaml"
    cfg = AwsClusterConfig.model_validate(yaml.safe_load(path.read_text()))
    assert _errors(checks.offline(cfg)) == {}


class _FakeQuotas:
    unread: dict[str, str] = {}

    def get(self, service: str, code: str) -> float | None:
        return None

    def sagemaker_cluster_usage(self, instance_type: str) -> tuple[str, float] | None:
        return ("L-TESTP5", 4.0) if instance_type == "ml.p5.48xlarge" else None


def test_a_count_over_the_cluster_usage_quota_names_the_quota_code_and_the_request() -> None:
    cfg = _cfg(
        instance_groups=[
            {"name": "a", "instance_type": "ml.p5.48xlarge", "instance_count": 3},
            {"name": "b", "instance_type": "ml.p5.48xlarge", "instance_count": 3},
            {"name": "c", "instance_type": "ml.g5.8xlarge", "instance_count": 50},
        ]
    )
    problems = checks._quotas(cfg, None, _FakeQuotas())  # type: ignore[arg-type]
    [p] = [p for p in problems if p.severity == "error"]
    assert p.field == "instance_groups[0].instance_count"
    assert (
        "6 x ml.p5.48xlarge exceeds the quota 'ml.p5.48xlarge for cluster usage' (L-TESTP5) of 4"
        in p.message
    )
    assert "--service-code sagemaker --quota-code L-TESTP5 --desired-value 6" in p.hint
