"""Protobuf request bodies (kubectl's typed clients) decode into the JSON form the API stores."""

from __future__ import annotations

import pytest

from hyperpod.apiserver.errors import BadRequest, UnsupportedMediaType
from hyperpod.apiserver.protobuf import decode


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def num(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def ld(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(field << 3 | 2) + varint(len(data)) + data


def entry(field: int, key: str, value: bytes | str) -> bytes:
    return ld(field, ld(1, key) + ld(2, value))


def envelope(api_version: str, kind: str, body: bytes) -> bytes:
    return (
        b"k8s\x00" + ld(1, ld(1, api_version) + ld(2, kind)) + ld(2, body) + ld(3, "") + ld(4, "")
    )


def meta(name: str, *extra: bytes) -> bytes:
    # Go writes every non-pointer field, empty or not, as kubectl does.
    empties = ld(2, "") + ld(3, "") + ld(4, "") + ld(5, "") + ld(6, "") + num(7, 0) + ld(8, b"")
    return ld(1, ld(1, name) + empties + b"".join(extra))


def test_a_namespace_decodes_without_the_empty_fields_go_writes() -> None:
    body = meta("team-a") + ld(2, b"") + ld(3, ld(1, ""))
    obj = decode(envelope("v1", "Namespace", body))
    assert obj["apiVersion"] == "v1" and obj["kind"] == "Namespace"
    assert obj["metadata"] == {"name": "team-a"}


def test_config_map_data_and_binary_data_keep_their_values() -> None:
    body = (
        meta("c", entry(11, "app", "x"), entry(12, "note", "hi"))
        + entry(2, "a", "b")
        + entry(3, "blob", b"\x00\xff")
    )
    obj = decode(envelope("v1", "ConfigMap", body))
    assert obj["metadata"] == {"name": "c", "labels": {"app": "x"}, "annotations": {"note": "hi"}}
    assert obj["data"] == {"a": "b"}
    assert obj["binaryData"] == {"blob": "AP8="}


def test_secret_data_is_base64_as_in_json() -> None:
    obj = decode(envelope("v1", "Secret", meta("s") + entry(2, "pw", b"p") + ld(3, "Opaque")))
    assert obj["data"] == {"pw": "cA=="} and obj["type"] == "Opaque"


def test_repeated_empty_strings_survive_because_the_core_api_group_is_empty() -> None:
    rule = ld(1, "get") + ld(2, "") + ld(3, "pods")
    obj = decode(envelope("rbac.authorization.k8s.io/v1", "Role", meta("r") + ld(2, rule)))
    assert obj["rules"] == [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]


def test_a_priority_class_keeps_a_zero_value_and_a_false_default() -> None:
    body = meta("pc") + num(2, 0) + num(3, 0) + ld(4, "") + ld(5, "Never")
    obj = decode(envelope("scheduling.k8s.io/v1", "PriorityClass", body))
    assert obj["value"] == 0 and obj["globalDefault"] is False
    assert obj["preemptionPolicy"] == "Never" and "description" not in obj


def test_negative_numbers_use_twos_complement() -> None:
    body = meta("pc") + num(2, -5)
    assert decode(envelope("scheduling.k8s.io/v1", "PriorityClass", body))["value"] == -5


def test_service_ports_decode_int_or_string_target_ports() -> None:
    by_number = ld(1, ld(1, "a") + ld(2, "TCP") + num(3, 80) + ld(4, num(2, 8080)))
    by_name = ld(1, ld(2, "TCP") + num(3, 81) + ld(4, num(1, 1) + ld(3, "http")))
    spec = by_number + by_name + entry(2, "app", "web") + ld(3, "None") + ld(4, "ClusterIP")
    obj = decode(envelope("v1", "Service", meta("web") + ld(2, spec) + ld(3, ld(1, b""))))
    assert obj["spec"] == {
        "ports": [
            {"name": "a", "protocol": "TCP", "port": 80, "targetPort": 8080},
            {"protocol": "TCP", "port": 81, "targetPort": "http"},
        ],
        "selector": {"app": "web"},
        "clusterIP": "None",
        "type": "ClusterIP",
    }


def test_an_eviction_keeps_a_zero_grace_period() -> None:
    body = meta("p", ld(3, "default")) + ld(2, num(1, 0) + ld(4, "Foreground"))
    obj = decode(envelope("policy/v1", "Eviction", body))
    assert obj["metadata"] == {"name": "p", "namespace": "default"}
    assert obj["deleteOptions"] == {"gracePeriodSeconds": 0, "propagationPolicy": "Foreground"}


def test_a_kind_without_a_table_is_unsupported_and_says_what_to_do() -> None:
    with pytest.raises(UnsupportedMediaType, match=r"StatefulSet.*manifest"):
        decode(envelope("apps/v1", "StatefulSet", meta("d")))


def test_a_deployment_from_kubectl_create_deployment_decodes() -> None:
    container = ld(1, "app") + ld(2, "nginx") + ld(6, num(3, 80) + ld(4, "TCP"))
    template = ld(1, entry(11, "app", "web")) + ld(2, ld(2, container))
    spec = num(1, 0) + ld(2, entry(1, "app", "web")) + ld(3, template) + ld(4, b"")
    obj = decode(envelope("apps/v1", "Deployment", meta("web") + ld(2, spec)))
    assert obj["spec"] == {
        "replicas": 0,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "nginx",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    }
                ]
            },
        },
        "strategy": {},
    }


