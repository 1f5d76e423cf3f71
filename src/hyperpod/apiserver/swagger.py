"""``/openapi/v2``: one Swagger 2.0 document of every served kind, as JSON or as gnostic protobuf.

kubectl reads this document when a kind is missing from ``/openapi/v3`` (its validation of an
unknown kind, ``kubectl explain --output=plaintext-openapiv2``), and always asks for it as
``application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` (the ``openapi_v2.Document``
message of google/gnostic); every other client gets the JSON. Built-in kinds use Kubernetes'
own definitions (:mod:`hyperpod.apiserver.k8s_schemas`), custom resources their CRD schema.
"""

from __future__ import annotations

import copy
import struct
from collections.abc import Iterable
from typing import Any

import orjson

from hyperpod.apiserver import k8s_schemas, openapi

Schema = dict[str, Any]

PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"  # answered as
# client-go asks with "...spec.v2@v1.0+protobuf", which Go's mime parser cannot read back.
PROTOBUF_ACCEPT = "proto-openapi.spec.v2"
# Keywords Swagger 2.0 schemas cannot carry (OpenAPI v3 / structural-schema only).
_V3_ONLY = {"oneOf", "anyOf", "not", "nullable"}


def _v2_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_v2_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for k, v in node.items():
        if k in _V3_ONLY:
            continue
        if k == "$ref" and isinstance(v, str):
            out[k] = v.replace("#/components/schemas/", "#/definitions/")
        elif k in ("properties", "definitions") and isinstance(v, dict):
            out[k] = {p: _v2_schema(s) for p, s in v.items()}
        else:
            out[k] = _v2_schema(v)
    if "allOf" in out and len(out["allOf"]) == 1 and "$ref" in out["allOf"][0]:
        ref = out.pop("allOf")[0]["$ref"]
        out = {"$ref": ref, **out}
    return out


def _v2_param(p: Schema) -> Schema:
    out = {k: v for k, v in p.items() if k != "schema"}
    out.update({k: v for k, v in (p.get("schema") or {}).items() if k in ("type", "format")})
    return out


def _v2_op(op: Schema) -> Schema:
    out: Schema = {k: v for k, v in op.items() if k not in ("requestBody", "responses")}
    out["parameters"] = [_v2_param(p) for p in op.get("parameters", [])]
    body = op.get("requestBody")
    if body:
        content: Schema = body.get("content") or {}
        first: Schema = next(iter(content.values()), {})
        schema = first.get("schema", {})
        out["parameters"].append(
            {"name": "body", "in": "body", "required": True, "schema": _v2_schema(schema)}
        )
        out["consumes"] = list(content)
    responses: Schema = {}
    for code, resp in (op.get("responses") or {}).items():
        r: Schema = {"description": resp.get("description", "")}
        content = resp.get("content") or {}
        if content:
            r["schema"] = _v2_schema(next(iter(content.values())).get("schema", {}))
            out["produces"] = list(content)
        responses[code] = r
    out["responses"] = responses
    return out


def swagger_document(resources: Iterable[Any]) -> Schema:
    """The Swagger 2.0 document of every served group-version."""
    definitions: dict[str, Schema] = {}
    paths: dict[str, Schema] = {}
    for (group, version), _ in sorted(openapi.by_group_version(resources).items()):
        doc = openapi.openapi_document(resources, group, version)
        if doc is None:
            continue
        for name, schema in doc["components"]["schemas"].items():
            definitions[name] = _v2_schema(copy.deepcopy(schema))
        for path, item in doc["paths"].items():
            v2_item: Schema = {}
            for key, value in item.items():
                if key == "parameters":
                    v2_item[key] = [_v2_param(p) for p in value]
                else:
                    v2_item[key] = _v2_op(value)
            paths[path] = v2_item
    # The v3 components of built-in kinds are converted again from the source for v2 (IntOrString
    # and Quantity are plain strings there, not oneOf).
    upstream = [n for n in definitions if n in k8s_schemas.definitions()]
    definitions.update(k8s_schemas.converted(upstream, v3=False))
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": f"{k8s_schemas.SCHEMA_RELEASE}"},
        "paths": paths,
        "definitions": definitions,
    }


