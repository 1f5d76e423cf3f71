"""The service proxy's routing table and its choice of endpoints."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from hyperpod.apiserver.registry import Registry
from hyperpod.controlplane.context import ControlPlaneContext
from hyperpod.proxy.service_proxy import (
    ServiceProxy,
    endpoints_backends,
    load_balancer_ingress,
    routes,
    slice_backends,
)

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


def test_the_proxy_forwards_to_ready_endpoints_in_turn_and_closes_on_stop(
    registry: Registry, tmp_path: Path
) -> None:
    a, b = random.randrange(130, 250), random.randrange(0, 250, 2)
    cluster_ip = f"127.{a}.{b}.10"

    async def scenario() -> None:
        async def named(tag: bytes) -> asyncio.Server:
            async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                w.write(tag + await r.read(100))
                await w.drain()
                w.close()

            return await asyncio.start_server(serve, "127.0.0.1", 0)

        one, two = await named(b"one:"), await named(b"two:")
        ports = [s.sockets[0].getsockname()[1] for s in (one, two)]
        registry.create(
            "services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"clusterIP": cluster_ip, "ports": [{"name": "http", "port": 8080}]},
            },
            "default",
        )
        for i, port in enumerate(ports):
            registry.create(
                "endpointslices.discovery.k8s.io",
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": f"web-{i}",
                        "namespace": "default",
                        "labels": {"kubernetes.io/service-name": "web"},
                    },
                    "addressType": "IPv4",
                    "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
                    "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
                },
                "default",
            )
        ctx = ControlPlaneContext(reg=registry, config={}, data_dir=tmp_path)
        proxy = ServiceProxy(ctx)
        task = asyncio.get_running_loop().create_task(proxy.run())

        async def ask() -> bytes:
            r, w = await asyncio.open_connection(cluster_ip, 8080)
            w.write(b"hi")
            await w.drain()
            w.write_eof()
            data = await r.read()
            w.close()
            return data

        for _ in range(100):
            if (cluster_ip, 8080) in proxy.data.servers:
                break
            await asyncio.sleep(0.05)
        answers = {await ask() for _ in range(4)}
        assert answers == {b"one:hi", b"two:hi"}
        ctx.stopping.set()
        await asyncio.wait_for(task, 10)
        with pytest.raises(OSError):
            await ask()
        for s in (one, two):
            s.close()

    asyncio.run(scenario())


def test_a_load_balancer_answers_on_127_0_0_1_at_its_port_once_bound() -> None:
    lb = svc(
        "lb",
        type="LoadBalancer",
        clusterIP="127.96.0.6",
        ports=[{"name": "http", "port": 8081, "nodePort": 30081}],
    )
    assert routes([lb])[("127.0.0.1", 8081)] == ("ns", "lb", "http")
    assert load_balancer_ingress(lb, {("127.0.0.1", 30081)}) == []
    assert load_balancer_ingress(lb, {("127.0.0.1", 8081)}) == [
        {"ip": "127.0.0.1", "ipMode": "Proxy"}
    ]
