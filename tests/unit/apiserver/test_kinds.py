"""Per-kind strategies through the generic registry: defaults, validation, tables, fields."""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod.apiserver import kinds, tables
from hyperpod.apiserver.errors import Invalid
from hyperpod.apiserver.registry import Registry


def deployment(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
            },
            **spec,
        },
    }


def test_every_registered_kind_is_served_by_the_catalog(registry: Registry) -> None:
    for rt in kinds.resource_types():
        assert registry.catalog.get(rt.name) is rt or registry.catalog.get(rt.name) is not None
    assert kinds.strategy_for("Service") is None


def test_core_kinds_have_store_strategies_but_keep_their_place_in_the_catalog() -> None:
    names = [rt.name for rt in kinds.resource_types()]
    for kind in ("Pod", "Namespace", "CustomResourceDefinition"):
        strategy = kinds.strategy_for(kind)
        assert strategy is not None and not strategy.serves_type()
    assert "pods" not in names and "namespaces" not in names


def test_a_deployment_gets_kubernetes_defaults_and_no_null_template_timestamp(
    registry: Registry,
) -> None:
    made = registry.create("deployments.apps", deployment(), "default")
    spec = made["spec"]
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    assert "creationTimestamp" not in spec["template"]["metadata"]
    assert spec["template"]["spec"]["restartPolicy"] == "Always"


def test_a_selector_that_misses_the_template_labels_is_invalid(registry: Registry) -> None:
    bad = deployment(selector={"matchLabels": {"app": "other"}})
    with pytest.raises(Invalid) as err:
        registry.create("deployments.apps", bad, "default")
    assert any(c["field"] == "spec.template.metadata.labels" for c in err.value.causes)


def test_a_deployments_selector_is_immutable(registry: Registry) -> None:
    made = registry.create("deployments.apps", deployment(), "default")
    made["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    made["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    with pytest.raises(Invalid, match="immutable"):
        registry.update("deployments.apps", made, "default")


def test_a_job_gets_a_generated_selector_and_labels_from_its_uid(registry: Registry) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}
            }
        },
    }
    made = registry.create("jobs.batch", job, "default")
    uid = made["metadata"]["uid"]
    assert made["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = made["spec"]["template"]["metadata"]["labels"]
    assert labels["batch.kubernetes.io/job-name"] == "j" and labels["controller-uid"] == uid
    assert (
        made["spec"]["completions"],
        made["spec"]["parallelism"],
        made["spec"]["backoffLimit"],
    ) == (1, 1, 6)


def test_a_job_can_be_selected_by_status_successful(registry: Registry) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}
            }
        },
    }
    registry.create("jobs.batch", job, "default")
    assert [
        j["metadata"]["name"]
        for j in registry.list("jobs.batch", "default", field_selector="status.successful=0")
    ] == ["j"]
    assert registry.list("jobs.batch", "default", field_selector="status.successful=1") == []


def test_the_deployment_table_has_kubectls_columns(registry: Registry) -> None:
    made = registry.create("deployments.apps", deployment(replicas=3), "default")
    made["status"] = {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    table = tables.to_table("Deployment", [made])
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names[:5] == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert table["rows"][0]["cells"][:4] == ["web", "2/3", 3, 2]


def test_pod_templates_are_stored_defaulted_and_validated(registry: Registry) -> None:
    tmpl = {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": "base"},
        "template": {
            "metadata": {"labels": {"app": "base"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        },
    }
    made = registry.create("podtemplates", tmpl, "default")
    assert made["template"]["spec"]["restartPolicy"] == "Always"
    table = tables.to_table("PodTemplate", [made])
    assert table["rows"][0]["cells"][1:4] == ["c", "busybox", "app=base"]
    tmpl["metadata"]["name"] = "broken"
    tmpl["template"]["spec"] = {"containers": []}
    with pytest.raises(Invalid):
        registry.create("podtemplates", tmpl, "default")
