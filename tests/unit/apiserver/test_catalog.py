"""The resource catalog's group/version map follows CRDs as they come and go."""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver.resources import Catalog, from_crd


def widget_crd(versions: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": v,
                    "served": True,
                    "storage": i == 0,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
                for i, v in enumerate(versions)
            ],
        },
    }


def test_groups_list_a_crd_once_added_and_its_new_versions_and_forget_it_once_removed() -> None:
    catalog = Catalog()
    assert "example.com" not in catalog.groups()
    assert catalog.groups()["apps"] == ["v1"]
    catalog.add(from_crd(widget_crd(["v1"])))
    assert catalog.groups()["example.com"] == ["v1"]
    catalog.add(from_crd(widget_crd(["v1", "v2"])))
    assert catalog.groups()["example.com"] == ["v1", "v2"]
    catalog.remove("widgets.example.com")
    assert "example.com" not in catalog.groups()
