"""The provider: aws config schema and its commented template."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from hyperpod.api.aws_config import AwsClusterConfig, aws_template_yaml


def _minimal(**over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "provider": "aws",
        "availability_zone_ids": ["usw2-az2", "usw2-az1"],
        "instance_groups": [
            {"name": "worker", "instance_type": "ml.p5.48xlarge", "instance_count": 2}
        ],
    }
    cfg.update(over)
    return cfg


def _errors(cfg: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        AwsClusterConfig.model_validate(cfg)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in info.value.errors()}


def test_the_template_parses_into_the_model_with_its_defaults() -> None:
    cfg = AwsClusterConfig.model_validate(yaml.safe_load(aws_template_yaml()))
    assert cfg.provider == "aws"
    assert cfg.networking.private_subnet_cidr == "10.1.0.0/16"
    assert cfg.stack == "hyp-eks-stack"
    assert cfg.eks_cluster_name == "hyp-eks-eks"
    assert cfg.cluster_name == "hyp-eks-cluster"


def _field_names(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        names.add(name)
        ann = info.annotation
        inner = getattr(ann, "__args__", (ann,))
        for t in inner:
            if isinstance(t, type) and issubclass(t, BaseModel):
                names |= _field_names(t)
    return names


def test_every_field_of_the_schema_appears_commented_in_the_template() -> None:
    text = aws_template_yaml()
    keys = set(re.findall(r"^\s*(?:- )?(?:# .*\n\s*)?([a-z0-9_]+):", text, flags=re.M))
    assert _field_names(AwsClusterConfig) <= keys
    # every key line is preceded by a comment or carries one
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s*[a-z0-9_]+:", line) and "#" not in line:
            assert lines[i - 1].strip().startswith(("#", "- #")), line
    assert text.count("[Required]") >= 4


def test_a_minimal_config_gets_sensible_defaults() -> None:
    cfg = AwsClusterConfig.model_validate(_minimal())
    assert cfg.eks.authentication_mode == "API_AND_CONFIG_MAP"
    assert cfg.instance_groups[0].ebs_volume_gb == 500
    assert cfg.node_recovery == "Automatic"


def test_an_az_name_instead_of_an_az_id_names_the_fix() -> None:
    errs = _errors(_minimal(availability_zone_ids=["us-west-2a"]))
    assert "use the AZ ID" in errs["availability_zone_ids"]


def test_config_map_auth_mode_is_refused_with_the_alternative() -> None:
    errs = _errors(_minimal(eks={"authentication_mode": "CONFIG_MAP"}))
    assert "API_AND_CONFIG_MAP" in errs["eks.authentication_mode"]


def test_bad_cidrs_names_and_duplicates_are_refused_per_field() -> None:
    groups = [
        {"name": "a", "instance_type": "ml.p5.48xlarge", "instance_count": 1},
        {"name": "a", "instance_type": "ml.p5.48xlarge", "instance_count": 1},
    ]
    assert "used twice" in " ".join(_errors(_minimal(instance_groups=groups)).values())
    errs = _errors(_minimal(networking={"private_subnet_cidr": "10.1.0.1/16"}))
    assert "host bits" in errs["networking.private_subnet_cidr"]
    errs = _errors(_minimal(resource_name_prefix="Bad_Prefix"))
    assert "lowercase" in errs["resource_name_prefix"]
    errs = _errors(_minimal(unknown_field=1))
    assert "unknown_field" in errs


def test_reusing_a_vpc_requires_its_id() -> None:
    errs = _errors(_minimal(networking={"create_vpc": False}))
    assert "vpc_id is required" in " ".join(errs.values())


def test_instance_type_prefix_is_added_and_threads_per_core_checked() -> None:
    cfg = AwsClusterConfig.model_validate(
        _minimal(
            instance_groups=[{"name": "g", "instance_type": "p5.48xlarge", "instance_count": 1}]
        )
    )
    assert cfg.instance_groups[0].instance_type == "ml.p5.48xlarge"
    bad = [
        {"name": "g", "instance_type": "ml.p5.48xlarge", "instance_count": 1, "threads_per_core": 3}
    ]
    assert "instance_groups.0.threads_per_core" in _errors(_minimal(instance_groups=bad))
