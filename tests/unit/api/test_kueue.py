"""Kueue CRD manifests, defaulting and validation hooks."""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod.api import kueue


def _cq(spec: dict[str, Any]) -> dict[str, Any]:
    obj = {
        "apiVersion": kueue.API_VERSION,
        "kind": "ClusterQueue",
        "metadata": {"name": "q"},
        "spec": spec,
    }
    kueue.default(obj)
    return obj


def _rg(*flavors: str, limit: str | None = None) -> list[dict[str, Any]]:
    res: dict[str, Any] = {"name": "cpu", "nominalQuota": "10"}
    if limit:
        res["borrowingLimit"] = limit
    return [
        {
            "coveredResources": ["cpu"],
            "flavors": [{"name": f, "resources": [dict(res)]} for f in flavors],
        }
    ]


def _fields(obj: dict[str, Any]) -> list[str]:
    return [c["field"] for c in kueue.validate(obj, None)]


def test_seven_kinds_are_served_with_kubectl_short_names_and_printer_columns() -> None:
    crds = {c["spec"]["names"]["kind"]: c for c in kueue.crds()}
    assert sorted(crds) == [
        "ClusterQueue",
        "Cohort",
        "LocalQueue",
        "ResourceFlavor",
        "Topology",
        "Workload",
        "WorkloadPriorityClass",
    ]
    assert crds["ClusterQueue"]["spec"]["names"]["shortNames"] == ["cq"]
    assert crds["LocalQueue"]["spec"]["names"]["shortNames"] == ["queue", "queues", "lq"]
    assert crds["Workload"]["spec"]["names"]["shortNames"] == ["wl"]
    assert "rf" in crds["ResourceFlavor"]["spec"]["names"]["shortNames"]
    wl_cols = [
        c["name"] for c in crds["Workload"]["spec"]["versions"][0]["additionalPrinterColumns"]
    ]
    assert wl_cols == ["Queue", "Reserved in", "Admitted", "Finished", "Age"]
    for crd in crds.values():
        versions = crd["spec"]["versions"]
        assert [v["name"] for v in versions] == ["v1beta1", "v1beta2"]
        assert [v["storage"] for v in versions] == [True, False]
    assert crds["ClusterQueue"]["spec"]["scope"] == "Cluster"
    assert crds["Workload"]["spec"]["scope"] == "Namespaced"


def test_a_cluster_queue_gets_kueue_defaults() -> None:
    spec = _cq({"resourceGroups": _rg("default")})["spec"]
    assert spec["queueingStrategy"] == "BestEffortFIFO"
    assert spec["namespaceSelector"] == {}
    assert spec["preemption"] == {
        "reclaimWithinCohort": "Never",
        "withinClusterQueue": "Never",
        "borrowWithinCohort": {"policy": "Never"},
    }
    assert spec["flavorFungibility"] == {
        "whenCanBorrow": "MayStopSearch",
        "whenCanPreempt": "TryNextFlavor",
    }
    assert spec["stopPolicy"] == "None"


def test_a_v1beta2_cohort_name_is_read_as_the_cohort() -> None:
    assert _cq({"cohortName": "team"})["spec"]["cohort"] == "team"


def test_a_valid_cluster_queue_passes() -> None:
    assert _fields(_cq({"cohort": "c", "resourceGroups": _rg("a", "b", limit="5")})) == []


def test_a_borrowing_limit_without_a_cohort_is_refused() -> None:
    errs = kueue.validate(_cq({"resourceGroups": _rg("default", limit="5")}), None)
    assert [e["field"] for e in errs] == [
        "spec.resourceGroups[0].flavors[0].resources[0].borrowingLimit"
    ]
    assert "must be nil when cohort is empty" in errs[0]["message"]


def test_a_flavor_listed_twice_is_refused() -> None:
    errs = kueue.validate(_cq({"resourceGroups": _rg("default", "default")}), None)
    assert [e["reason"] for e in errs] == ["FieldValueDuplicate"]
    assert errs[0]["field"] == "spec.resourceGroups[0].flavors[1].name"


