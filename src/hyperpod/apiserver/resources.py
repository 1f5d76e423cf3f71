"""The catalog of served resource types: built-in kinds plus every CRD that is created.

A resource is addressed like kubectl addresses it: ``pods``, ``leases.coordination.k8s.io``,
``pytorchjobs.kubeflow.org`` (plural, then ``.group`` unless core), optionally ``/sub``.
"""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver import kinds
from hyperpod.apiserver.errors import NotFound
from hyperpod.apiserver.resourcetype import ALL_VERBS as ALL_VERBS
from hyperpod.apiserver.resourcetype import (
    CLUSTER_VERBS_NO_COLLECTION as CLUSTER_VERBS_NO_COLLECTION,
)
from hyperpod.apiserver.resourcetype import ResourceType as ResourceType


def _core(
    kind: str,
    plural: str,
    namespaced: bool,
    short: list[str] | None = None,
    sub: list[str] | None = None,
    cats: list[str] | None = None,
    verbs: list[str] | None = None,
) -> ResourceType:
    return ResourceType(
        "",
        "v1",
        kind,
        plural,
        kind.lower(),
        namespaced,
        short or [],
        cats or [],
        verbs or list(ALL_VERBS),
        sub or [],
    )


def builtin_types() -> list[ResourceType]:
    """The built-in kinds the embedded control plane serves."""
    return [
        _core(
            "Namespace",
            "namespaces",
            False,
            ["ns"],
            ["status", "finalize"],
            verbs=CLUSTER_VERBS_NO_COLLECTION,
        ),
        _core("Node", "nodes", False, ["no"], ["status"]),
        _core(
            "Pod",
            "pods",
            True,
            ["po"],
            ["status", "log", "exec", "attach", "portforward", "binding", "eviction"],
            ["all"],
        ),
        _core("Service", "services", True, ["svc"], ["status"], ["all"]),
        _core("Endpoints", "endpoints", True, ["ep"]),
        _core("Event", "events", True, ["ev"]),
        _core("ConfigMap", "configmaps", True, ["cm"]),
        _core("Secret", "secrets", True),
        _core("ServiceAccount", "serviceaccounts", True, ["sa"], ["token"]),
        ResourceType("coordination.k8s.io", "v1", "Lease", "leases", "lease", True),
        ResourceType(
            "discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", True
        ),
        ResourceType(
            "scheduling.k8s.io",
            "v1",
            "PriorityClass",
            "priorityclasses",
            "priorityclass",
            False,
            ["pc"],
        ),
        ResourceType("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", True),
        ResourceType(
            "rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", True
        ),
        ResourceType(
            "rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", False
        ),
        ResourceType(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            "clusterrolebinding",
            False,
        ),
        ResourceType(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            "customresourcedefinition",
            False,
            ["crd", "crds"],
            [],
            list(ALL_VERBS),
            ["status"],
        ),
        *review_types(),
        *kinds.resource_types(),
    ]


def review_types() -> list[ResourceType]:
    """Access reviews (see reviews.py): create-only, answered, never stored."""
    return [
        ResourceType(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            "selfsubjectaccessreview",
            False,
            verbs=["create"],
            virtual=True,
        ),
        ResourceType(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
            "selfsubjectrulesreview",
            False,
            verbs=["create"],
            virtual=True,
        ),
        ResourceType(
            "authorization.k8s.io",
            "v1",
            "SubjectAccessReview",
            "subjectaccessreviews",
            "subjectaccessreview",
            False,
            verbs=["create"],
            virtual=True,
        ),
        ResourceType(
            "authorization.k8s.io",
            "v1",
            "LocalSubjectAccessReview",
            "localsubjectaccessreviews",
            "localsubjectaccessreview",
            True,
            verbs=["create"],
            virtual=True,
        ),
        ResourceType(
            "authentication.k8s.io",
            "v1",
            "SelfSubjectReview",
            "selfsubjectreviews",
            "selfsubjectreview",
            False,
            verbs=["create"],
            virtual=True,
        ),
    ]


def from_crd(crd: dict[str, Any]) -> ResourceType:
    """The resource type a (valid) CustomResourceDefinition serves."""
    spec = crd["spec"]
    names = spec["names"]
    versions = [v for v in spec["versions"] if v.get("served", True)]
    storage = next((v for v in spec["versions"] if v.get("storage")), versions[0])
    ordered = [storage["name"]] + [v["name"] for v in versions if v["name"] != storage["name"]]
    subs: list[str] = []
    sub_spec = storage.get("subresources") or {}
    if "status" in sub_spec:
        subs.append("status")
    if "scale" in sub_spec:
        subs.append("scale")
    schemas: dict[str, dict[str, Any]] = {}
    columns: dict[str, list[dict[str, Any]]] = {}
    for v in spec["versions"]:
        sch = (v.get("schema") or {}).get("openAPIV3Schema")
        if sch:
            schemas[v["name"]] = sch
        columns[v["name"]] = list(v.get("additionalPrinterColumns") or [])
    return ResourceType(
        group=spec["group"],
        version=storage["name"],
        kind=names["kind"],
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        short_names=list(names.get("shortNames") or []),
        categories=list(names.get("categories") or []),
        subresources=subs,
        versions=ordered,
        schemas=schemas,
        printer_columns=columns,
        scale=sub_spec.get("scale"),
        crd=True,
    )


class Catalog:
    """Lookup of resource types by catalog name, by group/version/plural and by kind."""

    def __init__(self) -> None:
        self._by_name: dict[str, ResourceType] = {}
        self.generation = 0  # bumped on every change (discovery/openapi caches key on it)
        self._groups: tuple[int, dict[str, list[str]]] = (-1, {})
        for rt in builtin_types():
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._by_name[rt.name] = rt
        self.generation += 1

    def remove(self, name: str) -> None:
        if self._by_name.pop(name, None) is not None:
            self.generation += 1

    def all(self) -> list[ResourceType]:
        return list(self._by_name.values())

    def get(self, name: str) -> ResourceType | None:
        return self._by_name.get(name)

    def resolve(self, resource: str) -> tuple[ResourceType, str | None]:
        """``"pods/status"`` -> (pods, "status"). Raises NotFound for unknown resources."""
        name, _, sub = resource.partition("/")
        rt = self._by_name.get(name)
        if rt is None:
            raise NotFound(f"the server could not find the requested resource ({resource})")
        if sub and sub not in rt.subresources:
            raise NotFound(f"the server could not find the requested resource ({resource})")
        return rt, (sub or None)

    def by_path(self, group: str, version: str, plural: str) -> ResourceType | None:
        rt = self._by_name.get(f"{plural}.{group}" if group else plural)
        if rt is None or version not in rt.versions:
            return None
        return rt

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rt in self._by_name.values():
            if rt.group == group and rt.kind == kind and version in rt.versions:
                return rt
        return None

    def groups(self) -> dict[str, list[str]]:
        """group -> served versions (storage version first), core group as "" (read only).

        Every request checks its group and version here, so the map is kept until the catalog
        changes: rebuilt per call it was ~2 % of the control plane's CPU under load."""
        if self._groups[0] == self.generation:
            return self._groups[1]
        out: dict[str, list[str]] = {}
        for rt in self._by_name.values():
            vs = out.setdefault(rt.group, [])
            for v in rt.versions:
                if v not in vs:
                    vs.append(v)
        self._groups = (self.generation, out)
        return out
