"""admissionregistration.k8s.io and storage.k8s.io CSI kinds through the registry: served,
defaulted and validated like kube-apiserver; the webhook matcher's rules and selectors."""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod.apiserver import openapi, webhooks
from hyperpod.apiserver.errors import Invalid
from hyperpod.apiserver.registry import Registry

G = "admissionregistration.k8s.io"


def hook(**extra: Any) -> dict[str, Any]:
    return {
        "name": "check.example.com",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "clientConfig": {"url": "https://127.0.0.1:9443/check"},
        "rules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE"],
                "resources": ["configmaps"],
            }
        ],
        **extra,
    }


def vwc(*hooks: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{G}/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "v"},
        "webhooks": list(hooks),
    }


def test_the_new_kinds_are_served_with_their_openapi_schema(registry: Registry) -> None:
    for plural, group in [
        ("validatingwebhookconfigurations", G),
        ("mutatingwebhookconfigurations", G),
        ("validatingadmissionpolicies", G),
        ("validatingadmissionpolicybindings", G),
        ("csidrivers", "storage.k8s.io"),
        ("csinodes", "storage.k8s.io"),
        ("volumeattachments", "storage.k8s.io"),
    ]:
        rt, _ = registry.resolve(f"{plural}.{group}")
        assert not rt.namespaced
        doc = openapi.openapi_document(registry.catalog.all(), group, "v1")
        assert doc is not None and f"/apis/{group}/v1/{plural}" in doc["paths"]


def test_a_webhook_configuration_is_defaulted_like_kube_apiserver(registry: Registry) -> None:
    made = registry.create(f"validatingwebhookconfigurations.{G}", vwc(hook()))
    h = made["webhooks"][0]
    assert (h["failurePolicy"], h["matchPolicy"], h["timeoutSeconds"]) == ("Fail", "Equivalent", 10)
    assert h["namespaceSelector"] == {} and h["rules"][0]["scope"] == "*"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"name": "short.name"}, "webhooks[0].name"),
        ({"sideEffects": "Some"}, "webhooks[0].sideEffects"),
        ({"timeoutSeconds": 31}, "webhooks[0].timeoutSeconds"),
        ({"admissionReviewVersions": ["v1beta1"]}, "webhooks[0].admissionReviewVersions"),
        ({"clientConfig": {}}, "webhooks[0].clientConfig"),
        ({"failurePolicy": "Maybe"}, "webhooks[0].failurePolicy"),
    ],
)
def test_a_bad_webhook_is_refused_naming_the_field(
    registry: Registry, bad: dict[str, Any], field: str
) -> None:
    with pytest.raises(Invalid) as err:
        registry.create(f"validatingwebhookconfigurations.{G}", vwc(hook(**bad)))
    assert field in err.value.message


def test_admission_policies_are_type_checked_and_validated(registry: Registry) -> None:
    policy = {
        "apiVersion": f"{G}/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "p"},
        "spec": {"validations": [{"expression": "object.spec.replicas <= 5"}]},
    }
    made = registry.create(f"validatingadmissionpolicies.{G}", policy)
    assert made["spec"]["failurePolicy"] == "Fail"
    with pytest.raises(Invalid) as err:
        registry.create(
            f"validatingadmissionpolicies.{G}",
            {**policy, "metadata": {"name": "q"}, "spec": {"validations": "nope"}},
        )
    assert "spec.validations" in err.value.message
    binding = {
        "apiVersion": f"{G}/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "b"},
        "spec": {"policyName": "p", "validationActions": ["Deny", "Warn"]},
    }
    with pytest.raises(Invalid, match="must not contain both Deny and Warn"):
        registry.create(f"validatingadmissionpolicybindings.{G}", binding)


def test_a_csidriver_is_defaulted_and_its_spec_immutable(registry: Registry) -> None:
    body = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": {"name": "fsx.csi.aws.com"},
        "spec": {"attachRequired": False},
    }
    made = registry.create("csidrivers.storage.k8s.io", body)
    assert made["spec"]["volumeLifecycleModes"] == ["Persistent"]
    assert made["spec"]["fsGroupPolicy"] == "ReadWriteOnceWithFSType"
    made["spec"]["attachRequired"] = True
    with pytest.raises(Invalid, match=r"spec\.attachRequired: Invalid value: field is immutable"):
        registry.update("csidrivers.storage.k8s.io", made)
    made["spec"]["attachRequired"] = False
    made["spec"]["podInfoOnMount"] = True  # mutable upstream
    registry.update("csidrivers.storage.k8s.io", made)


def test_csinode_and_volumeattachment_validation(registry: Registry) -> None:
    node = {"metadata": {"name": "n"}, "spec": {"drivers": [{"name": "fsx.csi.aws.com"}]}}
    with pytest.raises(Invalid, match=r"spec.drivers\[0\].nodeID"):
        registry.create("csinodes.storage.k8s.io", node)
    va = {"metadata": {"name": "a"}, "spec": {"attacher": "x", "nodeName": "n", "source": {}}}
    with pytest.raises(Invalid, match="exactly one of persistentVolumeName"):
        registry.create("volumeattachments.storage.k8s.io", va)


@pytest.mark.parametrize(
    ("rule", "matches"),
    [
        ({}, True),
        ({"operations": ["UPDATE"]}, False),
        ({"operations": ["*"]}, True),
        ({"apiGroups": ["apps"]}, False),
        ({"apiVersions": ["v2"]}, False),
        ({"resources": ["configmaps/status"]}, False),
        ({"resources": ["*/*"]}, True),
        ({"scope": "Cluster"}, False),
        ({"scope": "Namespaced"}, True),
    ],
)
def test_rule_matching(registry: Registry, rule: dict[str, Any], matches: bool) -> None:
    rt, _ = registry.resolve("configmaps")
    base = hook()["rules"][0]
    assert webhooks._rule_matches({**base, "scope": "*", **rule}, rt, "CREATE") is matches
