"""``hyp get-monitoring`` on an EKS context reads the observability add-on like the real CLI.

The real HyperPod CLI finds the EKS add-on ``amazon-sagemaker-hyperpod-observability`` with EKS
``ListAddons`` and reads its configuration values with ``DescribeAddon`` (AWS APIs, not the
Kubernetes API). moto 5.2 implements neither, so this module serves those two operations in
EKS's REST-JSON wire format from a small HTTP server on loopback (``AWS_ENDPOINT_URL`` points
botocore at it, as at moto elsewhere); it also checks each request is SigV4-signed for ``eks`` in
the expected region. Our ``hyp`` and, when installed, the real one are run against it and must
print the same URLs and metric sets.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from click.testing import CliRunner

from hyperpod.cli.main import cli
from hyperpod.providers.aws import kubeconfig

ROOT = Path(__file__).resolve().parents[2]
REAL_HYP = ROOT / ".venv-hyperpod-cli" / "bin" / "hyp"
REGION = "us-west-2"
EKS = "obs-eks"
ACCOUNT = "123456789012"
ADDON = "amazon-sagemaker-hyperpod-observability"
PROMETHEUS = f"https://aps-workspaces.{REGION}.amazonaws.com/workspaces/ws-0f1e2d3c-aaaa-bbbb-cccc-0123456789ab/"
GRAFANA_ARN = f"arn:aws:grafana:{REGION}:{ACCOUNT}:/workspaces/g-5d4c3b2a1f"
GRAFANA = (
    f"https://g-5d4c3b2a1f.grafana-workspace.{REGION}.amazonaws.com/d/"
    "aws-sm-hp-observability-cluster-v1_0"
)
VALUES = {
    "ampWorkspace": {
        "prometheusEndpoint": PROMETHEUS,
        "arn": f"arn:aws:aps:{REGION}:{ACCOUNT}:workspace/ws-0f1e2d3c-aaaa-bbbb-cccc-0123456789ab",
    },
    "amgWorkspace": {"arn": GRAFANA_ARN},
    "metricsProvider": {
        "clusterMetrics": {"level": "BASIC"},
        "nodeMetrics": {"level": "ADVANCED"},
        "taskGovernanceMetrics": {"enabled": True},
        "ncclMetrics": {"enabled": False},
    },
}


class FakeEks:
    """EKS ListAddons/DescribeAddon for one cluster; ``addons`` maps add-on name to its object."""

    def __init__(self) -> None:
        self.addons: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []  # (path, Authorization header)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                fake.requests.append((path, self.headers.get("Authorization", "")))
                m = re.fullmatch(r"/clusters/([^/]+)/addons(?:/([^/]+))?", path)
                if m is None:
                    return self._send(404, {"message": "unknown path"}, "UnknownOperation")
                if unquote(m.group(1)) != EKS:
                    return self._send(
                        404, {"message": f"No cluster found for name: {m.group(1)}."}, "NotFound"
                    )
                if m.group(2) is None:
                    return self._send(200, {"addons": sorted(fake.addons), "nextToken": None})
                addon = fake.addons.get(unquote(m.group(2)))
                if addon is None:
                    return self._send(404, {"message": "No addon"}, "NotFound")
                return self._send(200, {"addon": addon})

            def _send(self, code: int, body: dict[str, Any], error: str = "") -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                if error:
                    kind = "ResourceNotFoundException" if error == "NotFound" else error
                    self.send_header("x-amzn-ErrorType", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def install(self, values: dict[str, Any] | None = VALUES) -> None:
        self.addons[ADDON] = {
            "addonName": ADDON,
            "clusterName": EKS,
            "status": "ACTIVE",
            "addonVersion": "v1.0.0-eksbuild.1",
            "addonArn": f"arn:aws:eks:{REGION}:{ACCOUNT}:addon/{EKS}/{ADDON}/x",
            "createdAt": 1764979200,
            "configurationValues": json.dumps(values) if values is not None else None,
        }
        if values is None:
            del self.addons[ADDON]["configurationValues"]


@pytest.fixture(scope="module")
def eks_server() -> Iterator[FakeEks]:
    fake = FakeEks()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def eks(eks_server: FakeEks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEks:
    eks_server.addons.clear()
    eks_server.requests.clear()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_ENDPOINT_URL": eks_server.url,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "KUBECONFIG"):
        monkeypatch.delenv(k, raising=False)
    return eks_server


def _eks_kubeconfig(tmp_path: Path, eks_name: str = EKS) -> Path:
    """What `hyp set-cluster-context` merges for an EKS cluster (nothing here dials it)."""
    cfg = kubeconfig.build(
        eks_name=eks_name,
        arn=f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{eks_name}",
        endpoint=f"https://0123456789ABCDEF0123456789ABCDEF.gr7.{REGION}.eks.amazonaws.com",
        ca_data=base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode(),
        region=REGION,
    )
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    return path


def ours(tmp_path: Path, *args: str, eks_name: str = EKS) -> Any:
    config = _eks_kubeconfig(tmp_path, eks_name)
    return CliRunner().invoke(cli, ["--kubeconfig", str(config), "get-monitoring", *args])


def _signed_for_eks(eks: FakeEks) -> None:
    assert eks.requests, "no EKS request was made"
    for path, auth in eks.requests:
        assert f"/{REGION}/eks/aws4_request" in auth, (path, auth)


def test_flags_print_the_addons_prometheus_grafana_and_metric_sets(
    eks: FakeEks, tmp_path: Path
) -> None:
    eks.install()
    res = ours(tmp_path, "--prometheus", "--grafana", "--list")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == f"Prometheus workspace URL: {PROMETHEUS}"
    assert lines[1] == f"Grafana dashboard URL: {GRAFANA}"
    assert _metric_rows(res.output) == {
        "clusterMetrics": "BASIC",
        "nodeMetrics": "ADVANCED",
        "taskGovernanceMetrics": "True",
        "ncclMetrics": "False",
    }
    assert [p for p, _ in eks.requests] == [
        f"/clusters/{EKS}/addons",
        f"/clusters/{EKS}/addons/{ADDON}",
    ]
    _signed_for_eks(eks)


def test_without_flags_the_summary_shows_the_addon(eks: FakeEks, tmp_path: Path) -> None:
    eks.install()
    res = ours(tmp_path)
    assert res.exit_code == 0, res.output
    assert "EKS cluster:" in res.output and f"{EKS} ({REGION})" in res.output
    assert f"{ADDON} v1.0.0-eksbuild.1 ACTIVE" in res.output
    assert PROMETHEUS in res.output and GRAFANA in res.output
    assert "nodeMetrics=ADVANCED" in res.output
    assert "not looked up" not in res.output


def test_without_the_addon_flags_fail_and_say_how_to_install_it(
    eks: FakeEks, tmp_path: Path
) -> None:
    res = ours(tmp_path, "--prometheus")
    assert res.exit_code == 1
    assert f"observability add-on ({ADDON}) is not installed on EKS cluster {EKS}" in res.output
    assert f"aws eks create-addon --cluster-name {EKS} --addon-name {ADDON}" in res.output
    summary = ours(tmp_path)
    assert summary.exit_code == 0, summary.output
    assert "not installed; install the EKS add-on" in summary.output


def test_an_addon_without_configuration_says_what_is_unset(eks: FakeEks, tmp_path: Path) -> None:
    eks.install(values=None)
    res = ours(tmp_path, "--prometheus", "--grafana", "--list")
    assert res.exit_code == 0, res.output
    assert "Prometheus workspace URL: not set in the add-on's configuration" in res.output
    assert "Grafana dashboard URL: not set in the add-on's configuration" in res.output
    assert "The add-on lists no metric sets." in res.output


def test_an_unknown_eks_cluster_is_a_clear_error(eks: FakeEks, tmp_path: Path) -> None:
    res = ours(tmp_path, "--grafana", eks_name="gone-eks")
    assert res.exit_code == 1
    assert f"no EKS cluster 'gone-eks' in {REGION}" in res.output
    assert "Traceback" not in res.output


def test_no_credentials_is_a_clear_error_and_a_summary_row(
    eks: FakeEks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    res = ours(tmp_path, "--list")
    assert res.exit_code == 1 and "no AWS credentials found" in res.output
    summary = ours(tmp_path)
    assert summary.exit_code == 0, summary.output
    assert "Observability add-on:" in summary.output and "no AWS credentials" in summary.output
    assert not eks.requests


def test_list_on_a_context_that_is_not_eks_reads_its_metrics_url(tmp_path: Path) -> None:
    cfg = {
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.2:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(cli, ["--kubeconfig", str(path), "get-monitoring", "--list"])
    assert res.exit_code == 1
    assert "cannot reach https://127.0.0.2:1/metrics" in res.output
    assert "Traceback" not in res.output


def _metric_rows(output: str) -> dict[str, str]:
    """{metric set: level} from a table with a Metric and a Level/Enabled column (ours or the
    real CLI's tabulate output)."""
    rows: dict[str, str] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"\s*\|\s*|\s{2,}", line.strip()) if c.strip()]
        if len(cells) == 2 and cells[0].endswith("Metrics"):
            rows[cells[0]] = cells[1]
    return rows


