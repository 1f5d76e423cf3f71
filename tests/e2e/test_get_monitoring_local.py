"""``hyp get-monitoring --list`` on the local cluster lists the families its ``/metrics`` serves,
read over HTTPS with the kubeconfig's token (a wrong token is a clear error)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hyperpod.cli.main import cli
from hyperpod.client import metric_families
from support import RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("getmon"))
    yield plane
    plane.stop()


def test_list_shows_the_metric_families_with_their_type(cp: RunningControlPlane) -> None:
    res = CliRunner().invoke(
        cli, ["--kubeconfig", str(cp.kubeconfig), "get-monitoring", "--list"], terminal_width=200
    )
    assert res.exit_code == 0, res.output
    lines = {ln.split()[0]: ln.split()[1] for ln in res.output.splitlines()[1:] if ln.split()}
    assert lines.get("apiserver_request_total") == "counter"
    assert lines.get("apiserver_request_duration_seconds") == "histogram"
    assert lines.get("kueue_pending_workloads") == "gauge"
    assert lines.get("kube_pod_status_phase") == "gauge"


def test_a_refused_token_is_a_clear_error(cp: RunningControlPlane, tmp_path: Path) -> None:
    cfg = yaml.safe_load(cp.kubeconfig.read_text())
    for user in cfg["users"]:
        user["user"] = {"token": "not-a-token"}
    bad = tmp_path / "kubeconfig"
    bad.write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(cli, ["--kubeconfig", str(bad), "get-monitoring", "--list"])
    assert res.exit_code == 1
    assert "HTTP 401" in res.output and "credentials were refused" in res.output


def test_parse_keeps_first_seen_order_and_marks_untyped_families() -> None:
    text = "# HELP b_total B things\n# TYPE b_total counter\nb_total 1\n# TYPE a gauge\na 2\n"
    text += "# HELP c only help\n"
    assert metric_families.parse(text) == [
        metric_families.Family("b_total", "counter", "B things"),
        metric_families.Family("c", "untyped", "only help"),
        metric_families.Family("a", "gauge", ""),
    ]
