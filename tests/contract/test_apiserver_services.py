"""Service defaulting over real HTTP with the official client."""

from __future__ import annotations

import ipaddress

from support import RunningControlPlane


def test_the_kubernetes_service_points_at_this_api_server(cluster: RunningControlPlane) -> None:
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client())
    svc = core.read_namespaced_service("kubernetes", "default")
    assert svc.spec.cluster_ip == "127.96.0.1"
    assert svc.spec.ports[0].port == 443
    ep = core.read_namespaced_endpoints("kubernetes", "default")
    assert ep.subsets[0].addresses[0].ip == "127.0.0.1"
    assert ep.subsets[0].ports[0].port == cluster.port


def test_a_new_service_gets_a_cluster_ip_families_and_status(
    cluster: RunningControlPlane,
) -> None:
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client())
    body = {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    svc = core.create_namespaced_service("default", body)
    assert ipaddress.ip_address(svc.spec.cluster_ip) in ipaddress.ip_network("127.96.0.0/16")
    assert svc.spec.cluster_ips == [svc.spec.cluster_ip]
    assert svc.spec.ip_families == ["IPv4"]
    assert svc.spec.ip_family_policy == "SingleStack"
    assert svc.status.load_balancer is not None
    try:
        core.create_namespaced_service(
            "default",
            {
                "metadata": {"name": "copy"},
                "spec": {"clusterIP": svc.spec.cluster_ip, "ports": [{"port": 80}]},
            },
        )
    except client.ApiException as err:
        assert err.status == 422
        assert "provided IP is already allocated" in err.body
    else:
        raise AssertionError("a taken cluster IP was accepted")
