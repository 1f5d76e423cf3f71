"""The health section and node_recovery of config.yaml reach the control plane typed and checked."""

from __future__ import annotations

import pytest

from hyperpod.api.cluster_config import ConfigError, render, validate_data
from hyperpod.api.health import health_config
from hyperpod.providers.local.provider import controlplane_config


def test_health_settings_and_node_recovery_flow_into_the_control_plane_config() -> None:
    cfg = validate_data(
        {
            "provider": "local",
            "node_recovery": "None",
            "health": {"poll_seconds": 2, "xid_replace": [79], "ecc_dbe_action": "reboot"},
        }
    )
    cp = controlplane_config(cfg)  # type: ignore[arg-type]
    assert cp["nodeRecovery"] == "None"
    parsed = health_config(cp["health"])
    assert (parsed.poll_seconds, parsed.xid_replace, parsed.ecc_dbe_action) == (2, [79], "reboot")


def test_bad_health_settings_name_the_field() -> None:
    with pytest.raises(ConfigError) as err:
        validate_data({"provider": "local", "health": {"ecc_dbe_action": "explode"}})
    assert err.value.problems[0].field == "health.ecc_dbe_action"
    with pytest.raises(ConfigError) as err:
        validate_data({"provider": "local", "node_recovery": "Sometimes"})
    assert err.value.problems[0].field == "node_recovery"


def test_the_template_documents_every_health_default() -> None:
    text = render()
    assert "node_recovery: Automatic" in text
    assert "poll_seconds: 5.0" in text and "kubelet_stale_seconds: 30.0" in text
    assert "XIDs that mean the node must be replaced" in text