def test_borrow_within_cohort_without_reclaim_is_refused() -> None:
    obj = _cq({"cohort": "c", "preemption": {"borrowWithinCohort": {"policy": "LowerPriority"}}})
    assert _fields(obj) == ["spec.preemption"]


def test_a_bad_quota_and_mismatched_resources_name_their_fields() -> None:
    rg = [
        {
            "coveredResources": ["cpu", "memory"],
            "flavors": [{"name": "f", "resources": [{"name": "cpu", "nominalQuota": "ten"}]}],
        }
    ]
    assert _fields(_cq({"resourceGroups": rg})) == [
        "spec.resourceGroups[0].flavors[0].resources",
        "spec.resourceGroups[0].flavors[0].resources[0].nominalQuota",
    ]


def test_a_lending_limit_above_the_nominal_quota_is_refused() -> None:
    rg = _rg("f")
    rg[0]["flavors"][0]["resources"][0]["lendingLimit"] = "11"
    assert _fields(_cq({"cohort": "c", "resourceGroups": rg})) == [
        "spec.resourceGroups[0].flavors[0].resources[0].lendingLimit"
    ]


def test_a_local_queue_needs_a_cluster_queue_that_cannot_change() -> None:
    lq = {"kind": "LocalQueue", "metadata": {"name": "lq"}, "spec": {}}
    assert _fields(lq) == ["spec.clusterQueue"]
    old = {"kind": "LocalQueue", "metadata": {"name": "lq"}, "spec": {"clusterQueue": "a"}}
    new = {"kind": "LocalQueue", "metadata": {"name": "lq"}, "spec": {"clusterQueue": "b"}}
    assert [c["message"] for c in kueue.validate(new, old)] == ["Invalid value: field is immutable"]


def test_a_workload_is_defaulted_and_checked() -> None:
    wl = {
        "kind": "Workload",
        "metadata": {"name": "w"},
        "spec": {
            "podSets": [
                {
                    "template": {
                        "spec": {
                            "containers": [{"name": "c", "resources": {"requests": {"cpu": "x"}}}]
                        }
                    }
                }
            ]
        },
    }
    kueue.default(wl)
    assert wl["spec"]["active"] is True
    assert wl["spec"]["podSets"][0]["count"] == 1 and wl["spec"]["podSets"][0]["name"] == "main"
    assert _fields(wl) == ["spec.podSets[0].template.spec.containers[0].resources.requests.cpu"]
    empty = {"kind": "Workload", "metadata": {"name": "w"}, "spec": {"podSets": []}}
    assert _fields(empty) == ["spec.podSets"]


def test_a_priority_class_needs_an_integer_value() -> None:
    assert _fields(
        {"kind": "WorkloadPriorityClass", "metadata": {"name": "p"}, "value": "high"}
    ) == ["value"]
    assert _fields({"kind": "WorkloadPriorityClass", "metadata": {"name": "p"}, "value": 100}) == []


def test_a_flavor_taint_needs_a_known_effect() -> None:
    rf = {
        "kind": "ResourceFlavor",
        "metadata": {"name": "f"},
        "spec": {"nodeTaints": [{"key": "k", "effect": "Sometimes"}]},
    }
    assert _fields(rf) == ["spec.nodeTaints[0].effect"]


@pytest.mark.parametrize(
    ("text", "thousandths"),
    [
        ("500m", 500),
        ("2", 2000),
        (8, 8000),
        ("1Gi", 1024**3 * 1000),
        ("1.5", 1500),
        ("1e3", 1_000_000),
        ("1n", 1),
    ],
)
def test_quantities_are_counted_in_thousandths(text: Any, thousandths: int) -> None:
    assert kueue.milli(text) == thousandths


def test_quantities_format_back_to_short_strings() -> None:
    assert kueue.format_milli("cpu", 500) == "500m"
    assert kueue.format_milli("nvidia.com/gpu", 8000) == "8"
    assert kueue.format_milli("memory", 16 * 1024**3 * 1000) == "16Gi"
