"""Services that route: pod IPs, EndpointSlices, the clusterIP and NodePort proxy, readiness.

Two bare pods with the same label run a tiny HTTP server bound to ``$(POD_IP):8080``; a
Service selects them. Requests from this machine through the clusterIP and the NodePort reach
both; a pod whose readiness probe fails gets no traffic; kubectl shows the EndpointSlice.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod.kubelet import podnet
from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.timeout(240),
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed"),
]

SERVER = """
import http.server, os, socket, sys
name = os.environ["HOSTNAME"]
try:
    resolved = socket.gethostbyname("web.default.svc.cluster.local")
except OSError:
    resolved = "-"
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/ready" and os.environ.get("UNREADY"):
            self.send_response(503); self.end_headers(); return
        addr = self.server.server_address[0]
        body = f"{name} {addr} {os.environ.get('PEER', '')} {resolved}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer((sys.argv[1], 8080), H).serve_forever()
"""


def web_pod(name: str, unready: bool = False) -> dict[str, Any]:
    env: list[dict[str, Any]] = [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "PEER", "value": "web.default.svc.cluster.local:80"},
    ]
    if unready:
        env.append({"name": "UNREADY", "value": "1"})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "python:3.11",
                    "command": ["python3", "-c", SERVER, "$(POD_IP)"],
                    "env": env,
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {
                        "httpGet": {"path": "/ready", "port": "http"},
                        "periodSeconds": 1,
                    },
                }
            ]
        },
    }


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {
        "type": "NodePort",
        "selector": {"app": "web"},
        "ports": [{"name": "web", "port": 80, "targetPort": "http"}],
    },
}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    # Ranges of their own, so clusters running beside this one on the machine do not collide.
    a, b = random.randrange(130, 250), random.randrange(0, 250, 2)
    config = {
        "nodes": {"local": {"name": "local-node"}},
        "addons": {"trainingOperator": False, "kueue": False, "healthAgent": False},
        "services": {"clusterIPRange": f"127.{a}.{b}.0/24"},
        "kubelet": {"podIPRange": f"127.{a}.{b + 1}.0/24"},
    }
    plane = start_control_plane(tmp_path_factory.mktemp("svc-routing"), config)
    yield plane
    plane.stop()


def apply(cp: RunningControlPlane, obj: dict[str, Any], path: Path) -> None:
    path.write_text(yaml.safe_dump(obj))
    cp.kubectl("apply", "-f", str(path))


def get(cp: RunningControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def wait(cp: RunningControlPlane, what: str, fn: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except Exception as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what}: last {last!r}\n{cp.log()[-3000:]}")


def fetch(host: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=5) as resp:
        return resp.read().decode()


def ready_ips(cp: RunningControlPlane) -> set[str]:
    slices = get(cp, "endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
    return {
        ep["addresses"][0]
        for s in slices
        for ep in s.get("endpoints") or []
        if ep["conditions"]["ready"]
    }


def test_two_replicas_behind_a_service_answer_through_cluster_ip_and_node_port(
    cp: RunningControlPlane, tmp_path: Path
) -> None:
    apply(cp, SERVICE, tmp_path / "svc.yaml")
    for name in ("web-a", "web-b"):
        apply(cp, web_pod(name), tmp_path / f"{name}.yaml")
    pods = wait(cp, "both pods ready", lambda: [] if len(_ready_pods(cp)) < 2 else _ready_pods(cp))
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 2 and all(ip.startswith("127.") for ip in ips)
    assert all(p["status"]["podIPs"] == [{"ip": p["status"]["podIP"]}] for p in pods)

    wait(cp, "both endpoints ready", lambda: ready_ips(cp) == ips)
    table = cp.kubectl("get", "endpointslices").stdout
    assert "web-" in table and "IPv4" in table and "8080" in table
    ep = get(cp, "endpoints", "web")
    assert {a["ip"] for a in ep["subsets"][0]["addresses"]} == ips

    svc = get(cp, "service", "web")
    cluster_ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    seen_cluster = {wait(cp, "clusterIP answers", lambda: fetch(cluster_ip, 80)) for _ in range(6)}
    seen_node = {
        wait(cp, "nodePort answers", lambda: fetch("127.0.0.1", node_port)) for _ in range(6)
    }
    by_pod = {line.split()[0] for line in seen_cluster | seen_node}
    assert by_pod == {"web-a", "web-b"}
    # Each replica listened on its own pod IP, and the Service name became the clusterIP.
    assert {line.split()[1] for line in seen_cluster} == ips
    assert {line.split()[2] for line in seen_cluster} == {f"{cluster_ip}:80"}
    # Where the kubelet can give a process its own /etc/hosts, the name resolves too.
    resolves = podnet.probe_hosts_mount(tmp_path / "probe") is not None
    assert {line.split()[3] for line in seen_cluster} == {cluster_ip if resolves else "-"}
    hosts = (cp.data_dir / "pods" / pods[0]["metadata"]["uid"] / "hosts").read_text()
    assert f"{cluster_ip}\tweb web.default web.default.svc web.default.svc.cluster.local" in hosts


def test_a_pod_that_is_not_ready_gets_no_traffic(cp: RunningControlPlane, tmp_path: Path) -> None:
    apply(cp, SERVICE, tmp_path / "svc.yaml")
    for name in ("web-a", "web-b"):
        apply(cp, web_pod(name), tmp_path / f"{name}.yaml")
    apply(cp, web_pod("web-c", unready=True), tmp_path / "web-c.yaml")
    pod_c = wait(
        cp,
        "web-c running with an IP",
        lambda: (
            (p := get(cp, "pod", "web-c"))["status"].get("podIP")
            and p["status"].get("phase") == "Running"
            and p
        ),
    )
    ip_c = pod_c["status"]["podIP"]

    def listed_not_ready() -> bool:
        slices = get(cp, "endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
        eps = {e["addresses"][0]: e for s in slices for e in s.get("endpoints") or []}
        return ip_c in eps and eps[ip_c]["conditions"]["ready"] is False and len(eps) == 3

    wait(cp, "web-c listed as not ready", listed_not_ready)
    ep = get(cp, "endpoints", "web")
    assert [a["ip"] for a in ep["subsets"][0]["notReadyAddresses"]] == [ip_c]
    # The unready replica answers when asked directly, but never through the Service.
    assert wait(cp, "web-c answers", lambda: fetch(ip_c, 8080)).split()[0] == "web-c"
    cluster_ip = get(cp, "service", "web")["spec"]["clusterIP"]
    answers = {fetch(cluster_ip, 80).split()[0] for _ in range(8)}
    assert answers == {"web-a", "web-b"}


def _ready_pods(cp: RunningControlPlane) -> list[dict[str, Any]]:
    return [
        p
        for p in get(cp, "pods", "-l", "app=web")["items"]
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p["status"].get("conditions", [])
        )
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_forward(cp: RunningControlPlane, target: str, remote: int) -> tuple[Any, int]:
    local = _free_port()
    assert KUBECTL is not None
    proc = subprocess.Popen(
        [KUBECTL, "port-forward", target, f"{local}:{remote}"],
        env={**os.environ, "KUBECONFIG": str(cp.kubeconfig)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, local


def test_kubectl_port_forward_reaches_a_pod_and_a_service(
    cp: RunningControlPlane, tmp_path: Path
) -> None:
    apply(cp, SERVICE, tmp_path / "svc.yaml")
    for name in ("web-a", "web-b"):
        apply(cp, web_pod(name), tmp_path / f"{name}.yaml")
    wait(cp, "both pods ready", lambda: len(_ready_pods(cp)) >= 2)
    proc, local = _port_forward(cp, "pod/web-a", 8080)
    try:
        first = wait(cp, "pod port-forward answers", lambda: fetch("127.0.0.1", local))
        assert first.split()[0] == "web-a"
        # Several connections over the same forwarding session.
        assert {fetch("127.0.0.1", local).split()[0] for _ in range(3)} == {"web-a"}
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert f"Forwarding from 127.0.0.1:{local} -> 8080" in out, err
    proc, local = _port_forward(cp, "svc/web", 80)
    try:
        answer = wait(cp, "service port-forward answers", lambda: fetch("127.0.0.1", local))
        assert answer.split()[0] in ("web-a", "web-b")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_port_forward_to_a_closed_port_reports_the_refusal(
    cp: RunningControlPlane, tmp_path: Path
) -> None:
    apply(cp, web_pod("web-a"), tmp_path / "web-a.yaml")
    wait(cp, "web-a ready", lambda: any(p["metadata"]["name"] == "web-a" for p in _ready_pods(cp)))
    proc, local = _port_forward(cp, "pod/web-a", 9)
    try:
        wait(cp, "forwarding started", lambda: _listening(local))
        with pytest.raises(OSError):
            fetch("127.0.0.1", local)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "error forwarding port 9 to pod web-a" in err and "connection refused" in err


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_the_official_client_port_forwards_over_the_channel_protocol(
    cp: RunningControlPlane, tmp_path: Path
) -> None:
    from kubernetes import client
    from kubernetes.stream import portforward

    apply(cp, web_pod("web-a"), tmp_path / "web-a.yaml")
    wait(cp, "web-a ready", lambda: any(p["metadata"]["name"] == "web-a" for p in _ready_pods(cp)))
    api = client.CoreV1Api(cp.api_client())
    pf = portforward(api.connect_get_namespaced_pod_portforward, "web-a", "default", ports="8080")
    try:
        sock = pf.socket(8080)
        sock.settimeout(10)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"web-a" not in data:
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
        assert data.startswith(b"HTTP/1.0 200")
    finally:
        pf.close()


def test_the_example_serves_both_replicas_through_its_service(cp: RunningControlPlane) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "service-two-replicas.yaml"
    cp.kubectl("apply", "-f", str(example))
    svc = get(cp, "service", "hello")
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]

    def both() -> set[str]:
        seen = {fetch(ip, 80).split()[2] for _ in range(4)}
        return seen if seen == {"hello-a", "hello-b"} else set()

    wait(cp, "both replicas answer through the clusterIP", both)
    assert fetch("127.0.0.1", node_port).startswith("hello from hello-")
    described = cp.kubectl("describe", "service", "hello").stdout
    assert "Endpoints:" in described and ":8080" in described


LOOKUP = """
import socket, time
while True:
    try:
        print(socket.gethostbyname("late.default.svc.cluster.local"), flush=True)
    except OSError:
        print("-", flush=True)
    time.sleep(0.3)
