"""helm 4 with workloads: examples/helm/web-and-job (a ConfigMap, a 2-replica Deployment
serving HTTP, a NodePort Service and a Job) installs with --wait --wait-for-jobs, answers
through the Service from this machine, upgrades (the new message rolls the replicas), rolls
back, and uninstalls leaving nothing behind."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import KUBECTL, RunningControlPlane, start_control_plane
from tools import helm_binary

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.timeout(300),
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed"),
]

CHART = Path(__file__).resolve().parents[2] / "examples" / "helm" / "web-and-job"


@pytest.fixture(scope="module")
def helm() -> str:
    path = helm_binary()
    if path is None:
        pytest.skip("helm 4 is not installed (scripts/test.sh installs it)")
    return path


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    a, b = random.randrange(130, 250), random.randrange(0, 250, 2)
    config = {
        "nodes": {"local": {"name": "local-node"}},
        "addons": {"trainingOperator": False, "kueue": False, "healthAgent": False},
        "services": {"clusterIPRange": f"127.{a}.{b}.0/24"},
        "kubelet": {"podIPRange": f"127.{a}.{b + 1}.0/24"},
    }
    plane = start_control_plane(tmp_path_factory.mktemp("helm-web"), config)
    yield plane
    plane.stop()


def helm_run(cp: RunningControlPlane, helm: str, home: Path, *args: str) -> str:
    env = {
        **os.environ,
        "KUBECONFIG": str(cp.kubeconfig),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    res = subprocess.run([helm, *args], env=env, capture_output=True, text=True, timeout=150)
    assert res.returncode == 0, f"helm {' '.join(args)}:\n{res.stdout}\n{res.stderr}"
    return res.stdout


def get(cp: RunningControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def answers(url: str, n: int = 8) -> set[str]:
    out = set()
    for _ in range(n):
        with urllib.request.urlopen(url, timeout=5) as resp:
            out.add(resp.read().decode().strip())
    return out


def test_a_chart_with_a_deployment_service_and_job(
    cp: RunningControlPlane, helm: str, tmp_path: Path
) -> None:
    h = tmp_path / "helm"
    py = f"python={sys.executable}"
    wait = ("--wait", "--wait-for-jobs", "--timeout", "120s")
    out = helm_run(cp, helm, h, "install", "rel", str(CHART), "--set", py, *wait)
    assert "STATUS: deployed" in out
    job = get(cp, "job", "rel-prepare")
    assert job["status"].get("succeeded") == 1
    pod = get(cp, "pods", "-l", "job-name=rel-prepare")["items"][0]["metadata"]["name"]
    assert "data prepared" in cp.kubectl("logs", pod).stdout
    assert get(cp, "deploy", "rel-web")["status"]["readyReplicas"] == 2

    svc = get(cp, "svc", "rel-web")
    cluster_url = f"http://{svc['spec']['clusterIP']}/"
    node_url = f"http://127.0.0.1:{svc['spec']['ports'][0]['nodePort']}/"
    got = answers(cluster_url)
    assert {a.split(" from ")[0] for a in got} == {"hello"}
    assert len(got) == 2, got  # both replicas answer through the Service
    assert {a.split(" from ")[0] for a in answers(node_url, 2)} == {"hello"}

    helm_run(cp, helm, h, "upgrade", "rel", str(CHART), "--set", py, "--set", "message=bye", *wait)
    assert {a.split(" from ")[0] for a in answers(cluster_url)} == {"bye"}
    helm_run(cp, helm, h, "rollback", "rel", "1", *wait)
    assert {a.split(" from ")[0] for a in answers(cluster_url)} == {"hello"}

    out = helm_run(cp, helm, h, "uninstall", "rel", "--wait", "--timeout", "120s")
    assert 'release "rel" uninstalled' in out
    deadline = time.monotonic() + 30
    left: list[str] = []
    while time.monotonic() < deadline:
        left = cp.kubectl(
            "get",
            "deploy,rs,pods,svc,jobs,configmaps,endpointslices,secrets",
            "-o",
            "name",
        ).stdout.split()
        left = [n for n in left if "rel-" in n or "sh.helm.release" in n]
        if not left:
            break
        time.sleep(0.5)
    assert left == []