def test_an_unknown_field_with_data_is_refused_rather_than_dropped() -> None:
    spec = ld(4, "ClusterIP") + ld(99, "something")
    with pytest.raises(UnsupportedMediaType, match=r"field 99 of Service\.spec"):
        decode(envelope("v1", "Service", meta("s") + ld(2, spec)))


def test_an_unknown_field_that_is_empty_is_ignored() -> None:
    spec = ld(4, "ClusterIP") + ld(99, "") + num(98, 0)
    assert decode(envelope("v1", "Service", meta("s") + ld(2, spec)))["spec"] == {
        "type": "ClusterIP"
    }


def test_a_body_without_the_magic_prefix_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="magic"):
        decode(b"{}")


def test_a_truncated_body_is_a_bad_request() -> None:
    whole = envelope("v1", "ConfigMap", meta("c") + entry(2, "a", "b"))
    with pytest.raises(BadRequest, match="truncated"):
        decode(whole[:-12])


def test_a_wrong_wire_type_names_the_field() -> None:
    with pytest.raises(BadRequest, match=r"ConfigMap\.metadata\.name"):
        decode(envelope("v1", "ConfigMap", ld(1, num(1, 7))))


def test_an_access_review_from_kubectl_auth_can_i_decodes() -> None:
    attrs = ld(1, "team-a") + ld(2, "get") + ld(3, "") + ld(5, "pods") + ld(6, "log")
    body = meta("") + ld(2, ld(1, attrs)) + ld(3, num(1, 0) + ld(2, ""))
    obj = decode(envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", body))
    assert obj["spec"] == {
        "resourceAttributes": {
            "namespace": "team-a",
            "verb": "get",
            "resource": "pods",
            "subresource": "log",
        }
    }


def test_a_time_out_of_range_is_a_bad_request_not_a_crash() -> None:
    created = ld(8, num(1, 1 << 40))
    with pytest.raises(BadRequest, match=r"creationTimestamp is not a valid time"):
        decode(envelope("v1", "Namespace", ld(1, ld(1, "n") + created)))


def test_deeply_nested_unknown_data_is_refused_without_recursing_forever() -> None:
    nested = ld(1, "x")
    for _ in range(3000):
        nested = ld(1, nested)
    with pytest.raises(UnsupportedMediaType, match=r"field 99 of Namespace\.metadata"):
        decode(envelope("v1", "Namespace", ld(1, ld(1, "n") + ld(99, nested))))


def test_a_varint_wider_than_64_bits_is_malformed() -> None:
    too_wide = varint(2 << 3) + bytes([0xFF] * 9) + b"\x7f"
    with pytest.raises(BadRequest, match="truncated or malformed"):
        decode(envelope("scheduling.k8s.io/v1", "PriorityClass", meta("pc") + too_wide))


@pytest.mark.parametrize("api_version", ["v1", "meta.k8s.io/v1", "apps/v1"])
def test_delete_options_of_typed_deletes_decode_under_any_group_version(api_version: str) -> None:
    # client-go's typed Delete (helm uninstall): propagationPolicy and a precondition.
    body = ld(2, ld(1, "uid-1")) + ld(4, "Background") + ld(5, "All")
    obj = decode(envelope(api_version, "DeleteOptions", body))
    assert obj["propagationPolicy"] == "Background"
    assert obj["preconditions"] == {"uid": "uid-1"}
    assert obj["dryRun"] == ["All"]
    assert "gracePeriodSeconds" not in obj
    assert decode(envelope("v1", "DeleteOptions", num(1, 0)))["gracePeriodSeconds"] == 0


# The body `kubectl autoscale deployment web --max=5 --cpu-percent=50` (kubectl 1.37.1) sent.
KUBECTL_137_AUTOSCALE = bytes.fromhex(
    "6b3873000a290a0e6175746f7363616c696e672f76321217486f72697a6f6e74616c506f644175746f7363616c"
    "6572125f0a130a0377656212001a0022002a0032003800420012420a1a0a0a4465706c6f796d656e7412037765"
    "621a07617070732f7631180522220a085265736f7572636522160a03637075120f0a0b5574696c697a6174696f"
    "6e20321a04180020001a002200"
)


def test_kubectl_autoscale_sends_an_autoscaling_v2_autoscaler_that_decodes() -> None:
    obj = decode(KUBECTL_137_AUTOSCALE)
    assert obj["apiVersion"] == "autoscaling/v2"
    assert obj["metadata"] == {"name": "web"}
    assert obj["spec"] == {
        "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
        "maxReplicas": 5,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50},
                },
            }
        ],
    }


