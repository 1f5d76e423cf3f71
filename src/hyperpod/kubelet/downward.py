"""Downward-API values shared by env vars and volumes: ``resourceFieldRef``, and its error."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hyperpod.apiserver.quantity import parse_quantity


class EnvError(Exception):
    """The container cannot be configured (CreateContainerConfigError)."""


def resource_field_value(
    pod: Mapping[str, Any],
    ref: Mapping[str, Any],
    container: str | None,
    node_allocatable: Mapping[str, str] | None = None,
) -> str:
    """``resourceFieldRef`` value: the request/limit divided by ``divisor``, rounded up."""
    resource = ref.get("resource", "")
    cname = ref.get("containerName") or container
    containers = (pod.get("spec") or {}).get("containers") or []
    inits = (pod.get("spec") or {}).get("initContainers") or []
    match = [c for c in containers + inits if c.get("name") == cname]
    if not match:
        raise EnvError(f"resourceFieldRef: container {cname!r} not found")
    kind, _, res = resource.partition(".")
    if kind not in ("limits", "requests") or not res:
        raise EnvError(f"resourceFieldRef: unsupported resource {resource!r}")
    resources = match[0].get("resources") or {}
    value = (resources.get(kind) or {}).get(res)
    if value is None and kind == "requests":
        value = (resources.get("limits") or {}).get(res)
    if value is None:
        value = (node_allocatable or {}).get(res) if kind == "limits" else "0"
    if value is None:
        value = "0"
    divisor = parse_quantity(ref.get("divisor") or "1")
    if divisor == 0:
        raise EnvError("resourceFieldRef: divisor must not be 0")
    return str(math.ceil(parse_quantity(value) / divisor))
