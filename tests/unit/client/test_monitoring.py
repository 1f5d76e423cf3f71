"""Client side of monitoring: the scrape target from a kubeconfig, the config, the columns."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
import yaml

from hyperpod.client import monitoring
from hyperpod.client.errors import ClusterUnreachable


def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://127.0.0.1:6443",
                            "certificate-authority-data": base64.b64encode(b"PEM").decode(),
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": "secret"}}],
                "contexts": [{"name": "local", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "local",
            }
        )
    )
    return path


def test_the_target_comes_from_the_current_context(tmp_path: Path) -> None:
    t = monitoring.target(str(kubeconfig(tmp_path)))
    assert (t.context, t.server, t.token, t.ca_pem) == (
        "local",
        "https://127.0.0.1:6443",
        "secret",
        b"PEM",
    )
    assert t.metrics_url == "https://127.0.0.1:6443/metrics" and t.local


def test_an_unknown_context_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterUnreachable, match="no context named 'nope'"):
        monitoring.target(str(kubeconfig(tmp_path)), "nope")


def test_the_scrape_config_keeps_the_secrets_in_private_files(tmp_path: Path) -> None:
    t = monitoring.target(str(kubeconfig(tmp_path)))
    path = monitoring.write_scrape_config(t, tmp_path / "prom", "5s")
    cfg = yaml.safe_load(path.read_text())
    job = cfg["scrape_configs"][0]
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:6443"]
    assert job["scheme"] == "https" and job["metrics_path"] == "/metrics"
    assert "secret" not in path.read_text()
    assert Path(job["authorization"]["credentials_file"]).read_text().strip() == "secret"
    assert Path(job["tls_config"]["ca_file"]).read_bytes() == b"PEM"
    for name in ("token", "ca.crt", "prometheus.yml"):
        assert stat.S_IMODE((tmp_path / "prom" / name).stat().st_mode) == 0o600
    assert cfg["global"]["scrape_interval"] == "5s"


def test_progress_and_eta_columns() -> None:
    job = {
        "status": {
            "progress": {"percent": 45.2, "step": 181, "totalSteps": 400, "etaSeconds": 3725}
        }
    }
    assert monitoring.progress_text(job) == "45% (181/400)"
    assert monitoring.eta_text(job) == "1h02m"
    job["status"]["progress"]["etaSeconds"] = 185
    assert monitoring.eta_text(job) == "3m05s"
    assert monitoring.progress_text({}) == "-" and monitoring.eta_text({}) == "-"
    job["status"]["completionTime"] = "2026-01-01T00:00:00Z"
    assert monitoring.eta_text(job) == "-"
