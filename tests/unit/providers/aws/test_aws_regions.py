"""The offline region table: HyperPod and instance types per region, checked before anything
is rendered, and kept in step with the price-list data cfn-lint ships."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from hyperpod.api import instance_types
from hyperpod.api.aws_config import AwsClusterConfig
from hyperpod.providers.aws import checks, lint, regions
from hyperpod.providers.aws.errors import AwsError
from hyperpod.providers.aws.provider import AwsProvider


def _cfg(region: str, instance_type: str = "ml.p5.48xlarge", **over: Any) -> AwsClusterConfig:
    prefix = checks.az_prefix(region)
    return AwsClusterConfig.model_validate(
        {
            "region": region,
            "availability_zone_ids": [f"{prefix}-az1", f"{prefix}-az2"],
            "instance_groups": [
                {"name": "g", "instance_type": instance_type, "instance_count": 2, **over}
            ],
        }
    )


def _errors(cfg: AwsClusterConfig) -> dict[str, Any]:
    return {p.field: p for p in checks.offline(cfg) if p.severity == "error"}


def test_a_region_without_hyperpod_is_refused_offline_with_regions_that_have_it() -> None:
    p = _errors(_cfg("eu-west-3"))["region"]
    assert "not available in eu-west-3" in p.message and "us-east-1" in p.hint


def test_a_region_without_p5_names_the_regions_that_have_it() -> None:
    p = _errors(_cfg("eu-south-2"))["instance_groups[0].instance_type"]
    assert p.message == "ml.p5.48xlarge is not offered for HyperPod in eu-south-2"
    assert "us-west-2" in p.hint and "ml.p5en.48xlarge" in p.hint


def test_a_type_offered_in_the_region_passes() -> None:
    assert _errors(_cfg("us-east-2", "ml.trn2.48xlarge")) == {}


def test_a_type_in_no_price_list_only_warns_because_training_plans_reserve_it() -> None:
    problems = checks.offline(_cfg("us-west-2", "ml.p5e.48xlarge"))
    p = next(p for p in problems if p.field == "instance_groups[0].instance_type")
    assert p.severity == "warning" and "training plan" in p.hint


def test_govcloud_is_not_judged_by_the_table() -> None:
    assert "region" not in _errors(_cfg("us-gov-west-1"))


def test_dry_run_create_stops_at_validation_not_at_a_cfn_lint_dump(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hyperpod.cli.main import cli

    cfg = _cfg("eu-south-2").model_dump(mode="json")
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(cfg))
    res = CliRunner().invoke(cli, ["create", "--config", str(path), "--dry-run"])
    assert res.exit_code == 1
    assert "not offered for HyperPod in eu-south-2" in res.output
    assert "bug in hyp" not in res.output and "ml.c5" not in res.output


def test_a_cfn_lint_error_with_a_long_enumeration_is_cut_to_one_line(tmp_path: Path) -> None:
    # render directly (skipping validation): cfn-lint's own check for the region fires
    with pytest.raises(AwsError) as info:
        AwsProvider(out=lambda _line: None).render(_cfg("eu-south-2"), tmp_path, "eu-south-2")
    assert len(info.value.message) < 300 and "\n" not in info.value.message
    assert "not available in eu-south-2" in info.value.hint and "bug" not in info.value.hint
    assert "ml.c5" in (tmp_path / "lint.txt").read_text()  # every finding kept on disk


def test_the_table_matches_the_price_list_cfn_lint_ships() -> None:
    path = (
        resources.files("cfnlint")
        / "data/schemas/extensions/aws_sagemaker_cluster/instancetype_enum.json"
    )
    data = json.loads(path.read_text())
    known = set(instance_types.INSTANCE_TYPES)
    shipped = {
        r: frozenset(known & set(v["enum"]))
        for r, v in data.items()
        if isinstance(v, dict) and regions.known(r) and known & set(v["enum"])
    }
    assert shipped == regions.HYPERPOD_TYPES
    assert lint  # the same package lints the rendered template
