"""Legacy API discovery documents (/api, /apis, /api/v1, /apis/<group>/<version>)."""

from __future__ import annotations

import hashlib
from typing import Any

from hyperpod.apiserver.resources import Catalog, ResourceType

_SUB_KINDS = {
    "status": (None, None, ["get", "patch", "update"]),
    "scale": ("autoscaling", "v1", ["get", "patch", "update"]),
    "log": (None, None, ["get"]),
    "exec": (None, None, ["create", "get"]),
    "attach": (None, None, ["create", "get"]),
    "portforward": (None, None, ["create", "get"]),
    "binding": ("", "v1", ["create"]),
    "eviction": ("policy", "v1", ["create"]),
    "finalize": (None, None, ["update"]),
}
_SUB_KIND_NAMES = {
    "scale": "Scale",
    "binding": "Binding",
    "eviction": "Eviction",
    "exec": "PodExecOptions",
    "attach": "PodAttachOptions",
    "portforward": "PodPortForwardOptions",
}

# Only the core group version answers /api; every other group is under /apis.
_LOCALHOST = [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]


def api_versions() -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": _LOCALHOST}


def _group_entry(group: str, versions: list[str]) -> dict[str, Any]:
    vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": vs, "preferredVersion": vs[0]}


def api_group_list(catalog: Catalog) -> dict[str, Any]:
    groups = [_group_entry(g, vs) for g, vs in sorted(catalog.groups().items()) if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(catalog: Catalog, group: str) -> dict[str, Any] | None:
    versions = catalog.groups().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def _storage_hash(rt: ResourceType) -> str:
    return hashlib.sha256(f"{rt.group}/{rt.version}/{rt.kind}".encode()).hexdigest()[:11]


def api_resource_list(catalog: Catalog, group: str, version: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for rt in sorted(catalog.all(), key=lambda r: r.plural):
        if rt.group != group or version not in rt.versions:
            continue
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": sorted(rt.verbs),
            "storageVersionHash": _storage_hash(rt),
        }
        if rt.short_names:
            entry["shortNames"] = rt.short_names
        if rt.categories:
            entry["categories"] = rt.categories
        resources.append(entry)
        for sub in rt.subresources:
            sub_group, sub_version, verbs = _SUB_KINDS.get(sub, (None, None, ["get"]))
            item: dict[str, Any] = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": _SUB_KIND_NAMES.get(sub, rt.kind),
                "verbs": verbs,
            }
            if sub_group is not None:
                item["group"] = sub_group
                item["version"] = sub_version
            resources.append(item)
    gv = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }
