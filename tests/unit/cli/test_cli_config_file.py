"""In-place edits of config.yaml that keep the user's comments."""

from __future__ import annotations

from hyperpod.cli.config_file import set_scalar

TEXT = """# header
cluster_name: local   # the name
api_port: 7443
addons:
  # switch
  kueue: true  # queueing
  health_agent: true
other: 1
"""


def test_a_top_level_scalar_is_replaced_and_its_comment_kept() -> None:
    out = set_scalar(TEXT, ["cluster_name"], "dev")
    assert out is not None
    assert "cluster_name: dev   # the name\n" in out
    assert out.replace("cluster_name: dev   # the name", "cluster_name: local   # the name") == TEXT


def test_a_nested_scalar_is_found_under_its_parent() -> None:
    out = set_scalar(TEXT, ["addons", "kueue"], False)
    assert out is not None
    assert "  kueue: false  # queueing\n" in out
    assert "# switch" in out


def test_a_field_absent_from_its_parent_cannot_be_edited_in_place() -> None:
    assert set_scalar(TEXT, ["addons", "other"], 2) is None
    assert set_scalar(TEXT, ["data_dir"], "/x") is None


def test_flat_lists_and_maps_are_written_in_flow_style_in_place() -> None:
    out = set_scalar(TEXT, ["cluster_name"], ["a", "b"])
    assert out is not None and "cluster_name: [a, b]   # the name\n" in out
    out = set_scalar(TEXT, ["other"], {"team": "ml"})
    assert out is not None and "other: {team: ml}\n" in out


def test_nested_lists_are_not_edited_in_place() -> None:
    assert set_scalar(TEXT, ["api_port"], [{"name": "a"}, {"name": "b"}]) is None