def _under_tmp(path: Path) -> bool:
    return path.resolve().is_relative_to(Path("/tmp").resolve())


def _real_hyp(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """The real CLI reads its cluster context from the fixed file /tmp/hyperpod_current_context.json:
    run it in a private mount namespace whose /tmp is a directory of this test."""
    private = tmp_path / "real-tmp"
    private.mkdir(exist_ok=True)
    context = {
        "ClusterArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:cluster/abcdef012345",
        "ClusterName": "obs-hyperpod",
        "Orchestrator": {"Eks": {"ClusterArn": f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{EKS}"}},
    }
    (private / "hyperpod_current_context.json").write_text(json.dumps(context))
    # What lives under /tmp and must stay visible (a checkout cloned there, pytest's tmp_path):
    # each top directory is bound into the private /tmp first, then carried by the rbind.
    keep = sorted(
        {
            p.resolve().relative_to(Path("/tmp").resolve()).parts[0]
            for p in (ROOT, tmp_path)
            if _under_tmp(p)
        }
    )
    for name in keep:
        (private / name).mkdir(exist_ok=True)
    script = (
        'for d in $HYP_KEEP; do mount --bind "/tmp/$d" "$0/$d" || exit 1; done; '
        'mount --rbind "$0" /tmp && exec "$@"'
    )
    cmd = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, str(private)]
    return subprocess.run(
        [*cmd, str(REAL_HYP), "get-monitoring", *args],
        env={**env, "HYP_KEEP": " ".join(keep)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_real_hyperpod_cli_prints_the_same_as_ours(eks: FakeEks, tmp_path: Path) -> None:
    if not REAL_HYP.exists():
        pytest.skip("the real HyperPod CLI is not installed (.venv-hyperpod-cli; scripts/test.sh)")
    if (
        shutil.which("unshare") is None
        or subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True
        ).returncode
    ):
        pytest.skip("no unprivileged mount namespaces here: the real CLI's /tmp file is shared")
    env = {**os.environ, "HOME": str(tmp_path)}
    eks.install()
    real = _real_hyp(tmp_path, env, "--prometheus", "--grafana", "--list")
    assert real.returncode == 0, real.stdout + real.stderr[-2000:]
    mine = ours(tmp_path, "--prometheus", "--grafana", "--list")
    assert real.stdout.splitlines()[:2] == mine.output.splitlines()[:2]
    assert _metric_rows(real.stdout) == _metric_rows(mine.output) != {}
    eks.addons.clear()
    real = _real_hyp(tmp_path, env, "--grafana")
    assert real.returncode == 1 and "Observability addon is not enabled" in real.stdout
    assert ours(tmp_path, "--grafana").exit_code == 1