def test_an_autoscaler_memory_target_keeps_its_quantity_and_a_container_metric_its_container() -> (
    None
):
    target = ld(1, "AverageValue") + ld(3, ld(1, "512Mi"))
    memory = ld(1, "Resource") + ld(4, ld(1, "memory") + ld(2, target))
    per_container = ld(1, "ContainerResource") + ld(
        7, ld(1, "cpu") + ld(2, ld(1, "Utilization") + num(4, 0)) + ld(3, "app")
    )
    ref = ld(1, ld(1, "Deployment") + ld(2, "web") + ld(3, "apps/v1"))
    spec = ref + num(2, 2) + num(3, 4) + ld(4, memory) + ld(4, per_container)
    obj = decode(envelope("autoscaling/v2", "HorizontalPodAutoscaler", meta("web") + ld(2, spec)))
    assert obj["spec"]["minReplicas"] == 2
    assert obj["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "memory",
                "target": {"type": "AverageValue", "averageValue": "512Mi"},
            },
        },
        {
            "type": "ContainerResource",
            "containerResource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 0},
                "container": "app",
            },
        },
    ]


def test_an_autoscaler_behavior_is_refused_with_the_manifest_hint_rather_than_dropped() -> None:
    spec = num(3, 4) + ld(5, ld(1, num(3, 60)))
    with pytest.raises(UnsupportedMediaType, match=r"field 5 of HorizontalPodAutoscaler\.spec"):
        decode(envelope("autoscaling/v2", "HorizontalPodAutoscaler", meta("w") + ld(2, spec)))