# --- gnostic protobuf (openapi_v2.Document) -------------------------------------------------


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len(field: int, data: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _str(field: int, text: str) -> bytes:
    return _len(field, text.encode()) if text else b""


def _int(field: int, n: int) -> bytes:
    return _varint(field << 3) + _varint(n) if n else b""


def _bool(field: int, v: bool) -> bytes:
    return _varint(field << 3) + b"\x01" if v else b""


def _double(field: int, v: float) -> bytes:
    return _varint(field << 3 | 1) + struct.pack("<d", float(v)) if v else b""


def _any(field: int, value: Any) -> bytes:
    # gnostic Any {yaml = 2}: JSON is YAML.
    return _len(field, _str(2, orjson.dumps(value).decode()))


def _named_any(field: int, name: str, value: Any) -> bytes:
    return _len(field, _str(1, name) + _any(2, value))


def _schema(s: Schema) -> bytes:
    out = bytearray()
    out += _str(1, s.get("$ref", ""))
    out += _str(2, s.get("format", ""))
    out += _str(3, s.get("title", ""))
    out += _str(4, s.get("description", ""))
    if "default" in s:
        out += _any(5, s["default"])
    out += _double(6, s.get("multipleOf", 0))
    out += _double(7, s.get("maximum", 0))
    out += _bool(8, bool(s.get("exclusiveMaximum")))
    out += _double(9, s.get("minimum", 0))
    out += _bool(10, bool(s.get("exclusiveMinimum")))
    out += _int(11, int(s.get("maxLength", 0)))
    out += _int(12, int(s.get("minLength", 0)))
    out += _str(13, s.get("pattern", ""))
    out += _int(14, int(s.get("maxItems", 0)))
    out += _int(15, int(s.get("minItems", 0)))
    out += _bool(16, bool(s.get("uniqueItems")))
    out += _int(17, int(s.get("maxProperties", 0)))
    out += _int(18, int(s.get("minProperties", 0)))
    for name in s.get("required") or []:
        out += _str(19, name)
    for value in s.get("enum") or []:
        out += _any(20, value)
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        out += _len(21, _len(1, _schema(extra)))
    elif isinstance(extra, bool):
        out += _len(21, _varint(2 << 3) + (b"\x01" if extra else b"\x00"))
    kind = s.get("type")
    if kind:
        kinds = kind if isinstance(kind, list) else [kind]
        out += _len(22, b"".join(_str(1, k) for k in kinds))
    items = s.get("items")
    if isinstance(items, dict):
        out += _len(23, _len(1, _schema(items)))
    for sub in s.get("allOf") or []:
        out += _len(24, _schema(sub))
    props = s.get("properties")
    if isinstance(props, dict):
        out += _len(
            25, b"".join(_len(1, _str(1, n) + _len(2, _schema(p))) for n, p in props.items())
        )
    out += _bool(27, bool(s.get("readOnly")))
    for key, value in s.items():
        if key.startswith("x-"):
            out += _named_any(31, key, value)
    return bytes(out)


def _parameter(p: Schema) -> bytes:
    where = p.get("in", "")
    if where == "body":
        body = (
            _str(2, p.get("name", ""))
            + _str(3, where)
            + _bool(4, bool(p.get("required")))
            + _len(5, _schema(p.get("schema") or {}))
        )
        return _len(1, _len(1, body))  # ParametersItem.parameter -> Parameter.body_parameter
    common = _bool(1, bool(p.get("required"))) + _str(2, where) + _str(4, p.get("name", ""))
    if where == "path":
        sub = _len(4, common + _str(5, p.get("type", "")))
    else:  # query
        sub = _len(3, common + _str(6, p.get("type", "")) + _bool(20, bool(p.get("uniqueItems"))))
    return _len(1, _len(2, sub))  # ParametersItem.parameter -> Parameter.non_body_parameter


def _operation(op: Schema) -> bytes:
    out = bytearray()
    out += _str(5, op.get("operationId", ""))
    for media in op.get("produces") or []:
        out += _str(6, media)
    for media in op.get("consumes") or []:
        out += _str(7, media)
    for p in op.get("parameters") or []:
        out += _len(8, _parameter(p))
    codes = b""
    for code, resp in (op.get("responses") or {}).items():
        r = _str(1, resp.get("description", ""))
        if "schema" in resp:
            r += _len(2, _len(1, _schema(resp["schema"])))
        codes += _len(1, _str(1, code) + _len(2, _len(1, r)))
    out += _len(9, codes)
    for key, value in op.items():
        if key.startswith("x-"):
            out += _named_any(13, key, value)
    return bytes(out)


_VERBS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def encode(doc: Schema) -> bytes:
    """``doc`` as the gnostic ``openapi_v2.Document`` protobuf kubectl decodes."""
    out = bytearray()
    out += _str(1, doc.get("swagger", "2.0"))
    info = doc.get("info") or {}
    out += _len(2, _str(1, info.get("title", "")) + _str(2, info.get("version", "")))
    paths = b""
    for path, item in (doc.get("paths") or {}).items():
        body = bytearray()
        for verb, field in _VERBS.items():
            if verb in item:
                body += _len(field, _operation(item[verb]))
        for p in item.get("parameters") or []:
            body += _len(9, _parameter(p))
        paths += _len(2, _str(1, path) + _len(2, bytes(body)))
    out += _len(8, paths)
    defs = b"".join(
        _len(1, _str(1, name) + _len(2, _schema(s)))
        for name, s in (doc.get("definitions") or {}).items()
    )
    out += _len(9, defs)
    return bytes(out)


_CACHE: dict[tuple[str, bool], bytes] = {}


def document_bytes(resources: Iterable[Any], *, protobuf: bool) -> bytes:
    """The encoded document, computed once per set of served resources and encoding."""
    served = [s for group in openapi.by_group_version(resources).values() for s in group]
    key = (openapi.fingerprint(served), protobuf)
    body = _CACHE.get(key)
    if body is None:
        doc = swagger_document(served)
        body = encode(doc) if protobuf else orjson.dumps(doc)
        if len(_CACHE) >= 8:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = body
    return body
