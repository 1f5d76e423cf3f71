"""``/openapi/v3``: the index and per-group-version documents, and built-in kinds' schemas.

Schemas of built-in kinds are derived from the installed ``kubernetes`` package's models
(``openapi_types`` + ``attribute_map``), so they list exactly the fields the official client
knows. Lists that merge by key carry ``x-kubernetes-patch-strategy``/``-merge-key`` matching
:mod:`hyperpod.apiserver.patching`, so kubectl computes the same patches the server applies.
Custom resources use their CRD's structural schema. Every operation kubectl looks for is
present (``patch`` with ``x-kubernetes-group-version-kind`` and a ``fieldValidation``
parameter); descriptions and required fields come from the models' field metadata (the inline
schemas for unknown-field checks leave them out). Documents are computed once per set of
resources.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, NamedTuple

from hyperpod.apiserver import k8s_schemas
from hyperpod.apiserver.patching import BUILTIN_GROUPS, SET, list_merge_key

Schema = dict[str, Any]


class ServedResource(NamedTuple):
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    schema: dict[str, Any] | None = None


_MODEL_BY_KIND = {
    ("", "Event"): "CoreV1Event",
    ("", "EventList"): "CoreV1EventList",
    ("events.k8s.io", "Event"): "EventsV1Event",
    ("events.k8s.io", "EventList"): "EventsV1EventList",
    # Stored as autoscaling/v2 (unknown-field checks look kinds up without their group).
    ("", "HorizontalPodAutoscaler"): "V2HorizontalPodAutoscaler",
    ("autoscaling", "HorizontalPodAutoscaler"): "V2HorizontalPodAutoscaler",
}
_PRIMITIVES: dict[str, Schema] = {
    "str": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "float": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "bytes": {"type": "string", "format": "byte"},
    "object": {"x-kubernetes-preserve-unknown-fields": True},
}
_LIST = re.compile(r"^List\[(.+)\]$")
_DICT = re.compile(r"^Dict\[str, (.+)\]$")
OBJECT_META = "V1ObjectMeta"


@lru_cache(maxsize=1)
def _models() -> Any:
    """The ``kubernetes.client`` package, imported on first use (it is slow to import)."""
    from kubernetes import client

    return client


def model_class(kind: str, group: str = "") -> Any | None:
    """The ``kubernetes.client`` model class of a built-in kind, if any."""
    name = _MODEL_BY_KIND.get((group, kind), f"V1{kind}")
    cls = getattr(_models(), name, None)
    return cls if cls is not None and hasattr(cls, "openapi_types") else None


class _Builder:
    """Turns model classes into schemas: inline (for validation) or as ``$ref`` components."""

    def __init__(self, kind: str, inline: bool) -> None:
        self.kind = kind
        self.inline = inline
        self.components: dict[str, Schema] = {}

    def type_schema(self, type_name: str, names: tuple[str, ...], stack: tuple[str, ...]) -> Schema:
        if type_name in _PRIMITIVES:
            return dict(_PRIMITIVES[type_name])
        m = _LIST.match(type_name)
        if m:
            out: Schema = {"type": "array", "items": self.type_schema(m.group(1), names, stack)}
            key = list_merge_key(self.kind, names)
            if key == SET:
                out["x-kubernetes-patch-strategy"] = "merge"
                out["x-kubernetes-list-type"] = "set"
            elif key is not None:
                out["x-kubernetes-patch-strategy"] = "merge"
                out["x-kubernetes-patch-merge-key"] = key
                out["x-kubernetes-list-type"] = "map"
                out["x-kubernetes-list-map-keys"] = [key]
            return out
        m = _DICT.match(type_name)
        if m:
            return {
                "type": "object",
                "additionalProperties": self.type_schema(m.group(1), names, stack),
            }
        return self.model_schema(type_name, names, stack)

    def model_schema(self, cls_name: str, names: tuple[str, ...], stack: tuple[str, ...]) -> Schema:
        cls = getattr(_models(), cls_name, None)
        if cls is None or not hasattr(cls, "openapi_types"):
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        if self.inline:
            if cls_name in stack:  # recursive models (JSONSchemaProps) stop here
                return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            return self.properties_of(cls, names, (*stack, cls_name))
        if cls_name not in self.components:
            self.components[cls_name] = {}  # placeholder breaks cycles
            self.components[cls_name] = self.properties_of(cls, names, (*stack, cls_name))
        return {"$ref": f"#/components/schemas/{cls_name}"}

    def properties_of(self, cls: Any, names: tuple[str, ...], stack: tuple[str, ...]) -> Schema:
        props: Schema = {}
        required: list[str] = []
        fields = getattr(cls, "model_fields", None) or {}
        for attr, type_name in cls.openapi_types.items():
            json_name = cls.attribute_map.get(attr, attr)
            prop = self.type_schema(type_name, (*names, json_name), stack)
            info = fields.get(attr)
            if not self.inline and info is not None:
                # Descriptions and required fields make ``kubectl explain`` useful.
                if info.description and "$ref" in prop:
                    # Like Kubernetes: siblings of a $ref are ignored, so wrap it in allOf.
                    prop = {"allOf": [prop], "description": info.description}
                elif info.description:
                    prop = {**prop, "description": info.description}
                if info.is_required():
                    required.append(json_name)
            props[json_name] = prop
        out: Schema = {"type": "object", "properties": props}
        if not self.inline:
            doc = _class_description(cls)
            if doc:
                out["description"] = doc
            if required:
                out["required"] = required
        return out


def _class_description(cls: Any) -> str:
    """The first paragraph of a generated model's docstring (the API description)."""
    text = (cls.__doc__ or "").strip()
    if not text or text.startswith("Attributes:"):
        return ""
    first = text.split("\n\n", 1)[0]
    return " ".join(first.split())


