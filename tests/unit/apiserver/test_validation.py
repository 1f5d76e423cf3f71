"""Built-in kinds are defaulted and validated with Kubernetes' messages."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperpod.apiserver.names import (
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
)
from hyperpod.apiserver.podspec import qos_class
from hyperpod.apiserver.validation import default_builtin, validate_builtin


@pytest.mark.parametrize("name", ["a", "my-name", "123-abc", "a" * 63])
def test_valid_dns1123_labels_have_no_errors(name: str) -> None:
    assert is_dns1123_label(name) == []


@pytest.mark.parametrize("name", ["", "A", "-a", "a-", "a.b", "a_b", "a" * 64, "a\n"])
def test_invalid_dns1123_labels_get_the_kubernetes_message(name: str) -> None:
    errs = is_dns1123_label(name)
    assert errs
    if len(name) > 63:
        assert errs[0] == "must be no more than 63 characters"
    else:
        assert errs[0].startswith("a lowercase RFC 1123 label must consist of")
        assert "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'" in errs[0]


def test_dns1123_subdomains_allow_dots_up_to_253_characters() -> None:
    assert is_dns1123_subdomain("example.com") == []
    assert is_dns1123_subdomain("a." * 126 + "a") == []
    assert is_dns1123_subdomain("a" * 254)[0] == "must be no more than 253 characters"
    msg = is_dns1123_subdomain("Example.com")[0]
    assert msg.startswith("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric")
    assert "(e.g. 'example.com', regex used" in msg


def test_dns1035_labels_must_start_with_a_letter() -> None:
    assert is_dns1035_label("my-name") == []
    assert is_dns1035_label("1abc")[0].startswith("a DNS-1035 label must consist of")


@pytest.mark.parametrize("key", ["app", "example.com/app", "App_1.x", "k8s.io/a-b"])
def test_valid_qualified_names_have_no_errors(key: str) -> None:
    assert is_qualified_name(key) == []


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "name part must be non-empty"),
        ("/a", "prefix part must be non-empty"),
        ("Bad_Prefix/a", "prefix part a lowercase RFC 1123 subdomain"),
        ("a/b/c", "with an optional DNS subdomain prefix and '/'"),
        ("-a", "name part must consist of alphanumeric characters"),
        ("a" * 64, "name part must be no more than 63 characters"),
    ],
)
def test_invalid_qualified_names_say_which_part_is_wrong(key: str, fragment: str) -> None:
    assert any(fragment in e for e in is_qualified_name(key))


def test_label_values_may_be_empty_but_not_malformed() -> None:
    assert is_valid_label_value("") == []
    assert is_valid_label_value("my_value.1") == []
    assert is_valid_label_value("a b")[0].startswith("a valid label must be an empty string")
    assert is_valid_label_value("a" * 64)[0] == "must be no more than 63 characters"


# --- defaulting ------------------------------------------------------------------------------


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": spec or {"containers": [{"name": "main", "image": "busybox"}]},
    }


def fields(causes: list[dict[str, str]]) -> dict[str, str]:
    return {c["field"]: c["message"] for c in causes}


def test_pods_get_the_kubernetes_defaults() -> None:
    obj = pod(
        containers=[
            {"name": "a", "image": "busybox"},
            {"name": "b", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},
            {"name": "c", "image": "repo/x:latest", "resources": {"limits": {"cpu": "1"}}},
        ]
    )
    default_builtin("Pod", obj)
    spec = obj["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["priority"] == 0
    assert spec["enableServiceLinks"] is True
    assert spec["securityContext"] == {}
    a, b, c = spec["containers"]
    assert a["imagePullPolicy"] == "Always"
    assert b["imagePullPolicy"] == "IfNotPresent"
    assert c["imagePullPolicy"] == "Always"
    assert a["terminationMessagePath"] == "/dev/termination-log"
    assert a["terminationMessagePolicy"] == "File"
    assert b["ports"][0]["protocol"] == "TCP"
    assert c["resources"]["requests"] == {"cpu": "1"}
    assert obj["status"] == {"phase": "Pending", "qosClass": "Burstable"}


def test_defaults_never_override_what_the_user_set() -> None:
    obj = pod(
        containers=[{"name": "a", "image": "x", "imagePullPolicy": "Never"}], restartPolicy="Never"
    )
    obj["spec"]["priorityClassName"] = "high"
    default_builtin("Pod", obj)
    assert obj["spec"]["restartPolicy"] == "Never"
    assert obj["spec"]["containers"][0]["imagePullPolicy"] == "Never"
    assert "priority" not in obj["spec"]


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ([{}], "BestEffort"),
        (
            [
                {
                    "limits": {"cpu": "1", "memory": "1Gi"},
                    "requests": {"cpu": "1000m", "memory": "1Gi"},
                }
            ],
            "Guaranteed",
        ),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {"requests": {"cpu": "1"}}], "Burstable"),
        ([{"requests": {"memory": "1Gi"}}], "Burstable"),
    ],
)
def test_the_qos_class_follows_requests_and_limits(
    resources: list[dict[str, Any]], qos: str
) -> None:
    obj = pod(
        containers=[
            {"name": f"c{i}", "image": "x", "resources": r} for i, r in enumerate(resources)
        ]
    )
    assert qos_class(obj) == qos


def test_other_kinds_get_their_defaults() -> None:
    svc: dict[str, Any] = {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}
    default_builtin("Service", svc)
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["sessionAffinity"] == "None"
    assert svc["spec"]["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    ns: dict[str, Any] = {"metadata": {"name": "n"}}
    default_builtin("Namespace", ns)
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["status"] == {"phase": "Active"}
    secret: dict[str, Any] = {"metadata": {"name": "s"}}
    default_builtin("Secret", secret)
    assert secret["type"] == "Opaque"
    pc: dict[str, Any] = {"metadata": {"name": "p"}, "value": 1}
    default_builtin("PriorityClass", pc)
    assert pc["preemptionPolicy"] == "PreemptLowerPriority"
    crb = {"subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s"}]}
    default_builtin("ClusterRoleBinding", crb)
    assert crb["subjects"][0]["apiGroup"] == "rbac.authorization.k8s.io"
    assert "apiGroup" not in crb["subjects"][1]


# --- validation ------------------------------------------------------------------------------


def valid_pod() -> dict[str, Any]:
    obj = pod()
    default_builtin("Pod", obj)
    return obj


def test_a_defaulted_pod_is_valid() -> None:
    assert validate_builtin("Pod", valid_pod(), None) == []


def test_names_labels_and_annotations_are_checked() -> None:
    obj = valid_pod()
    obj["metadata"].update(
        name="Bad_Name",
        labels={"bad key": "v", "k": "bad value"},
        annotations={"a": "x" * (256 * 1024)},
    )
    got = validate_builtin("Pod", obj, None)
    msgs = [c["message"] for c in got]
    assert any(
        c["field"] == "metadata.name"
        and 'Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain' in c["message"]
        for c in got
    )
    assert any(m.startswith('Invalid value: "bad key": name part must consist of') for m in msgs)
    assert any(m.startswith('Invalid value: "bad value": a valid label must be') for m in msgs)
    assert "Too long: must have at most 262144 bytes" in msgs


def test_namespaces_and_services_use_label_rules_for_names() -> None:
    ns = {"metadata": {"name": "a.b"}}
    assert fields(validate_builtin("Namespace", ns, None))["metadata.name"].startswith(
        'Invalid value: "a.b": a lowercase RFC 1123 label'
    )
    svc = {"metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 80}]}}
    assert "DNS-1035" in fields(validate_builtin("Service", svc, None))["metadata.name"]


def test_a_missing_name_needs_generate_name() -> None:
    obj = valid_pod()
    del obj["metadata"]["name"]
    assert fields(validate_builtin("Pod", obj, None))["metadata.name"] == (
        "Required value: name or generateName is required"
    )
    obj["metadata"]["generateName"] = "p-"
    assert validate_builtin("Pod", obj, None) == []


def test_pod_containers_are_validated_with_field_paths() -> None:
    obj = pod(
        containers=[
            {"name": "a", "image": "x", "ports": [{"containerPort": 70000, "protocol": "XTP"}]},
            {"name": "a"},
            {"name": "Bad", "image": "x", "volumeMounts": [{"name": "nope", "mountPath": "/m"}]},
        ],
        restartPolicy="Sometimes",
    )
    got = fields(validate_builtin("Pod", obj, None))
    assert (
        got["spec.containers[0].ports[0].containerPort"]
        == "Invalid value: 70000: must be between 1 and 65535, inclusive"
    )
    assert (
        got["spec.containers[0].ports[0].protocol"]
        == 'Unsupported value: "XTP": supported values: "SCTP", "TCP", "UDP"'
    )
    assert got["spec.containers[1].name"] == 'Duplicate value: "a"'
    assert got["spec.containers[1].image"] == "Required value"
    assert got["spec.containers[2].name"].startswith(
        'Invalid value: "Bad": a lowercase RFC 1123 label'
    )
    assert got["spec.containers[2].volumeMounts[0].name"] == 'Not found: "nope"'
    assert (
        got["spec.restartPolicy"]
        == 'Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"'
    )


def test_a_pod_needs_a_container() -> None:
    assert (
        fields(validate_builtin("Pod", pod(containers=[]), None))["spec.containers"]
        == "Required value"
    )


def test_resources_must_parse_and_requests_may_not_exceed_limits() -> None:
    obj = pod(
        containers=[
            {
                "name": "a",
                "image": "x",
                "resources": {"requests": {"cpu": "2", "memory": "lots"}, "limits": {"cpu": "1"}},
            },
            {"name": "b", "image": "x", "resources": {"requests": {"nvidia.com/gpu": "1"}}},
            {"name": "c", "image": "x", "resources": {"limits": {"cpu": "-1"}}},
        ]
    )
    got = fields(validate_builtin("Pod", obj, None))
    assert (
        got["spec.containers[0].resources.requests"]
        == 'Invalid value: "2": must be less than or equal to cpu limit of 1'
    )
    assert got["spec.containers[0].resources.requests[memory]"].startswith(
        'Invalid value: "lots": quantities must match'
    )
    assert (
        "must be equal to nvidia.com/gpu limit"
        in got["spec.containers[1].resources.requests[nvidia.com/gpu]"]
    )
    assert (
        got["spec.containers[2].resources.limits[cpu]"]
        == 'Invalid value: "-1": must be greater than or equal to 0'
    )


def test_volumes_need_one_source_and_unique_names() -> None:
    obj = pod(
        containers=[{"name": "a", "image": "x"}],
        volumes=[{"name": "v"}, {"name": "v", "emptyDir": {}, "hostPath": {"path": "/"}}],
    )
    got = fields(validate_builtin("Pod", obj, None))
    assert got["spec.volumes[0]"] == "Required value: must specify a volume type"
    assert got["spec.volumes[1].name"] == 'Duplicate value: "v"'
    assert got["spec.volumes[1].hostPath"] == "Forbidden: may not specify more than 1 volume type"


def test_pod_updates_may_change_only_images_deadlines_and_add_tolerations() -> None:
    old = valid_pod()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "busybox:2"
    new["spec"]["activeDeadlineSeconds"] = 60
    new["spec"]["tolerations"] = [{"key": "k", "operator": "Exists"}]
    new["spec"]["nodeName"] = "n1"
    new["metadata"]["labels"] = {"a": "b"}
    assert validate_builtin("Pod", new, old) == []
    changed = copy.deepcopy(old)
    changed["spec"]["restartPolicy"] = "Never"
    assert fields(validate_builtin("Pod", changed, old))["spec"].startswith(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
    )
    removed = copy.deepcopy(new)
    removed["spec"]["tolerations"] = []
    assert "spec" in fields(validate_builtin("Pod", removed, new))


def test_services_validate_ports_and_types() -> None:
    svc = {
        "metadata": {"name": "s"},
        "spec": {
            "type": "Weird",
            "ports": [
                {"port": 80, "name": "a"},
                {"port": 0},
                {"port": 80, "name": "a", "targetPort": "Bad Name"},
            ],
        },
    }
    got = fields(validate_builtin("Service", svc, None))
    assert got["spec.type"].startswith('Unsupported value: "Weird"')
    assert got["spec.ports[1].name"] == "Required value"
    assert got["spec.ports[1].port"] == "Invalid value: 0: must be between 1 and 65535, inclusive"
    assert got["spec.ports[2].name"] == 'Duplicate value: "a"'
    assert "spec.ports[2]" in got
    assert "spec.ports[2].targetPort" in got
    assert (
        fields(validate_builtin("Service", {"metadata": {"name": "s"}, "spec": {}}, None))[
            "spec.ports"
        ]
        == "Required value"
    )


def test_config_map_and_secret_keys_are_checked() -> None:
    cm = {
        "metadata": {"name": "c"},
        "data": {"ok.key": "1", "bad key": "2"},
        "binaryData": {"ok.key": "AA=="},
    }
    got = fields(validate_builtin("ConfigMap", cm, None))
    assert got["data[bad key]"].startswith(
        'Invalid value: "bad key": a valid config key must consist of'
    )
    assert (
        got["binaryData[ok.key]"]
        == 'Invalid value: "ok.key": duplicate of key present in another field'
    )
    secret = {"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "not base64!"}}
    assert fields(validate_builtin("Secret", secret, None))["data[a]"].endswith(
        "must be base64-encoded"
    )
    new = {"metadata": {"name": "s"}, "type": "other", "data": {"a": "YQ=="}}
    assert (
        fields(validate_builtin("Secret", new, secret))["type"]
        == 'Invalid value: "other": field is immutable'
    )


def test_immutable_config_maps_cannot_change_data() -> None:
    old = {"metadata": {"name": "c"}, "data": {"a": "1"}, "immutable": True}
    new = {**old, "data": {"a": "2"}}
    assert (
        fields(validate_builtin("ConfigMap", new, old))["data"]
        == "Forbidden: field is immutable when `immutable` is set"
    )


def test_priority_classes_have_a_bounded_immutable_value() -> None:
    pc = {"metadata": {"name": "high"}, "value": 2_000_000_000}
    assert fields(validate_builtin("PriorityClass", pc, None))["value"] == (
        "Forbidden: maximum allowed value of a user defined priority is 1000000000"
    )
    system = {"metadata": {"name": "system-critical"}, "value": 2_000_000_000}
    assert validate_builtin("PriorityClass", system, None) == []
    old = {"metadata": {"name": "p"}, "value": 1}
    assert (
        fields(validate_builtin("PriorityClass", {**old, "value": 2}, old))["value"]
        == "Forbidden: may not be changed in an update."
    )


def test_leases_nodes_and_events_are_checked() -> None:
    lease = {"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": 0}}
    assert (
        fields(validate_builtin("Lease", lease, None))["spec.leaseDurationSeconds"]
        == "Invalid value: 0: must be greater than 0"
    )
    node = {
        "metadata": {"name": "n"},
        "spec": {"taints": [{"key": "k", "effect": "Sometimes"}]},
        "status": {"capacity": {"cpu": "x"}},
    }
    got = fields(validate_builtin("Node", node, None))
    assert got["spec.taints[0].effect"].startswith('Unsupported value: "Sometimes"')
    assert "status.capacity[cpu]" in got
    event = {
        "metadata": {"name": "e", "namespace": "a"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "b"},
        "type": "Odd",
    }
    got = fields(validate_builtin("Event", event, None))
    assert got["involvedObject.namespace"] == 'Invalid value: "b": does not match event.namespace'
    assert got["type"] == 'Unsupported value: "Odd": supported values: "Normal", "Warning"'
    assert (
        fields(validate_builtin("Event", {"metadata": {"name": "e"}}, None))["involvedObject"]
        == "Required value"
    )


def test_rbac_rules_need_verbs_and_role_refs_are_immutable() -> None:
    role = {
        "metadata": {"name": "r"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": []}],
    }
    assert (
        fields(validate_builtin("Role", role, None))["rules[0].verbs"]
        == "Required value: verbs must contain at least one value"
    )
    ok_role = {
        "metadata": {"name": "system:r"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }
    assert validate_builtin("ClusterRole", ok_role, None) == []
    binding: dict[str, Any] = {
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "default"}],
    }
    assert validate_builtin("RoleBinding", binding, None) == []
    got = fields(validate_builtin("ClusterRoleBinding", binding, None))
    assert got["roleRef.kind"] == 'Unsupported value: "Role": supported values: "ClusterRole"'
    assert got["subjects[0].namespace"] == "Required value"
    changed = copy.deepcopy(binding)
    changed["roleRef"]["name"] = "other"
    assert fields(validate_builtin("RoleBinding", changed, binding))["roleRef"].endswith(
        "cannot change roleRef"
    )


def test_owner_references_need_their_identity_fields() -> None:
    obj = valid_pod()
    obj["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "X", "name": "x"}]
    assert (
        fields(validate_builtin("Pod", obj, None))["metadata.ownerReferences[0].uid"]
        == "Required value"
    )


_garbage = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=4),
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "spec",
                    "metadata",
                    "containers",
                    "name",
                    "image",
                    "ports",
                    "containerPort",
                    "resources",
                    "limits",
                    "cpu",
                    "volumes",
                    "volumeMounts",
                    "env",
                    "data",
                    "rules",
                    "verbs",
                    "roleRef",
                    "subjects",
                    "tolerations",
                    "key",
                    "labels",
                    "value",
                ]
            ),
            c,
            max_size=4,
        )
    ),
    max_leaves=20,
)
_kinds = st.sampled_from(
    [
        "Pod",
        "Service",
        "Namespace",
        "Secret",
        "ConfigMap",
        "Node",
        "Lease",
        "PriorityClass",
        "Event",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "ServiceAccount",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    _kinds,
    st.dictionaries(
        st.sampled_from(["spec", "metadata", "data", "rules", "roleRef", "value"]),
        _garbage,
        max_size=4,
    ),
    _garbage,
)
def test_garbage_objects_get_causes_never_exceptions(
    kind: str, obj: dict[str, Any], old: Any
) -> None:
    default_builtin(kind, obj)
    assert isinstance(validate_builtin(kind, obj, old if isinstance(old, dict) else None), list)
    assert isinstance(validate_builtin(kind, obj, obj), list)