"""


def test_a_service_created_after_the_pod_started_resolves_in_it(
    cp: RunningControlPlane, tmp_path: Path
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "lookup"},
        "spec": {
            "containers": [
                {"name": "c", "image": "python:3.11", "command": ["python3", "-c", LOOKUP]}
            ]
        },
    }
    apply(cp, pod, tmp_path / "lookup.yaml")
    uid = wait(
        cp,
        "lookup running",
        lambda: (
            (p := get(cp, "pod", "lookup"))["status"].get("phase") == "Running"
            and p["metadata"]["uid"]
        ),
    )
    late = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "late"},
        "spec": {"selector": {"app": "none"}, "ports": [{"port": 80}]},
    }
    apply(cp, late, tmp_path / "late.yaml")
    ip = get(cp, "service", "late")["spec"]["clusterIP"]
    hosts = cp.data_dir / "pods" / uid / "hosts"
    wait(cp, "hosts file updated", lambda: f"{ip}\tlate " in hosts.read_text())
    if podnet.probe_hosts_mount(tmp_path / "probe") is None:
        pytest.skip("no mount namespaces here: the hosts file is not the process's /etc/hosts")
    wait(cp, "the name resolves", lambda: ip in cp.kubectl("logs", "lookup", "--tail=1").stdout)


def test_a_load_balancer_service_gets_127_0_0_1_as_its_external_ip(
    cp: RunningControlPlane, tmp_path: Path
) -> None:
    for name in ("web-a", "web-b"):
        apply(cp, web_pod(name), tmp_path / f"{name}.yaml")
    port = _free_port()
    lb = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web-lb"},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "ports": [{"name": "web", "port": port, "targetPort": "http"}],
        },
    }
    apply(cp, lb, tmp_path / "lb.yaml")
    ingress = wait(
        cp,
        "ingress published",
        lambda: get(cp, "service", "web-lb")["status"]["loadBalancer"].get("ingress"),
    )
    assert ingress == [{"ip": "127.0.0.1", "ipMode": "Proxy"}]
    assert "127.0.0.1" in cp.kubectl("get", "service", "web-lb").stdout
    answers = {
        wait(cp, "LB answers", lambda: fetch("127.0.0.1", port)).split()[0] for _ in range(4)
    }
    assert answers == {"web-a", "web-b"}
