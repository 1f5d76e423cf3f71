"""Strategies of issue 14's kinds through the registry: claims, quotas, limit ranges, HPA v1."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from hyperpod.apiserver.errors import Forbidden, Invalid
from hyperpod.apiserver.kinds import resourcequota
from hyperpod.apiserver.registry import Registry
from hyperpod.controllers.resourcequota import install_admission


def pod(name: str, *containers: dict[str, Any], init: list[dict[str, Any]] | None = None) -> Any:
    spec: dict[str, Any] = {"containers": list(containers)}
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def container(name: str, **requests: str) -> dict[str, Any]:
    return {"name": name, "image": "x", "resources": {"requests": requests, "limits": requests}}


def test_a_pods_usage_is_the_larger_of_its_containers_sum_and_its_biggest_init_container() -> None:
    p = pod(
        "p",
        container("a", cpu="500m"),
        container("b", cpu="250m"),
        init=[container("i", cpu="1")],
    )
    assert resourcequota.contribution("pods", p, "requests.cpu") == Decimal(1)
    assert resourcequota.contribution("pods", p, "cpu") == Decimal(1)
    assert resourcequota.contribution("pods", p, "pods") == 1
    p["status"] = {"phase": "Succeeded"}
    assert resourcequota.contribution("pods", p, "pods") == 0
    assert resourcequota.contribution("pods", p, "count/configmaps") == 0


def test_gpu_quota_refuses_the_pod_that_would_pass_it(registry: Registry) -> None:
    install_admission(registry)
    registry.create("namespaces", {"metadata": {"name": "team"}})
    quota = {"metadata": {"name": "gpus"}, "spec": {"hard": {"nvidia.com/gpu": "2"}}}
    registry.create("resourcequotas", quota, "team")
    registry.create("pods", pod("one", container("c", **{"nvidia.com/gpu": "2"})), "team")
    with pytest.raises(Forbidden) as err:
        registry.create("pods", pod("two", container("c", **{"nvidia.com/gpu": "1"})), "team")
    assert err.value.message == (
        'pods "two" is forbidden: exceeded quota: gpus, requested: nvidia.com/gpu=1, '
        "used: nvidia.com/gpu=2, limited: nvidia.com/gpu=2"
    )
    registry.create("pods", pod("cpu-only", container("c", cpu="1")), "team")


def test_limit_range_defaults_apply_only_to_what_a_container_lacks(registry: Registry) -> None:
    install_admission(registry)
    lr = {
        "metadata": {"name": "lr"},
        "spec": {"limits": [{"type": "Container", "default": {"memory": "1Gi", "cpu": "1"}}]},
    }
    made = registry.create("limitranges", lr, "default")
    assert made["spec"]["limits"][0]["defaultRequest"] == {"memory": "1Gi", "cpu": "1"}
    p = pod("p", {"name": "c", "image": "x", "resources": {"limits": {"cpu": "2"}}})
    got = registry.create("pods", p, "default")["spec"]["containers"][0]["resources"]
    assert got["limits"] == {"cpu": "2", "memory": "1Gi"}
    assert got["requests"]["cpu"] == "2" and got["requests"]["memory"] == "1Gi"


def test_a_claims_spec_is_immutable_except_its_requests_and_first_binding(
    registry: Registry,
) -> None:
    claim = {
        "metadata": {"name": "c"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    made = registry.create("persistentvolumeclaims", claim, "default")
    assert made["status"] == {"phase": "Pending"}
    made["spec"]["volumeName"] = "pv-1"
    made["spec"]["resources"]["requests"]["storage"] = "2Gi"
    made = registry.update("persistentvolumeclaims", made, "default")
    made["spec"]["volumeName"] = "pv-2"
    with pytest.raises(Invalid, match="immutable"):
        registry.update("persistentvolumeclaims", made, "default")


def test_an_autoscaling_v1_body_is_stored_as_v2_and_read_back_as_v1(registry: Registry) -> None:
    hpa = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
            "maxReplicas": 4,
            "targetCPUUtilizationPercentage": 60,
        },
    }
    made = registry.create("horizontalpodautoscalers.autoscaling", hpa, "default")
    assert made["apiVersion"] == "autoscaling/v2" and made["spec"]["minReplicas"] == 1
    assert made["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    v1 = registry.get("horizontalpodautoscalers.autoscaling", "web", "default", version="v1")
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 60 and "metrics" not in v1["spec"]


def test_a_scoped_quota_counts_only_the_pods_its_scopes_select(registry: Registry) -> None:
    install_admission(registry)
    registry.create("namespaces", {"metadata": {"name": "team"}})
    high = {
        "metadata": {"name": "high"},
        "spec": {
            "hard": {"pods": "1"},
            "scopeSelector": {
                "matchExpressions": [
                    {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}
                ]
            },
        },
    }
    best_effort = {
        "metadata": {"name": "be"},
        "spec": {"hard": {"pods": "2"}, "scopes": ["BestEffort"]},
    }
    registry.create("resourcequotas", high, "team")
    registry.create("resourcequotas", best_effort, "team")
    urgent = pod("urgent", container("c", cpu="1"))
    urgent["spec"]["priorityClassName"] = "high"
    registry.create("pods", urgent, "team")
    second = pod("urgent-2", container("c", cpu="1"))
    second["spec"]["priorityClassName"] = "high"
    with pytest.raises(Forbidden, match="exceeded quota: high"):
        registry.create("pods", second, "team")
    registry.create("pods", pod("normal", container("c", cpu="1")), "team")
    plain = {"name": "c", "image": "x"}
    registry.create("pods", pod("be-1", plain), "team")
    registry.create("pods", pod("be-2", plain), "team")
    with pytest.raises(Forbidden, match="exceeded quota: be"):
        registry.create("pods", pod("be-3", plain), "team")


MALFORMED: list[Any] = ["x", 1, [], {}, None, [1], {"a": 1}, True, [{}]]
VALID: dict[str, dict[str, Any]] = {
    "persistentvolumeclaims": {
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    },
    "persistentvolumes": {
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/tmp/x"},
        }
    },
    "resourcequotas": {"spec": {"hard": {"pods": "100000"}}},
    "limitranges": {"spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}},
    "ingresses.networking.k8s.io": {
        "spec": {"defaultBackend": {"resource": {"kind": "X", "name": "y"}}}
    },
    "networkpolicies.networking.k8s.io": {"spec": {"podSelector": {}}},
    "horizontalpodautoscalers.autoscaling": {
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 2}
    },
}
FIELDS = {
    "persistentvolumeclaims": ["accessModes", "resources", "storageClassName", "volumeName"],
    "persistentvolumes": ["accessModes", "hostPath", "capacity", "claimRef"],
    "resourcequotas": ["hard", "scopes", "scopeSelector"],
    "limitranges": ["limits"],
    "ingresses.networking.k8s.io": ["rules", "defaultBackend", "tls"],
    "networkpolicies.networking.k8s.io": ["podSelector", "ingress", "egress", "policyTypes"],
    "horizontalpodautoscalers.autoscaling": ["metrics", "scaleTargetRef", "maxReplicas"],
}


def test_malformed_fields_are_refused_cleanly_and_never_break_later_creates(
    registry: Registry,
) -> None:
    install_admission(registry)
    n = 0
    for resource, fields in FIELDS.items():
        for field in [None, *fields]:
            for value in MALFORMED:
                obj: dict[str, Any] = {**VALID[resource], "metadata": {"name": f"m{n}"}}
                obj["spec"] = dict(obj["spec"]) if field else value
                if field:
                    obj["spec"][field] = value
                n += 1
                try:
                    registry.create(resource, obj, "default")
                except (Invalid, Forbidden):
                    pass
                registry.create("pods", pod(f"p{n}", {"name": "c", "image": "x"}), "default")
