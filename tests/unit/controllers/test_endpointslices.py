"""EndpointSlices and Endpoints from a Service and its pods: readiness, named ports."""

from __future__ import annotations

from typing import Any

from hyperpod.controllers.endpointslices import desired_slices, desired_subsets, target_port

Obj = dict[str, Any]


def pod(name: str, ip: str | None, ready: bool = True, **extra: Any) -> Obj:
    status: Obj = {
        "phase": extra.pop("phase", "Running"),
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if ip:
        status["podIP"] = ip
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"u-{name}",
            "labels": extra.pop("labels", {"app": "web"}),
            **extra.pop("meta", {}),
        },
        "spec": {
            "nodeName": "n1",
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}],
        },
        "status": status,
    }


def service(**spec: Any) -> Obj:
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": "s1"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "web", "port": 80, "targetPort": "http"}],
            **spec,
        },
    }


def test_selected_pods_become_endpoints_with_their_readiness() -> None:
    pods = [
        pod("a", "127.112.0.1"),
        pod("b", "127.112.0.2", ready=False),
        pod("c", None),  # no address yet
        pod("d", "127.112.0.4", phase="Succeeded"),
        pod("e", "127.112.0.5", labels={"app": "other"}),
    ]
    (body,) = desired_slices(service(), pods).values()
    assert body["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
    got = {e["addresses"][0]: e["conditions"]["ready"] for e in body["endpoints"]}
    assert got == {"127.112.0.1": True, "127.112.0.2": False}
    assert body["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "s1"
    (subset,) = desired_subsets({"x": body})
    assert [a["ip"] for a in subset["addresses"]] == ["127.112.0.1"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["127.112.0.2"]


def test_publish_not_ready_addresses_marks_every_endpoint_ready() -> None:
    (body,) = desired_slices(
        service(publishNotReadyAddresses=True), [pod("b", "127.112.0.2", ready=False)]
    ).values()
    assert body["endpoints"][0]["conditions"]["ready"] is True


def test_a_terminating_pod_is_not_ready_but_still_listed() -> None:
    (body,) = desired_slices(
        service(), [pod("a", "127.112.0.1", meta={"deletionTimestamp": "2026-01-01T00:00:00Z"})]
    ).values()
    assert body["endpoints"][0]["conditions"] == {
        "ready": False,
        "serving": True,
        "terminating": True,
    }


def test_target_ports_by_number_name_and_default() -> None:
    p = pod("a", "127.112.0.1")
    assert target_port(p, {"port": 80, "targetPort": "http"}) == 8080
    assert target_port(p, {"port": 80, "targetPort": 9000}) == 9000
    assert target_port(p, {"port": 80}) == 80
    assert target_port(p, {"port": 80, "targetPort": "grpc"}) is None


def test_a_service_selecting_nothing_gets_one_empty_slice() -> None:
    slices = desired_slices(service(), [])
    (body,) = slices.values()
    assert body["endpoints"] == [] and desired_subsets(slices) == []
