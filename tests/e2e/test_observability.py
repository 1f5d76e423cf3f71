"""Observability on a real control plane: /metrics, kubectl top, training progress in status and hyp.

One cluster (a local node with two fake GPUs, two simulated p5 nodes) runs two PyTorchJobs on
the local node, one reporting with ``hyperpod.progress.report`` and one printing ``PROGRESS``
lines, plus a Kueue team whose job cannot fit its quota and stays pending.
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from dashboard_names import dashboards, exported_names, expressions, metric_names
from hyperpod.cli.main import cli
from hyperpod.runtime.nodes import local_node_name
from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    pytest.mark.skipif(KUBECTL is None, reason="needs kubectl"),
]
CONFIG = {"nodes": {"simulated": [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 2}]}}
NODE = local_node_name({})
FILE_SCRIPT = (
    "import time\n"
    "from hyperpod import progress\n"
    "for i in range(1, 401):\n"
    "    t = time.time() + 0.1\n"
    "    while time.time() < t: sum(range(20000))\n"
    "    progress.report(i, 400, loss=1.0 / i)\n"
)
LINE_SCRIPT = (
    "import time\n"
    "for i in range(1, 401):\n"
    "    print(f'PROGRESS {i}/400 loss={1.0 / i:.4f}', flush=True)\n"
    "    time.sleep(0.1)\n"
)


def local_job(name: str, script: str) -> dict[str, Any]:
    container = {
        "name": "pytorch",
        "image": "local/python",
        "command": [sys.executable, "-c", script],
        "resources": {"limits": {"nvidia.com/gpu": "1"}},
    }
    template = {
        "spec": {"nodeSelector": {"kubernetes.io/hostname": NODE}, "containers": [container]}
    }
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": template}}},
    }


def too_big_job() -> dict[str, Any]:
    container = {
        "name": "pytorch",
        "image": "local/python",
        "command": ["python", "-c", "pass"],
        "resources": {"requests": {"nvidia.com/gpu": "8"}, "limits": {"nvidia.com/gpu": "8"}},
    }
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {
            "name": "toobig",
            "namespace": "hyperpod-ns-a",
            "labels": {"kueue.x-k8s.io/queue-name": "hyperpod-ns-a-localqueue"},
        },
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": {"spec": {"containers": [container]}}},
                "Worker": {"replicas": 2, "template": {"spec": {"containers": [container]}}},
            }
        },
    }


def hyp(cp: RunningControlPlane, *args: str) -> str:
    res = CliRunner().invoke(cli, ["--kubeconfig", str(cp.kubeconfig), *args])
    assert res.exit_code == 0, res.output
    return res.output


def wait_for(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            out.append((labels, float(m.group(4))))
    return out


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(
        tmp_path_factory.mktemp("obs"), CONFIG, env={"HYPERPOD_FAKE_GPUS": "2"}
    )
    try:
        plane.kubectl("apply", "-f", "-", input=json.dumps(local_job("filejob", FILE_SCRIPT)))
        plane.kubectl("apply", "-f", "-", input=json.dumps(local_job("linejob", LINE_SCRIPT)))
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
        plane.kubectl("apply", "-f", "-", input=json.dumps(too_big_job()))
        yield plane
    finally:
        plane.stop()


def progress_of(cp: RunningControlPlane, name: str) -> dict[str, Any]:
    job = json.loads(cp.kubectl("get", "pytorchjob", name, "-o", "json").stdout)
    return dict((job.get("status") or {}).get("progress") or {})


def test_metrics_needs_the_token(cp: RunningControlPlane) -> None:
    req = urllib.request.Request(cp.url + "/metrics")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, context=cp.ssl_context(), timeout=10)
    assert err.value.code == 401


def test_metrics_lists_every_family_with_upstream_names(cp: RunningControlPlane) -> None:
    wait_for(lambda: progress_of(cp, "filejob").get("step"), "filejob to report progress")
    status, body = cp.get("/metrics", timeout=20)
    assert status == 200
    text = body.decode()
    for family in (
        "apiserver_request_total",
        "apiserver_request_duration_seconds_bucket",
        "apiserver_current_inflight_requests",
        "apiserver_storage_objects",
        "workqueue_depth",
        "kueue_pending_workloads",
        "kueue_cluster_queue_nominal_quota",
        "kube_pod_status_phase",
        "kube_node_status_condition",
        "kube_node_labels",
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "kubelet_running_pods",
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_POWER_USAGE",
        "DCGM_FI_DEV_XID_ERRORS",
        "training_operator_jobs_created_total",
        "hyperpod_job_progress_percent",
    ):
        assert samples(text, family), f"{family} missing from /metrics"
    created = samples(text, "training_operator_jobs_created_total")
    assert sum(v for labels, v in created if labels["job_namespace"] == "default") == 2
    pods = {labels["pod"] for labels, _ in samples(text, "container_cpu_usage_seconds_total")}
    assert any(p.startswith("filejob-master-0") for p in pods)
    holders = {labels["pod"] for labels, _ in samples(text, "DCGM_FI_DEV_GPU_UTIL")}
    assert {"filejob-master-0", "linejob-master-0"} <= holders
    storage = dict((lab["resource"], v) for lab, v in samples(text, "apiserver_storage_objects"))
    assert storage["pytorchjobs.kubeflow.org"] == 3
    gets = [
        v
        for lab, v in samples(text, "apiserver_request_total")
        if lab["resource"] == "pytorchjobs" and lab["verb"] == "GET" and lab["code"] == "200"
    ]
    assert gets and gets[0] >= 1
    for counter in ("kube_pod_container_status_restarts_total", "apiserver_request_total"):
        assert f"# TYPE {counter} counter" in text, f"{counter} is not typed as a counter"


def test_kueue_metrics_show_the_pending_job_and_the_quota(cp: RunningControlPlane) -> None:
    def pending() -> float:
        _, body = cp.get("/metrics", timeout=20)
        found = samples(body.decode(), "kueue_pending_workloads")
        return sum(v for lab, v in found if lab["cluster_queue"] == "hyperpod-ns-a-clusterqueue")

    assert wait_for(pending, "the too-big job to be pending") == 1
    _, body = cp.get("/metrics", timeout=20)
    quota = {
        (lab["flavor"], lab["resource"]): v
        for lab, v in samples(body.decode(), "kueue_cluster_queue_nominal_quota")
        if lab["cluster_queue"] == "hyperpod-ns-a-clusterqueue"
    }
    assert any(res == "nvidia.com/gpu" and v == 8 for (_, res), v in quota.items())


def test_kubectl_top_nodes_and_pods_show_live_usage(cp: RunningControlPlane) -> None:
    wait_for(lambda: progress_of(cp, "filejob").get("step"), "filejob to run")
    nodes = cp.kubectl("top", "nodes").stdout
    assert NODE in nodes and "p5-0" in nodes
    pods = wait_for(
        lambda: (
            (out := cp.kubectl("top", "pods", "-A", check=False)).returncode == 0
            and "filejob-master-0" in out.stdout
            and out.stdout
        ),
        "kubectl top pods to list the job's pod",
    )
    line = next(x for x in pods.splitlines() if "filejob-master-0" in x)
    cpu_millis = int(line.split()[2].rstrip("m"))
    assert cpu_millis > 0
    one = json.loads(
        cp.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods").stdout
    )
    assert one["kind"] == "PodMetricsList"
    missing = cp.kubectl(
        "get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes/no-such-node", check=False
    )
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_progress_reaches_job_status_from_the_file_and_from_stdout_lines(
    cp: RunningControlPlane,
) -> None:
    for name in ("filejob", "linejob"):
        p = wait_for(
            lambda n=name: (q := progress_of(cp, n)).get("etaSeconds") is not None and q,
            f"{name} to show an ETA",
        )
        assert p["totalSteps"] == 400
        assert 0 < p["step"] <= 400
        assert p["percent"] == pytest.approx(100 * p["step"] / 400, abs=0.1)
        assert "loss" in p["metrics"]


def test_hyp_list_and_describe_show_progress_and_eta(cp: RunningControlPlane) -> None:
    wait_for(lambda: progress_of(cp, "filejob").get("etaSeconds") is not None, "an ETA")
    listing = hyp(cp, "list", "hyp-pytorch-job", "-o", "json")
    rows = {r["name"]: r for r in json.loads(listing)}
    assert re.match(r"^\d+% \(\d+/400\)$", rows["filejob"]["progress"])
    assert re.match(r"^(\d+h\d\dm|\d+m\d\ds|\d+s|-)$", rows["filejob"]["eta"])
    table = hyp(cp, "list", "hyp-pytorch-job")
    assert "PROGRESS" in table.upper() and "ETA" in table.upper()
    described = hyp(cp, "describe", "hyp-pytorch-job", "--job-name", "filejob")
    assert "Progress" in described and "ETA" in described


def test_get_monitoring_prints_the_metrics_url(cp: RunningControlPlane) -> None:
    out = hyp(cp, "get-monitoring")
    assert f"{cp.url}/metrics" in out
    assert hyp(cp, "get-monitoring", "--prometheus").strip() == f"{cp.url}/metrics"


def test_every_metric_the_dashboards_use_is_exported(cp: RunningControlPlane) -> None:
    wait_for(lambda: progress_of(cp, "filejob").get("etaSeconds") is not None, "an ETA")
    _, body = cp.get("/metrics", timeout=20)
    exported = exported_names(body.decode())
    used = {
        (name, metric)
        for name, d in dashboards().items()
        for expr in expressions(d)
        for metric in metric_names(expr)
    }
    assert len(used) >= 40
    missing = sorted(f"{name}: {metric}" for name, metric in used if metric not in exported)
    assert not missing
