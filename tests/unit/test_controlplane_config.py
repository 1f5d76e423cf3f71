"""The typed control-plane config: one model, errors that name the key, docs generated from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyperpod.api.cluster_config import LocalClusterConfig
from hyperpod.api.controlplane_config import (
    ControlPlaneConfig,
    ControlPlaneConfigError,
    key_paths,
    reference_yaml,
)
from hyperpod.providers.local.provider import controlplane_config
from hyperpod.runtime.context import ControlPlaneContext

ROOT = Path(__file__).resolve().parents[2]


def _docs_block() -> str:
    text = (ROOT / "docs" / "internals.md").read_text()
    start = text.index("## The control-plane process and its config")
    begin = text.index("```yaml\n", start) + len("```yaml\n")
    return text[begin : text.index("```\n", begin)]


def test_the_docs_reference_is_the_model_rendered() -> None:
    assert _docs_block() == reference_yaml(), (
        "docs/internals.md's control-plane config block differs from ControlPlaneConfig; "
        "paste the output of hyperpod.api.controlplane_config.reference_yaml() there"
    )


def _paths(doc: object, prefix: str = "") -> list[str]:
    if isinstance(doc, dict) and doc and not prefix.endswith("capacity."):
        return [p for k, v in doc.items() for p in _paths(v, f"{prefix}{k}.")]
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        return _paths(doc[0], prefix.removesuffix(".") + "[].")
    return [prefix.removesuffix(".")]


def test_the_reference_loads_and_names_every_key() -> None:
    doc = yaml.safe_load(reference_yaml())
    assert ControlPlaneConfig.load(doc).kubelet.heartbeat_seconds == 10.0
    leaves = [p for p in _paths(doc) if not p.endswith(("capacity", "labels", "taints"))]
    assert sorted(leaves) == sorted(
        p for p in key_paths() if not p.endswith(("capacity", "labels", "taints"))
    )


@pytest.mark.parametrize(
    ("doc", "named"),
    [
        ({"kubelet": {"heartbeatSecs": 1}}, "kubelet.heartbeatSecs: unknown key"),
        ({"clustername": "x"}, "clustername: unknown key"),
        (
            {"nodes": {"simulated": [{"group": "a", "instanceTyp": "x"}]}},
            "simulated[0].instanceTyp",
        ),
        ({"kubelet": {"runtime": "docker"}}, "kubelet.runtime"),
        ({"health": {"pollSecs": 1}}, "health.pollSecs: unknown key"),
        ({"nodeLifecycle": {"gracePeriodSeconds": "soon"}}, "nodeLifecycle.gracePeriodSeconds"),
    ],
)
def test_a_bad_key_or_value_is_an_error_naming_it(doc: dict[str, object], named: str) -> None:
    with pytest.raises(
        ControlPlaneConfigError, match=named.replace("[", r"\[").replace("]", r"\]")
    ):
        ControlPlaneConfig.load(doc, "cp.yaml")


def test_documents_written_by_the_local_provider_still_load() -> None:
    user = LocalClusterConfig.model_validate(
        {
            "instance_groups": [
                {"name": "local", "kind": "local"},
                {"name": "p5", "kind": "simulated", "instance_type": "ml.p5.48xlarge", "count": 2},
            ],
            "addons": {"kueue": False},
            "runtime": "auto",
            "health": {"poll_seconds": 2},
        }
    )
    doc = yaml.safe_load(yaml.safe_dump(controlplane_config(user)))
    cfg = ControlPlaneConfig.load(doc)
    assert cfg.kubelet.runtime == "auto" and cfg.health.poll_seconds == 2
    assert not cfg.addon_enabled("kueue") and cfg.addon_enabled("trainingOperator")
    assert cfg.nodes.simulated[0].count == 2 and cfg.nodes.simulated[0].taints


def test_components_get_the_typed_model_and_the_local_node_switch() -> None:
    ctx = ControlPlaneContext(
        reg=None,  # type: ignore[arg-type]
        config={"nodes": {"local": None}, "kubelet": {"podIPRange": "127.200.0.0/16"}},
        data_dir=ROOT,
    )
    assert isinstance(ctx.config, ControlPlaneConfig)
    assert ctx.config.local_node() is None
    assert ctx.config.kubelet.pod_ip_range == "127.200.0.0/16"
    assert ControlPlaneConfig.load({"nodes": {"local": {"enabled": False}}}).local_node() is None


def test_the_control_plane_refuses_an_unknown_key_naming_it(tmp_path: Path) -> None:
    cfg = tmp_path / "cp.yaml"
    cfg.write_text("kubelet:\n  heartbeatSecs: 1\n")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "hyperpod.controlplane",
            "serve",
            "--data-dir",
            str(tmp_path / "d"),
            "--port",
            "0",
            "--config",
            str(cfg),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert "kubelet.heartbeatSecs: unknown key" in res.stderr
    assert "Traceback" not in res.stderr