@lru_cache(maxsize=128)
def builtin_schema(kind: str, group: str = "") -> Schema | None:
    """An inline structural schema of a built-in kind (for unknown-field checks), or None.

    Cached and shared between callers: treat it as read-only (``apply_schema`` does).
    """
    cls = model_class(kind, group)
    if cls is None:
        return None
    return _Builder(kind, inline=True).properties_of(cls, (), (cls.__name__,))


# --- documents -----------------------------------------------------------------------------


def _served(r: Any) -> list[ServedResource]:
    """Served resources from a tuple, a ``ServedResource`` or a catalog entry (every version)."""
    if isinstance(r, ServedResource):
        return [r]
    if isinstance(r, tuple):
        return [ServedResource(*r)]
    schema = getattr(r, "schema", None)
    schemas = getattr(r, "schemas", None) or {}
    versions = list(getattr(r, "versions", None) or [r.version])
    return [
        ServedResource(
            r.group,
            v,
            r.kind,
            r.plural,
            bool(r.namespaced),
            schema if schema is not None and v == r.version else schemas.get(v),
        )
        for v in versions
    ]


def gv_path(group: str, version: str) -> str:
    """``api/v1`` or ``apis/<group>/<version>``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _op_id(verb: str, r: ServedResource, namespaced: bool, collection: bool) -> str:
    group = "".join(p.capitalize() for p in (r.group or "core").split(".")[:1])
    scope = "Namespaced" if namespaced else ""
    suffix = "Collection" if collection and verb == "delete" else ""
    return f"{verb}{group}{r.version.capitalize()}{suffix}{scope}{r.kind}"


def _param(name: str, where: str, schema: Schema, required: bool = False) -> Schema:
    out: Schema = {"name": name, "in": where, "schema": schema, "uniqueItems": True}
    if required:
        out["required"] = True
    return out


_STR = {"type": "string"}
_QUERY_WRITE = [
    _param("dryRun", "query", _STR),
    _param("fieldManager", "query", _STR),
    _param("fieldValidation", "query", _STR),
]
_QUERY_LIST = [
    _param(n, "query", {"type": "integer"} if n in ("limit", "timeoutSeconds") else _STR)
    for n in (
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "resourceVersion",
        "timeoutSeconds",
        "watch",
        "allowWatchBookmarks",
    )
]


def _json_content(ref: Schema) -> Schema:
    return {
        media: {"schema": ref}
        for media in ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
    }


def _paths_for(r: ServedResource, ref: Schema, list_ref: Schema) -> dict[str, Schema]:
    gvk = {"group": r.group, "version": r.version, "kind": r.kind}
    base = "/" + gv_path(r.group, r.version)
    coll = f"{base}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{base}/{r.plural}"
    item = f"{coll}/{{name}}"
    ok = {"200": {"description": "OK", "content": _json_content(ref)}}
    created = {**ok, "201": {"description": "Created", "content": _json_content(ref)}}
    scope_params = [_param("namespace", "path", _STR, required=True)] if r.namespaced else []

    def op(verb: str, action: str, responses: Schema, params: list[Schema], **extra: Any) -> Schema:
        return {
            "operationId": _op_id(verb, r, r.namespaced, action == "deletecollection"),
            "parameters": params,
            "responses": responses,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            **extra,
        }

    patch_body = {
        "content": {
            media: {"schema": {"type": "object"}}
            for media in (
                "application/apply-patch+yaml",
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
            )
        },
        "required": True,
    }
    list_ok = {"200": {"description": "OK", "content": _json_content(list_ref)}}
    return {
        coll: {
            "parameters": scope_params,
            "get": op("list", "list", list_ok, _QUERY_LIST),
            "post": op(
                "create",
                "post",
                created,
                _QUERY_WRITE,
                requestBody={"content": _json_content(ref), "required": True},
            ),
            "delete": op("delete", "deletecollection", ok, _QUERY_LIST),
        },
        item: {
            "parameters": [_param("name", "path", _STR, required=True), *scope_params],
            "get": op("read", "get", ok, []),
            "put": op(
                "replace",
                "put",
                created,
                _QUERY_WRITE,
                requestBody={"content": _json_content(ref), "required": True},
            ),
            "patch": op(
                "patch",
                "patch",
                created,
                [*_QUERY_WRITE, _param("force", "query", {"type": "boolean"})],
                requestBody=patch_body,
            ),
            "delete": op("delete", "delete", ok, [_param("dryRun", "query", _STR)]),
        },
    }


def _crd_component_name(r: ServedResource, kind: str) -> str:
    return ".".join(reversed(r.group.split("."))) + f".{r.version}.{kind}"


def _document(resources: list[ServedResource]) -> Schema:
    components: dict[str, Schema] = {}
    paths: dict[str, Schema] = {}
    if k8s_schemas.definitions():
        components.update(
            k8s_schemas.converted([k8s_schemas.OBJECT_META, k8s_schemas.LIST_META], v3=True)
        )
        meta_ref = {"$ref": f"#/components/schemas/{k8s_schemas.OBJECT_META}"}
        list_meta_ref = {"$ref": f"#/components/schemas/{k8s_schemas.LIST_META}"}
    else:
        meta_builder = _Builder("", inline=False)
        meta_ref = meta_builder.model_schema(OBJECT_META, ("metadata",), ())
        list_meta_ref = meta_builder.model_schema("V1ListMeta", ("metadata",), ())
        components.update(meta_builder.components)
    for r in sorted(resources, key=lambda x: x.plural):
        gvk = [{"group": r.group, "version": r.version, "kind": r.kind}]
        upstream = (
            k8s_schemas.definition_name(r.group, r.version, r.kind)
            if r.schema is None and r.group in BUILTIN_GROUPS
            else None
        )
        if upstream is not None:
            # Kubernetes' own definitions, names and all (io.k8s.api.core.v1.Pod).
            list_upstream = k8s_schemas.definition_name(r.group, r.version, f"{r.kind}List")
            names = [upstream, *([list_upstream] if list_upstream else [])]
            components.update(k8s_schemas.converted(names, v3=True))
            ref = {"$ref": f"#/components/schemas/{upstream}"}
            list_ref = {"$ref": f"#/components/schemas/{list_upstream or upstream}"}
            paths.update(_paths_for(r, ref, list_ref))
            continue
        cls = (
            model_class(r.kind, r.group) if r.schema is None and r.group in BUILTIN_GROUPS else None
        )
        if cls is not None:
            builder = _Builder(r.kind, inline=False)
            ref = builder.model_schema(cls.__name__, (), ())
            components.update(builder.components)
            name = cls.__name__
        else:
            name = _crd_component_name(r, r.kind) if r.group else r.kind
            schema: Schema = copy.deepcopy(r.schema) if r.schema else {"type": "object"}
            schema.setdefault("type", "object")
            props: Schema = schema.setdefault("properties", {})
            props["apiVersion"] = {"type": "string"}
            props["kind"] = {"type": "string"}
            props["metadata"] = meta_ref
            if not r.schema:
                schema["x-kubernetes-preserve-unknown-fields"] = True
            components[name] = schema
            ref = {"$ref": f"#/components/schemas/{name}"}
        components[name] = {**components[name], "x-kubernetes-group-version-kind": gvk}
        list_name = f"{name}List"
        components[list_name] = {
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": list_meta_ref,
                "items": {"type": "array", "items": ref},
            },
            "x-kubernetes-group-version-kind": [
                {"group": r.group, "version": r.version, "kind": f"{r.kind}List"}
            ],
        }
        paths.update(_paths_for(r, ref, {"$ref": f"#/components/schemas/{list_name}"}))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": components},
    }


def _by_gv(resources: Iterable[Any]) -> dict[tuple[str, str], list[ServedResource]]:
    out: dict[tuple[str, str], list[ServedResource]] = {}
    for r in resources:
        for s in _served(r):
            out.setdefault((s.group, s.version), []).append(s)
    return out


by_group_version = _by_gv


def fingerprint(resources: list[ServedResource]) -> str:
    text = json.dumps([list(r) for r in sorted(resources)], sort_keys=True, default=str)
    return hashlib.sha512(text.encode()).hexdigest().upper()


_DOC_CACHE: dict[str, Schema] = {}
_DOC_CACHE_MAX = 64


def openapi_index(resources: Iterable[Any]) -> Schema:
    """The ``/openapi/v3`` body: one entry per served group-version with a content hash."""
    paths = {
        gv_path(group, version): {
            "serverRelativeURL": f"/openapi/v3/{gv_path(group, version)}?hash={fingerprint(rs)}"
        }
        for (group, version), rs in sorted(_by_gv(resources).items())
    }
    return {"paths": paths}


def openapi_document(resources: Iterable[Any], group: str, version: str) -> Schema | None:
    """The OpenAPI v3 document of one group-version, or None when nothing is served there."""
    served = _by_gv(resources).get((group, version))
    if not served:
        return None
    key = fingerprint(served)
    doc = _DOC_CACHE.get(key)
    if doc is None:
        doc = _document(served)
        if len(_DOC_CACHE) >= _DOC_CACHE_MAX:
            _DOC_CACHE.pop(next(iter(_DOC_CACHE)))
        _DOC_CACHE[key] = doc
    return doc


def parse_gv_path(path: str) -> tuple[str, str] | None:
    """``(group, version)`` from ``api/v1`` or ``apis/g/v`` (what follows ``/openapi/v3/``)."""
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "api":
        return "", parts[1]
    if len(parts) == 3 and parts[0] == "apis":
        return parts[1], parts[2]
    return None
