"""NodePort allocation: 30000-32767, kept on update, unique, refused out of range."""

from __future__ import annotations

import pytest

from hyperpod.apiserver.errors import Invalid
from hyperpod.apiserver.registry import Registry
from hyperpod.apiserver.services import install


def service(name: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"ports": [{"name": "web", "port": 80}], **spec},
    }


def test_node_port_services_get_distinct_ports_from_the_range(registry: Registry) -> None:
    install(registry, None, 6443)
    a = registry.create("services", service("a", type="NodePort"), "default")
    b = registry.create("services", service("b", type="LoadBalancer"), "default")
    c = registry.create("services", service("c"), "default")
    pa, pb = a["spec"]["ports"][0]["nodePort"], b["spec"]["ports"][0]["nodePort"]
    assert 30000 <= pa <= 32767 and 30000 <= pb <= 32767 and pa != pb
    assert "nodePort" not in c["spec"]["ports"][0]


def test_a_node_port_is_kept_when_the_service_is_applied_again(registry: Registry) -> None:
    install(registry, None, 6443)
    first = registry.create("services", service("a", type="NodePort"), "default")
    port = first["spec"]["ports"][0]["nodePort"]
    again = service("a", type="NodePort")
    again["metadata"]["resourceVersion"] = first["metadata"]["resourceVersion"]  # type: ignore[index]
    updated = registry.update("services", again, "default")
    assert updated["spec"]["ports"][0]["nodePort"] == port


def test_a_requested_node_port_must_be_in_range_and_free(registry: Registry) -> None:
    install(registry, None, 6443)
    registry.create(
        "services",
        service("a", type="NodePort", ports=[{"port": 80, "nodePort": 30080}]),
        "default",
    )
    with pytest.raises(Invalid, match="provided port is already allocated"):
        registry.create(
            "services",
            service("b", type="NodePort", ports=[{"port": 80, "nodePort": 30080}]),
            "default",
        )
    with pytest.raises(Invalid, match="The range of valid ports is 30000-32767"):
        registry.create(
            "services",
            service("c", type="NodePort", ports=[{"port": 80, "nodePort": 8080}]),
            "default",
        )
