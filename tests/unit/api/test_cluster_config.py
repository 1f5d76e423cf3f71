"""The cluster-stack config schema: template text, field-path errors, provider dispatch."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hyperpod.api import cluster_config as cc


def _fields(exc: cc.ConfigError) -> list[str]:
    return [p.field for p in exc.problems]


def test_the_local_template_parses_back_to_the_defaults() -> None:
    text = cc.render()
    parsed = cc.validate_data(yaml.safe_load(text))
    assert isinstance(parsed, cc.LocalClusterConfig)
    assert parsed == cc.LocalClusterConfig()
    assert text.startswith("# template: cluster-stack\n# version: 1.0\n")


def test_every_field_of_the_template_is_commented() -> None:
    lines = cc.render().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        is_field = stripped.endswith(":") or ": " in stripped
        if is_field and not stripped.startswith(("#", "-")) and not line.startswith(" " * 4):
            assert lines[i - 1].strip().startswith("#"), f"no comment above {line!r}"


def test_every_problem_is_reported_with_its_field_path() -> None:
    data = {
        "provider": "local",
        "api_port": "not-a-port",
        "colour": "red",
        "instance_groups": [
            {"name": "local", "kind": "local"},
            {"name": "p5", "instance_type": "ml.nope.1xlarge"},
            {"name": "l2", "kind": "local", "count": 2},
        ],
    }
    with pytest.raises(cc.ConfigError) as info:
        cc.validate_data(data)
    fields = _fields(info.value)
    assert "api_port" in fields
    assert "colour" in fields
    assert "instance_groups[1].instance_type" in fields
    assert "instance_groups[2].count" in fields


def test_a_missing_provider_names_the_choices() -> None:
    with pytest.raises(cc.ConfigError) as info:
        cc.validate_data({"cluster_name": "x"})
    assert info.value.problems[0].field == "provider"
    assert "local, aws" in info.value.problems[0].message


def test_the_local_group_must_be_present_exactly_once() -> None:
    with pytest.raises(cc.ConfigError) as info:
        cc.validate_data(
            {
                "provider": "local",
                "instance_groups": [{"name": "p5", "instance_type": "ml.p5.48xlarge", "count": 4}],
            }
        )
    assert _fields(info.value) == ["instance_groups"]


def test_an_aws_config_is_validated_by_the_aws_schema() -> None:
    with pytest.raises(cc.ConfigError) as info:
        cc.validate_data(
            {"provider": "aws", "availability_zone_ids": ["us-west-2a"], "instance_groups": []}
        )
    fields = _fields(info.value)
    assert "availability_zone_ids" in fields
    assert "instance_groups" in fields


def test_the_aws_template_is_a_valid_aws_config() -> None:
    parsed = cc.validate_data(yaml.safe_load(cc.render(provider="aws")))
    assert parsed.provider == "aws"  # type: ignore[attr-defined]


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("provider: local\napi_port: [\n")
    with pytest.raises(cc.ConfigError) as info:
        cc.load(path)
    assert "line" in info.value.problems[0].message


def test_a_missing_file_hints_at_init(tmp_path: Path) -> None:
    with pytest.raises(cc.ConfigError) as info:
        cc.load(tmp_path / "config.yaml")
    assert "hyp init cluster-stack" in info.value.hint


def test_the_default_data_dir_is_named_after_the_cluster(tmp_path: Path) -> None:
    assert (
        cc.LocalClusterConfig(cluster_name="dev").resolved_data_dir(tmp_path)
        == (tmp_path / "dev").resolve()
    )
    custom = cc.LocalClusterConfig(data_dir=str(tmp_path / "elsewhere"))
    assert custom.resolved_data_dir(tmp_path / "home") == (tmp_path / "elsewhere").resolve()
