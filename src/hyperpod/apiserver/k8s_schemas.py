"""Kubernetes' own schemas of built-in kinds, as OpenAPI v3 components or Swagger 2.0 definitions.

The source is the JSON Schema set that the ``kubernetes-validate`` package ships per Kubernetes
release (generated upstream from kube-apiserver's OpenAPI), read from the installed package for
the release this server reports. Definitions keep upstream names (``io.k8s.api.core.v1.Pod``),
descriptions, required fields, group-version-kinds and list/patch extensions; the converter
only undoes the JSON Schema specifics (nullable ``type`` lists, ``$defs`` references, pinned
``apiVersion``/``kind`` enums).
"""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

Schema = dict[str, Any]

SCHEMA_RELEASE = "v1.32.0"
_DEFS_REF = "#/$defs/"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"


def _schema_file() -> Path | None:
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        path = (
            Path(loc) / "kubernetes-json-schema" / f"{SCHEMA_RELEASE}-local" / "_definitions.json"
        )
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=1)
def definitions() -> dict[str, Schema]:
    """Upstream definitions by name (JSON Schema form); empty when the package is missing."""
    path = _schema_file()
    if path is None:
        return {}
    doc = json.loads(path.read_text())
    defs: dict[str, Schema] = doc.get("$defs") or doc.get("definitions") or {}
    return defs


@lru_cache(maxsize=1)
def _by_gvk() -> dict[tuple[str, str, str], str]:
    out: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
            # DeleteOptions & co. are listed under every group; the kind's own package wins.
            if key not in out or name.startswith("io.k8s.api."):
                out[key] = name
    return out


def definition_name(group: str, version: str, kind: str) -> str | None:
    """The upstream definition name of a built-in kind, e.g. ``io.k8s.api.core.v1.Pod``."""
    return _by_gvk().get((group, version, kind))


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS_REF):
            out.add(ref[len(_DEFS_REF) :])
        for value in node.values():
            _refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _refs(value, out)


def closure(names: list[str]) -> list[str]:
    """The named definitions and every definition they reference, in discovery order."""
    defs = definitions()
    seen: list[str] = []
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.append(name)
        found: set[str] = set()
        _refs(defs[name], found)
        todo.extend(sorted(found - set(seen)))
    return seen


def _convert(node: Any, ref_prefix: str, v3: bool, key: str = "") -> Any:
    if isinstance(node, list):
        return [_convert(v, ref_prefix, v3) for v in node]
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for k, v in node.items():
        if k == "type" and isinstance(v, list):
            types = [t for t in v if t != "null"]
            if len(types) == 1:
                out[k] = types[0]
            elif types:
                out[k] = types
        elif k == "$ref" and isinstance(v, str) and v.startswith(_DEFS_REF):
            out[k] = ref_prefix + v[len(_DEFS_REF) :]
        elif k == "enum" and key in ("apiVersion", "kind"):
            continue  # pinned by the JSON Schema generator, not by Kubernetes
        elif k == "properties" and isinstance(v, dict):
            out[k] = {p: _convert(s, ref_prefix, v3, p) for p, s in v.items()}
        else:
            out[k] = _convert(v, ref_prefix, v3, k)
    if "$ref" in out and len(out) > 1 and v3:
        # OpenAPI v3 ignores siblings of a $ref; kube-apiserver wraps the reference in allOf.
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    return out


def _special(name: str, schema: Schema, v3: bool) -> Schema | None:
    description = schema.get("description")
    base: Schema = {"description": description} if description else {}
    if name == QUANTITY:
        if v3:
            return {**base, "oneOf": [{"type": "string"}, {"type": "number"}]}
        return {**base, "type": "string"}
    if name == INT_OR_STRING:
        if v3:
            return {**base, "oneOf": [{"type": "integer"}, {"type": "string"}]}
        return {**base, "type": "string", "format": "int-or-string"}
    return None


def converted(names: list[str], *, v3: bool) -> dict[str, Schema]:
    """The named definitions and their references, as OpenAPI v3 components or v2 definitions."""
    defs = definitions()
    prefix = "#/components/schemas/" if v3 else "#/definitions/"
    out: dict[str, Schema] = {}
    for name in closure(names):
        schema = defs[name]
        out[name] = _special(name, schema, v3) or _convert(schema, prefix, v3)
    return out
