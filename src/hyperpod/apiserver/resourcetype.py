"""What the API serves for one resource: group, version, kind, names, verbs, subresources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
CLUSTER_VERBS_NO_COLLECTION = ["create", "delete", "get", "list", "patch", "update", "watch"]


@dataclass
class ResourceType:
    group: str
    version: str  # the storage (and preferred) version
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    verbs: list[str] = field(default_factory=lambda: list(ALL_VERBS))
    subresources: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)  # every served version, storage first
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)  # version -> openAPIV3Schema
    printer_columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    scale: dict[str, Any] | None = None  # CRD scale subresource paths
    crd: bool = False
    preserve_unknown: bool = False  # no schema: keep whatever is sent
    virtual: bool = False  # create-only, answered and never stored (access reviews)

    def __post_init__(self) -> None:
        if not self.versions:
            self.versions = [self.version]

    @property
    def name(self) -> str:
        """``plural.group`` (or ``plural`` for the core group): the catalog key."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def api_version_for(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def key(self, namespace: str | None, name: str) -> str:
        """The storage key of one object."""
        if self.namespaced:
            return f"/{self.name}/{namespace}/{name}"
        return f"/{self.name}/{name}"

    def prefix(self, namespace: str | None = None) -> str:
        """The storage key prefix of a collection (all namespaces when ``namespace`` is None)."""
        if self.namespaced and namespace:
            return f"/{self.name}/{namespace}/"
        return f"/{self.name}/"
