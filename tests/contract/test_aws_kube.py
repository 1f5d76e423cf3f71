"""The Kubernetes side of the AWS provider against real servers on loopback: add-ons applied with
server-side apply to our control plane, and kubectl / the kubernetes client authenticating
through ``python -m hyperpod.providers.aws.token`` (no AWS CLI)."""

from __future__ import annotations

import base64
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod.api.aws_config import AwsClusterConfig
from hyperpod.providers.aws import addons, kubeconfig, token
from hyperpod.providers.aws.errors import AwsError
from support import KUBECTL, RunningControlPlane

SERVED = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"}


def _manifests() -> list[dict[str, Any]]:
    cfg = AwsClusterConfig.model_validate(
        {
            "availability_zone_ids": ["usw2-az2", "usw2-az1"],
            "instance_groups": [
                {"name": "g", "instance_type": "ml.p5.48xlarge", "instance_count": 1}
            ],
        }
    )
    manifests, _ = addons.render(cfg, "us-west-2")
    return [m for m in manifests if m["kind"] in SERVED]  # the local server has no apps/v1


def test_add_ons_are_applied_with_server_side_apply_and_reapplying_is_harmless(
    cluster: RunningControlPlane,
) -> None:
    ca = (cluster.data_dir / "pki" / "ca.crt").read_bytes()
    kcfg = kubeconfig.build(
        eks_name="local",
        arn="local",
        endpoint=cluster.url,
        ca_data=base64.b64encode(ca).decode(),
        region="us-west-2",
    )
    manifests = _manifests()
    assert {m["kind"] for m in manifests} == SERVED
    first = addons.apply_with_token(kcfg, manifests, cluster.token)
    again = addons.apply_with_token(kcfg, manifests, cluster.token)
    assert len(first) == len(again) == len(manifests)
    for m in manifests:
        status, body = cluster.get(addons.api_path(m))
        assert status == 200, (m["kind"], body[:200])
        obj = json.loads(body)
        assert obj["metadata"]["name"] == m["metadata"]["name"]
        managers = {f.get("manager") for f in obj["metadata"].get("managedFields", [])}
        assert not managers or "hyp" in managers


def test_a_refused_apply_names_the_object_and_the_status(cluster: RunningControlPlane) -> None:
    ca = (cluster.data_dir / "pki" / "ca.crt").read_bytes()
    kcfg = kubeconfig.build(
        eks_name="local",
        arn="local",
        endpoint=cluster.url,
        ca_data=base64.b64encode(ca).decode(),
        region="us-west-2",
    )
    with pytest.raises(AwsError) as info:
        addons.apply_with_token(kcfg, _manifests()[:1], "not-the-token")
    assert "Namespace aws-hyperpod: HTTP 401" in str(info.value)


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        _Recorder.seen.append(self.headers.get("Authorization", ""))
        body = json.dumps(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "Unauthorized",
                "code": 401,
            }
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_eks(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """An HTTPS server on loopback standing in for the EKS endpoint: (url, CA data)."""
    from hyperpod.controlplane.certs import ensure_certificates

    ca, crt, key = ensure_certificates(tmp_path / "pki")
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(crt, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_port}", base64.b64encode(ca.read_bytes()).decode()
    finally:
        server.shutdown()
        server.server_close()


def _plugin_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return env | {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_CONFIG_FILE": os.devnull,
        "PATH": os.environ.get("PATH", ""),
    }


def _check_token(auth: str) -> None:
    assert auth.startswith("Bearer k8s-aws-v1.")
    url = token.decode(auth.removeprefix("Bearer "))
    assert "Action=GetCallerIdentity" in url and "x-k8s-aws-id" in url


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_authenticates_through_the_token_plugin(
    fake_eks: tuple[str, str], tmp_path: Path
) -> None:
    url, ca = fake_eks
    kcfg = kubeconfig.build(
        eks_name="demo-eks", arn="demo", endpoint=url, ca_data=ca, region="us-west-2"
    )
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kcfg))
    env = _plugin_env() | {"KUBECONFIG": str(path)}
    proc = subprocess.run(
        [str(KUBECTL), "get", "namespaces", "--request-timeout=20s"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        proc.returncode != 0
    )  # the fake server refuses everyone; we only look at what it received
    assert _Recorder.seen, proc.stderr
    _check_token(_Recorder.seen[0])


def test_the_kubernetes_client_authenticates_through_the_token_plugin(
    fake_eks: tuple[str, str],
) -> None:
    url, ca = fake_eks
    kcfg = kubeconfig.build(
        eks_name="demo-eks",
        arn="demo",
        endpoint=url,
        ca_data=ca,
        region="us-west-2",
        python=sys.executable,
    )
    code = (
        "import json, sys\n"
        "from kubernetes import client, config\n"
        "config.load_kube_config_from_dict(json.loads(sys.argv[1]))\n"
        "try:\n"
        "    client.CoreV1Api().list_namespace(_request_timeout=20)\n"
        "except client.ApiException as exc:\n"
        "    print(exc.status)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(kcfg)],
        env=_plugin_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.strip() == "401", proc.stderr
    _check_token(_Recorder.seen[0])
