"""The service proxy's routing table and its choice of endpoints."""

from __future__ import annotations

from typing import Any

from hyperpod.proxy.service_proxy import endpoints_backends, routes, slice_backends

Obj = dict[str, Any]


def svc(name: str, **spec: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def test_cluster_ips_and_node_ports_are_listened_on_tcp_only() -> None:
    table = routes(
        [
            svc(
                "web",
                type="NodePort",
                clusterIP="127.96.0.5",
                ports=[
                    {"name": "http", "port": 80, "nodePort": 30080},
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                ],
            ),
            svc("job", clusterIP="None", ports=[{"port": 23456}]),
            svc("outside", type="ExternalName", externalName="example.com"),
            svc("odd", clusterIP="10.0.0.1", ports=[{"port": 80}]),
        ]
    )
    assert table == {
        ("127.96.0.5", 80): ("ns", "web", "http"),
        ("127.0.0.1", 30080): ("ns", "web", "http"),
    }


def test_only_ready_endpoints_of_the_named_port_are_used() -> None:
    slices = [
        {
            "metadata": {"name": "web-b"},
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["127.112.0.2"], "conditions": {"ready": True}},
                {"addresses": ["127.112.0.3"], "conditions": {"ready": False}},
            ],
        },
        {
            "metadata": {"name": "web-a"},
            "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["127.112.0.1"], "conditions": {}}],
        },
    ]
    assert slice_backends(slices, "http") == [("127.112.0.1", 9090), ("127.112.0.2", 8080)]
    assert slice_backends(slices, "metrics") == []


def test_services_without_a_selector_use_their_endpoints() -> None:
    ep = {
        "subsets": [
            {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": 6443}]}
        ]
    }
    assert endpoints_backends(ep, "https") == [("127.0.0.1", 6443)]
    assert endpoints_backends(None, "https") == []
