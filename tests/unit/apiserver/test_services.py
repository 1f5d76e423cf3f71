"""Service defaulting: cluster IPs from the service CIDR, and the default/kubernetes Service."""

from __future__ import annotations

import pytest

from hyperpod.apiserver.errors import Invalid
from hyperpod.apiserver.registry import Registry
from hyperpod.apiserver.services import ClusterIPs, install


def service(name: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"ports": [{"port": 80}], **spec},
    }


def test_install_creates_the_kubernetes_service_and_endpoints_at_the_port(
    registry: Registry,
) -> None:
    install(registry, None, 6443)
    svc = registry.get("services", "kubernetes", "default")
    assert svc["spec"]["clusterIP"] == "127.96.0.1"
    assert svc["spec"]["ports"][0]["targetPort"] == 6443
    ep = registry.get("endpoints", "kubernetes", "default")
    assert ep["subsets"] == [
        {
            "addresses": [{"ip": "127.0.0.1"}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        }
    ]
    install(registry, None, 7443)  # a restart on another port moves both
    assert (
        registry.get("endpoints", "kubernetes", "default")["subsets"][0]["ports"][0]["port"] == 7443
    )


def test_services_get_kube_apiserver_defaults(registry: Registry) -> None:
    install(registry, "127.50.0.0/24", 6443)
    svc = registry.create("services", service("web"))
    spec = svc["spec"]
    assert spec["clusterIP"] == "127.50.0.2"
    assert spec["clusterIPs"] == ["127.50.0.2"]
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert svc["status"] == {"loadBalancer": {}}
    headless = registry.create("services", service("headless", clusterIP="None"))
    assert headless["spec"]["clusterIPs"] == ["None"]
    external = registry.create(
        "services", service("ext", type="ExternalName", externalName="example.com")
    )
    assert "clusterIP" not in external["spec"]


def test_an_update_without_a_cluster_ip_keeps_the_allocated_one(registry: Registry) -> None:
    install(registry, None, 6443)
    ip = registry.create("services", service("keep"))["spec"]["clusterIP"]
    current = registry.get("services", "keep", "default")
    del current["spec"]["clusterIP"], current["spec"]["clusterIPs"]
    assert registry.update("services", current)["spec"]["clusterIP"] == ip


def test_taken_and_out_of_range_cluster_ips_are_refused(registry: Registry) -> None:
    install(registry, None, 6443)
    with pytest.raises(Invalid, match="provided IP is already allocated"):
        registry.create("services", service("dup", clusterIP="127.96.0.1"))
    with pytest.raises(Invalid, match=r"The range of valid IPs is 127\.96\.0\.0/16"):
        registry.create("services", service("far", clusterIP="10.0.0.1"))


def test_a_full_range_is_reported(registry: Registry) -> None:
    install(registry, "127.60.0.0/30", 6443)
    registry.create("services", service("one"))  # .2; .1 is the kubernetes Service
    with pytest.raises(Invalid, match="is full"):
        registry.create("services", service("two"))


@pytest.mark.parametrize("cidr", ["nope", "127.0.0.0/8", "fd00::/120", "127.9.0.0/31"])
def test_bad_ranges_are_refused(registry: Registry, cidr: str) -> None:
    with pytest.raises(ValueError, match="clusterIPRange"):
        ClusterIPs(registry, cidr)
