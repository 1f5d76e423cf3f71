"""The one table of pinned versions agrees with the code, the rendered add-ons, versions.json,
the template's EKS add-ons and docs/aws-pins.md. It does not (cannot, offline) check that the
versions exist upstream; the table and the doc say so on every row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from hyperpod.api import kueue as kueue_api
from hyperpod.api.aws_config import AwsClusterConfig, Eks
from hyperpod.providers.aws import addon_manifests as am
from hyperpod.providers.aws import addons, pins, template

ROOT = Path(__file__).parents[4]
REGION = "us-west-2"


def _largest() -> AwsClusterConfig:
    data = yaml.safe_load((ROOT / "examples" / "aws" / "multi-group.yaml").read_text())
    data["helm"] = {
        **(data.get("helm") or {}),
        "kueue": True,
        "mpi_operator": True,
        "neuron_device_plugin": True,
        "observability": True,
    }
    data["fsx"] = {"create": True}
    return AwsClusterConfig.model_validate(data)


def _images_in(obj: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(obj, dict):
        if isinstance(obj.get("image"), str) and "containers" not in obj:
            out.add(obj["image"])
        for v in obj.values():
            out |= _images_in(v)
    elif isinstance(obj, list):
        for v in obj:
            out |= _images_in(v)
    return out


def _table_images() -> set[str]:
    return {p.value.format(region=REGION) for p in pins.table() if p.kind == "image"}


def test_every_image_the_add_ons_run_is_in_the_table_and_nothing_else() -> None:
    rendered, _ = addons.render(_largest(), REGION)
    assert _images_in(rendered) == _table_images()


def test_versions_json_records_exactly_the_tables_images_and_charts(tmp_path: Path) -> None:
    addons.write(tmp_path, _largest(), REGION)
    recorded = json.loads((tmp_path / "addons" / "versions.json").read_text())
    assert set(recorded["images"].values()) == _table_images()
    charts = {(p.name, p.value) for p in pins.table() if p.kind == "chart"}
    assert {(k, v["version"]) for k, v in recorded["charts"].items()} == charts


def test_every_image_is_pinned_by_a_tag() -> None:
    for p in pins.table():
        if p.kind != "image":
            continue
        name, _, tag = p.value.rpartition(":")
        assert name and "/" in name and tag and tag != "latest", p


def test_the_kueue_image_chart_and_crd_versions_agree() -> None:
    image_tag = am.IMAGES["kueue"].rpartition(":")[2]
    assert image_tag == am.VERSIONS["kueue"]
    assert am.CHARTS["kueue"]["version"] == image_tag.lstrip("v")
    served = {
        f"{c['spec']['group']}/{v['name']}"
        for c in am.kueue_crds()
        for v in c["spec"]["versions"]
        if v.get("storage")
    }
    assert kueue_api.API_VERSION in served  # the task-governance objects use a served version


def test_the_eks_add_ons_of_the_template_are_the_tables() -> None:
    cfg = _largest()
    tpl = template.render(cfg)
    in_template = {
        r["Properties"]["AddonName"]
        for r in tpl["Resources"].values()
        if r["Type"] == "AWS::EKS::Addon"
    }
    rows = {p.name: p for p in pins.table() if p.kind == "eks-addon"}
    assert in_template == set(rows)
    for r in tpl["Resources"].values():
        if r["Type"] == "AWS::EKS::Addon":
            assert "AddonVersion" not in r["Properties"]  # the table says "EKS default"
    k8s = next(p for p in pins.table() if p.kind == "kubernetes")
    assert k8s.value == Eks.model_validate({}).kubernetes_version


def test_no_row_claims_a_check_that_was_not_made() -> None:
    for p in pins.table():
        assert p.checked.startswith(("not checked", "not pinned")), p


def test_the_doc_table_is_the_tables() -> None:
    doc = (ROOT / "docs" / "aws-pins.md").read_text()
    assert doc.endswith(pins.markdown()), "regenerate docs/aws-pins.md (command in its header)"
