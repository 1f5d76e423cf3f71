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


# --- aggregated discovery (apidiscovery.k8s.io) ---------------------------------------------
# kubectl 1.30+ asks /api and /apis for an APIGroupDiscoveryList and then needs no request per
# group-version. The content is the legacy documents' content in the v2 shape.

AGGREGATED_VERSIONS = ("v2", "v2beta1")


def aggregated_version(accept: str) -> str | None:
    """The apidiscovery version the client asks for first in JSON, or None for legacy."""
    for media in accept.split(","):
        kind, *params = (p.strip() for p in media.split(";"))
        if kind not in ("application/json", "*/*"):
            continue
        opts = dict(p.partition("=")[::2] for p in params)
        if opts.get("g") != "apidiscovery.k8s.io" or opts.get("as") != "APIGroupDiscoveryList":
            continue
        if opts.get("v") in AGGREGATED_VERSIONS:
            return opts["v"]
    return None


def content_type(version: str) -> str:
    return f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"


def _discovered(rt: ResourceType, version: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": sorted(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = rt.short_names
    if rt.categories:
        entry["categories"] = rt.categories
    subs = []
    for sub in rt.subresources:
        sub_group, sub_version, verbs = _SUB_KINDS.get(sub, (None, None, ["get"]))
        subs.append(
            {
                "subresource": sub,
                "responseKind": {
                    "group": rt.group if sub_group is None else sub_group,
                    "version": version if sub_version is None else sub_version,
                    "kind": _SUB_KIND_NAMES.get(sub, rt.kind),
                },
                "verbs": verbs,
            }
        )
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(catalog: Catalog, *, core: bool, version: str) -> dict[str, Any]:
    """The APIGroupDiscoveryList of /api (``core``) or /apis, with the same content as the
    legacy documents."""
    items = []
    for group, versions in sorted(catalog.groups().items()):
        if (group == "") != core:
            continue
        entries = []
        for v in versions:
            resources = [
                _discovered(rt, v)
                for rt in sorted(catalog.all(), key=lambda r: r.plural)
                if rt.group == group and v in rt.versions
            ]
            entries.append({"version": v, "resources": resources, "freshness": "Current"})
        meta: dict[str, Any] = {"name": group} if group else {}
        meta["creationTimestamp"] = None
        items.append({"metadata": meta, "versions": entries})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": items,
    }
