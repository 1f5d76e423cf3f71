"""Checks shared by every kind: unknown fields of built-in kinds and custom-resource metadata."""

from __future__ import annotations

import copy
from typing import Any

from hyperpod.apiserver import errors, names, openapi, schema


def unknown_fields(kind: str, obj: dict[str, Any]) -> list[str]:
    """Paths (``.spec.foo``) of fields a built-in ``kind`` does not have."""
    sch = openapi.builtin_schema(kind)
    if sch is None:
        return []
    _, unknown = schema.apply_schema(copy.deepcopy(obj), sch, prune=True)
    return unknown


def validate_object_meta(obj: dict[str, Any], namespaced: bool) -> list[dict[str, str]]:
    """Name and label rules every custom resource follows too."""
    causes: list[dict[str, str]] = []
    md = obj.get("metadata") or {}
    name = md.get("name") or ""
    for msg in names.is_dns1123_subdomain(name) if name else ["Required value"]:
        causes.append(errors.cause("metadata.name", f'Invalid value: "{name}": {msg}'))
    for field in ("labels", "annotations"):
        value = md.get(field)
        if value is not None and (
            not isinstance(value, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            causes.append(
                errors.cause(
                    f"metadata.{field}", "Invalid value: must be a map of string to string"
                )
            )
    return causes
