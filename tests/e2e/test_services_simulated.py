"""Pods on simulated nodes behind a Service (listed like any pod, never forwarded to) and
under an autoscaler (they "use" what they request).

Three replicas on simulated nodes get distinct pod IPs from ``kubelet.simulatedPodIPRange``
and appear as ready endpoints in the Service's EndpointSlice; a connection to one of them is
refused (nothing listens there), a connection to the Service is closed at once and a Warning
Event says why; once a real pod with the same labels is ready, every request through the
Service reaches it. An autoscaler over simulated replicas sees 100 % utilization of their
requests and scales them up to maxReplicas.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import random
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.timeout(120),
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed"),
]

SIM_RANGE = "127.64.0.0/11"


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    a, b = random.randrange(130, 250), random.randrange(0, 250, 2)
    config = {
        "nodes": {
            "local": {"name": "local-node"},
            "simulated": [{"group": "inf", "instanceType": "ml.g5.xlarge", "count": 2}],
        },
        "addons": {"trainingOperator": False, "kueue": False, "healthAgent": False},
        "services": {"clusterIPRange": f"127.{a}.{b}.0/24"},
        "kubelet": {"podIPRange": f"127.{a}.{b + 1}.0/24"},
        "horizontalPodAutoscaler": {"syncPeriodSeconds": 1, "cpuInitializationPeriodSeconds": 0},
    }
    plane = start_control_plane(tmp_path_factory.mktemp("svc-sim"), config)
    yield plane
    plane.stop()


def apply(cp: RunningControlPlane, *objs: dict[str, Any]) -> None:
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objs))


def get(cp: RunningControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def wait(cp: RunningControlPlane, what: str, fn: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what}: last {last!r}\n{cp.log()[-3000:]}")


def endpoints(cp: RunningControlPlane) -> list[dict[str, Any]]:
    slices = get(cp, "endpointslices", "-l", "kubernetes.io/service-name=infer")["items"]
    return [e for s in slices for e in s.get("endpoints") or []]


def test_simulated_replicas_are_endpoints_that_get_no_traffic(cp: RunningControlPlane) -> None:
    apply(
        cp,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "infer"},
            "spec": {"selector": {"app": "infer"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "infer-sim"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "infer", "where": "sim"}},
                "template": {
                    "metadata": {"labels": {"app": "infer", "where": "sim"}},
                    "spec": {
                        "nodeSelector": {"hyperpod.local/simulated": "true"},
                        "containers": [
                            {"name": "m", "image": "vllm", "ports": [{"containerPort": 8080}]}
                        ],
                    },
                },
            },
        },
    )
    eps = wait(
        cp,
        "three ready simulated endpoints",
        lambda: len(e := [x for x in endpoints(cp) if x["conditions"]["ready"]]) == 3 and e,
    )
    ips = [e["addresses"][0] for e in eps]
    net = ipaddress.ip_network(SIM_RANGE)
    assert len(set(ips)) == 3 and all(ipaddress.ip_address(ip) in net for ip in ips), ips
    assert all(e["nodeName"].startswith("inf") for e in eps), eps
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ips[0], 8080), timeout=3)

    ip = get(cp, "svc", "infer")["spec"]["clusterIP"]
    with socket.create_connection((ip, 80), timeout=3) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        s.settimeout(3)
        try:
            assert s.recv(100) == b""  # closed at once, no answer
        except ConnectionResetError:
            pass
    wait(
        cp,
        "the SimulatedEndpoints warning",
        lambda: "SimulatedEndpoints" in cp.kubectl("get", "events", "-o", "json").stdout,
        30,
    )
    event = next(
        e
        for e in get(cp, "events")["items"]
        if e["reason"] == "SimulatedEndpoints" and e["involvedObject"]["name"] == "infer"
    )
    assert "3 ready endpoint(s) are pods on simulated nodes" in event["message"]

    server = (
        "import http.server, os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.send_header('Content-Length', '4')\n"
        "        self.end_headers(); self.wfile.write(b'real')\n"
        "    def log_message(self, *a): pass\n"
        "http.server.ThreadingHTTPServer((os.environ['POD_IP'], 8080), H).serve_forever()\n"
    )
    apply(
        cp,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "infer-real", "labels": {"app": "infer"}},
            "spec": {
                "nodeName": "local-node",
                "containers": [
                    {
                        "name": "m",
                        "image": "python:3.11",
                        "command": [sys.executable, "-c", server],
                        "env": [
                            {
                                "name": "POD_IP",
                                "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                            }
                        ],
                        "ports": [{"containerPort": 8080}],
                        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                    }
                ],
            },
        },
    )
    wait(
        cp,
        "four ready endpoints",
        lambda: sum(x["conditions"]["ready"] for x in endpoints(cp)) == 4,
    )

    def answers() -> list[str]:
        out = []
        try:
            for _ in range(8):
                with urllib.request.urlopen(f"http://{ip}/", timeout=5) as resp:
                    out.append(resp.read().decode())
        except (OSError, http.client.HTTPException):
            return []  # the proxy has not seen the new endpoint yet
        return out

    assert wait(cp, "traffic reaching the real pod", answers, 20) == ["real"] * 8


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
def test_an_autoscaler_scales_simulated_replicas_on_their_requests(
    cp: RunningControlPlane, kind: str
) -> None:
    name = f"fleet-{kind.lower()}"
    workload: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "nodeSelector": {"hyperpod.local/simulated": "true"},
                    "containers": [
                        {"name": "m", "image": "vllm", "resources": {"requests": {"cpu": "500m"}}}
                    ],
                },
            },
        },
    }
    if kind == "StatefulSet":
        workload["spec"]["serviceName"] = name
    apply(
        cp,
        workload,
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
                "maxReplicas": 4,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 50},
                        },
                    }
                ],
            },
        },
    )
    wait(cp, "4 simulated replicas", lambda: get(cp, kind.lower(), name)["spec"]["replicas"] == 4)
    hpa = wait(
        cp,
        "ScalingLimited=True TooManyReplicas",
        lambda: (
            (h := get(cp, "hpa", name))
            and any(
                c["type"] == "ScalingLimited" and c["reason"] == "TooManyReplicas"
                for c in h["status"].get("conditions") or []
            )
            and h
        ),
    )
    current = hpa["status"]["currentMetrics"][0]["resource"]["current"]
    assert current["averageUtilization"] == 100 and current["averageValue"] == "500m"
