"""/openapi/v2: the Swagger 2.0 document and its gnostic protobuf encoding."""

from __future__ import annotations

from hyperpod.apiserver import k8s_schemas, swagger
from hyperpod.apiserver.openapi import ServedResource
from hyperpod.apiserver.protobuf import _fields

RESOURCES = [
    ServedResource("", "v1", "Pod", "pods", True),
    ServedResource("", "v1", "Service", "services", True),
]


def test_definitions_are_upstream_kubernetes_schemas() -> None:
    doc = swagger.swagger_document(RESOURCES)
    defs = doc["definitions"]
    spec = defs["io.k8s.api.core.v1.PodSpec"]
    containers = spec["properties"]["containers"]
    assert containers["items"] == {"$ref": "#/definitions/io.k8s.api.core.v1.Container"}
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert "containers" in spec["required"]
    assert defs[k8s_schemas.QUANTITY]["type"] == "string"


def test_the_protobuf_form_carries_every_definition_by_name() -> None:
    doc = swagger.swagger_document(RESOURCES)
    raw = swagger.encode(doc)
    top = {n: v for n, _, v in _fields(raw) if n != 8 and n != 9}
    assert top[1] == b"2.0"
    defs = next(v for n, _, v in _fields(raw) if n == 9)
    assert isinstance(defs, bytes)
    names = set()
    for _, _, named in _fields(defs):
        assert isinstance(named, bytes)
        names.add(next(v for n, _, v in _fields(named) if n == 1))
    assert {name.encode() for name in doc["definitions"]} == names


def test_v3_components_use_upstream_names_and_oneof_for_int_or_string() -> None:
    out = k8s_schemas.converted([k8s_schemas.definition_name("", "v1", "Service") or ""], v3=True)
    port = out["io.k8s.api.core.v1.ServicePort"]["properties"]["targetPort"]
    assert port["allOf"] == [{"$ref": "#/components/schemas/" + k8s_schemas.INT_OR_STRING}]
    assert out[k8s_schemas.INT_OR_STRING]["oneOf"] == [{"type": "integer"}, {"type": "string"}]
