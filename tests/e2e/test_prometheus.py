"""A real Prometheus scrapes the local cluster with the configuration ``hyp get-monitoring`` writes.

The digits example trains on the local node holding a fake GPU while a Kueue team's job that
cannot fit waits; PromQL through Prometheus' HTTP API then sees the running pods, the pending
workload of that queue and the GPU's utilisation. Prometheus is Debian's ``prometheus`` package
(``scripts/test.sh`` installs it when run as root); without the binary this test is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dashboard_names import dashboards, expressions
from hyperpod.cli.main import cli
from hyperpod.runtime.nodes import local_node_name
from support import KUBECTL, RunningControlPlane, start_control_plane

PROMETHEUS = shutil.which("prometheus") or (
    "/usr/bin/prometheus" if os.path.exists("/usr/bin/prometheus") else None
)
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(KUBECTL is None, reason="needs kubectl"),
    pytest.mark.skipif(
        PROMETHEUS is None,
        reason="the prometheus binary is not installed (apt-get install prometheus; "
        "scripts/test.sh does it when run as root)",
    ),
]
CONFIG = {"nodes": {"simulated": [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 1}]}}


def digits_job() -> dict[str, Any]:
    container = {
        "name": "pytorch",
        "image": "local/python",
        "command": [
            sys.executable,
            "-m",
            "hyperpod.examples.digits",
            "--epochs",
            "40",
            "--max-steps-per-second",
            "40",
        ],
        "resources": {"limits": {"nvidia.com/gpu": "1"}},
    }
    spec = {
        "nodeSelector": {"kubernetes.io/hostname": local_node_name({})},
        "containers": [container],
    }
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "digits", "namespace": "default"},
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": {"spec": spec}}}},
    }


def pending_job() -> dict[str, Any]:
    container = {
        "name": "pytorch",
        "image": "local/python",
        "command": ["python", "-c", "pass"],
        "resources": {"requests": {"nvidia.com/gpu": "8"}, "limits": {"nvidia.com/gpu": "8"}},
    }
    template = {"spec": {"containers": [container]}}
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {
            "name": "waits",
            "namespace": "hyperpod-ns-a",
            "labels": {"kueue.x-k8s.io/queue-name": "hyperpod-ns-a-localqueue"},
        },
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": template},
                "Worker": {"replicas": 1, "template": template},
            }
        },
    }


def hyp(cp: RunningControlPlane, *args: str) -> str:
    res = CliRunner().invoke(cli, ["--kubeconfig", str(cp.kubeconfig), *args])
    assert res.exit_code == 0, res.output
    return res.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    def __init__(self, config: Path, workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / "prometheus.log"
        assert PROMETHEUS is not None
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
            )

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        data = self.api("query", query=promql)
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def wait(self, promql: str, ok: Any, what: str, timeout: float = 90) -> float:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                result = self.query(promql)
            except OSError:
                result = []
            if result and ok(result[0][1]):
                return result[0][1]
            last = result
            time.sleep(0.5)
        raise AssertionError(
            f"{what}: {promql} gave {last}\n{self.log.read_text(errors='replace')[-3000:]}"
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(
        tmp_path_factory.mktemp("prom-cluster"), CONFIG, env={"HYPERPOD_FAKE_GPUS": "1"}
    )
    try:
        plane.kubectl("apply", "-f", "-", input=json.dumps(digits_job()))
        hyp(
            plane,
            "create",
            "compute-quota",
            "--team",
            "a",
            "--instance-type",
            "ml.p5.48xlarge",
            "--count",
            "1",
        )
        plane.kubectl("apply", "-f", "-", input=json.dumps(pending_job()))
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def prometheus(
    cp: RunningControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    work = tmp_path_factory.mktemp("prometheus")
    printed = hyp(cp, "get-monitoring", "--scrape-config", str(work / "conf"), "--interval", "1s")
    assert "scrape_configs" in printed
    prom = Prometheus(work / "conf" / "prometheus.yml", work)
    try:
        yield prom
    finally:
        prom.stop()


def test_prometheus_scrapes_the_cluster_with_the_printed_config(prometheus: Prometheus) -> None:
    prometheus.wait('up{job="hyperpod"}', lambda v: v == 1, "the target to be up")
    targets = prometheus.api("targets")["activeTargets"]
    assert [t["health"] for t in targets] == ["up"], targets


def test_promql_counts_running_pods(prometheus: Prometheus) -> None:
    running = prometheus.wait(
        'sum(kube_pod_status_phase{phase="Running", namespace="default"})',
        lambda v: v >= 1,
        "the digits pod to run",
    )
    assert running == 1


def test_promql_sees_the_pending_workload_of_the_team_queue(prometheus: Prometheus) -> None:
    pending = prometheus.wait(
        'sum by (cluster_queue) (kueue_pending_workloads{cluster_queue="hyperpod-ns-a-clusterqueue"})',
        lambda v: v >= 1,
        "the pending workload",
    )
    assert pending == 1
    quota = prometheus.query(
        'kueue_cluster_queue_nominal_quota{cluster_queue="hyperpod-ns-a-clusterqueue",'
        'resource="nvidia.com/gpu"}'
    )
    assert [v for _, v in quota] == [8]


def test_promql_sees_gpu_utilisation_under_the_digits_job(prometheus: Prometheus) -> None:
    util = prometheus.wait(
        'max(DCGM_FI_DEV_GPU_UTIL{pod="digits-master-0"})',
        lambda v: v > 0,
        "the digits job's GPU to be busy",
    )
    assert 0 < util <= 100
    cpu = prometheus.wait(
        'sum(rate(container_cpu_usage_seconds_total{pod="digits-master-0"}[5s]))',
        lambda v: v > 0,
        "the digits container to use CPU",
    )
    assert cpu > 0
    progress = prometheus.wait(
        'hyperpod_job_progress_percent{job_name="digits"}', lambda v: v > 0, "progress of digits"
    )
    assert 0 < progress <= 100


def test_every_dashboard_query_is_valid_promql(prometheus: Prometheus) -> None:
    prometheus.wait('up{job="hyperpod"}', lambda v: v == 1, "the target to be up")
    for d in dashboards().values():
        for expr in expressions(d):
            if expr.startswith("label_values("):
                continue  # a Grafana templating function, not PromQL
            query = re.sub(r'"\$\w+"', '".*"', expr)  # Grafana variables: match everything
            assert "$" not in query, expr
            prometheus.api("query", query=query)  # raises on a PromQL error (HTTP 400)
