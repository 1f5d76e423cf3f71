"""Ingress, IngressClass, NetworkPolicy and HorizontalPodAutoscaler on a real control plane:
stored, validated and printed like upstream; ``kubectl create ingress`` and ``kubectl
autoscale`` work; an autoscaler whose pods have no metrics yet says so instead of scaling
(tests/e2e/test_autoscaling_hpa.py shows it scaling real pods)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client

from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("net"))
    yield plane
    plane.stop()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def apply(cp: RunningControlPlane, *objs: dict[str, Any], check: bool = True) -> Any:
    return cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objs), check=check)


def get_json(cp: RunningControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def test_kubectl_create_ingress_is_stored_and_printed(cp: RunningControlPlane) -> None:
    cp.kubectl(
        "create",
        "ingress",
        "demo",
        "--class=nginx",
        "--rule=foo.example.com/api*=api:8080",
        "--rule=bar.example.com/=web:http,tls=web-cert",
    )
    ing = get_json(cp, "ingress", "demo")
    assert ing["spec"]["ingressClassName"] == "nginx"
    first, second = ing["spec"]["rules"]
    assert first["http"]["paths"][0] == {
        "path": "/api",
        "pathType": "Prefix",
        "backend": {"service": {"name": "api", "port": {"number": 8080}}},
    }
    assert second["http"]["paths"][0]["backend"]["service"]["port"] == {"name": "http"}
    assert ing["spec"]["tls"] == [{"hosts": ["bar.example.com"], "secretName": "web-cert"}]
    row = cp.kubectl("get", "ingress", "demo", "--no-headers").stdout.split()
    assert row[:3] == ["demo", "nginx", "foo.example.com,bar.example.com"]
    assert row[3:5] == ["80,", "443"]


def test_invalid_ingresses_are_rejected_with_the_field(cp: RunningControlPlane) -> None:
    res = cp.kubectl("create", "ingress", "ip", "--rule=1.2.3.4/=svc:80", check=False)
    assert res.returncode != 0 and "spec.rules[0].host" in res.stderr
    bad = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "nopath"},
        "spec": {
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "relative",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "s"}},
                            }
                        ]
                    }
                }
            ]
        },
    }
    res = apply(cp, bad, check=False)
    assert res.returncode != 0
    assert "spec.rules[0].http.paths[0].path" in res.stderr
    assert "spec.rules[0].http.paths[0].backend.service.port" in res.stderr


def test_ingress_classes_and_network_policies_are_stored_with_defaults(
    cp: RunningControlPlane,
) -> None:
    apply(
        cp,
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": "nginx"},
            "spec": {"controller": "k8s.io/ingress-nginx"},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "web-only"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "web"}},
                "ingress": [
                    {
                        "from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                        "ports": [{"port": 80}],
                    }
                ],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        },
    )
    assert "k8s.io/ingress-nginx" in cp.kubectl("get", "ingressclass", "nginx").stdout
    policy = get_json(cp, "netpol", "web-only")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
    assert cp.kubectl("get", "netpol", "web-only", "--no-headers").stdout.split()[:2] == [
        "web-only",
        "app=web",
    ]
    net = client.NetworkingV1Api(cp.api_client())
    assert [p.metadata.name for p in net.list_namespaced_network_policy("default").items] == [
        "web-only"
    ]
    bad = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "bad"},
        "spec": {
            "podSelector": {},
            "ingress": [
                {"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}}]}
            ],
        },
    }
    res = apply(cp, bad, check=False)
    assert res.returncode != 0 and "spec.ingress[0].from[0].ipBlock.except[0]" in res.stderr


def test_kubectl_autoscale_stores_an_autoscaler_that_reports_pods_without_metrics(
    cp: RunningControlPlane,
) -> None:
    apply(
        cp,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "nodeSelector": {"type": "nowhere"},
                        "containers": [{"name": "web", "image": "nginx"}],
                    },
                },
            },
        },
    )
    cp.kubectl("autoscale", "deployment", "web", "--max=5", "--cpu-percent=50")
    hpa = get_json(cp, "hpa", "web")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50},
            },
        }
    ]
    status = wait_for(
        "the autoscaler's status",
        lambda: (s := get_json(cp, "hpa", "web").get("status") or {}).get("conditions") and s,
    )
    assert status["desiredReplicas"] == 2
    active = next(c for c in status["conditions"] if c["type"] == "ScalingActive")
    assert active["status"] == "False" and active["reason"] == "FailedGetResourceMetric"
    row = cp.kubectl("get", "hpa", "web", "--no-headers").stdout.split()
    assert row[:6] == ["web", "Deployment/web", "cpu:", "<unknown>/50%", "1", "5"]
    v1 = client.AutoscalingV1Api(cp.api_client()).read_namespaced_horizontal_pod_autoscaler(
        "web", "default"
    )
    assert v1.spec.target_cpu_utilization_percentage == 50 and v1.spec.max_replicas == 5
    assert get_json(cp, "deploy", "web")["spec"]["replicas"] == 2


def test_invalid_autoscalers_are_rejected(cp: RunningControlPlane) -> None:
    bad = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "bad"},
        "spec": {"scaleTargetRef": {"kind": "Deployment"}, "minReplicas": 3, "maxReplicas": 2},
    }
    res = apply(cp, bad, check=False)
    assert res.returncode != 0
    assert "spec.scaleTargetRef.name" in res.stderr and "spec.maxReplicas" in res.stderr
    bad["spec"] = {
        "scaleTargetRef": {"kind": "Deployment", "name": "web"},
        "maxReplicas": 2,
        "behavior": {
            "scaleDown": {
                "selectPolicy": "Most",
                "policies": [{"type": "Pods", "value": 0, "periodSeconds": 15}],
            }
        },
    }
    res = apply(cp, bad, check=False)
    assert res.returncode != 0
    assert "spec.behavior.scaleDown.selectPolicy" in res.stderr
    assert "spec.behavior.scaleDown.policies[0].value" in res.stderr


def test_a_partial_behavior_gets_upstreams_defaults(cp: RunningControlPlane) -> None:
    apply(
        cp,
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "shaped"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                "maxReplicas": 4,
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
            },
        },
    )
    behavior = get_json(cp, "hpa", "shaped")["spec"]["behavior"]
    assert behavior["scaleUp"]["selectPolicy"] == "Max"
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert {p["type"] for p in behavior["scaleUp"]["policies"]} == {"Pods", "Percent"}
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 60
    assert behavior["scaleDown"]["policies"] == [
        {"type": "Percent", "value": 100, "periodSeconds": 15}
    ]


def test_an_ingress_without_a_class_gets_the_default_ingress_class(
    cp: RunningControlPlane,
) -> None:
    apply(
        cp,
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {
                "name": "house",
                "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
            },
            "spec": {"controller": "example.com/house"},
        },
    )
    cp.kubectl("create", "ingress", "classless", "--rule=/=web:80")
    assert get_json(cp, "ingress", "classless")["spec"]["ingressClassName"] == "house"
