"""The Grafana dashboards are valid import JSON and their PromQL names are parsed correctly."""

from __future__ import annotations

import pytest

from dashboard_names import dashboards, expressions, metric_names

EXPECTED = {"cluster.json", "queues.json", "jobs.json", "gpus.json"}


def test_there_is_a_dashboard_for_the_cluster_queues_jobs_and_gpus() -> None:
    assert set(dashboards()) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_dashboard_is_a_grafana_10_import_document(name: str) -> None:
    d = dashboards()[name]
    assert d["uid"].startswith("hyperpod-") and d["title"].startswith("HyperPod / ")
    assert d["schemaVersion"] >= 36
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in d["templating"]["list"]}
    assert "datasource" in variables
    for panel in d["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
    for expr in expressions(d):
        for ref in {w[1:] for w in expr.split() if w.startswith("$")}:
            assert ref.strip("\"'{}()[],") in variables, (name, expr)


def test_metric_names_skip_functions_labels_keywords_and_durations() -> None:
    expr = (
        "histogram_quantile(0.9, sum by (le, cluster_queue) "
        '(rate(kueue_admission_wait_time_seconds_bucket{cluster_queue=~"a|b"}[15m])))'
        " / on (cluster_queue) kueue_cluster_queue_nominal_quota > 0"
    )
    assert metric_names(expr) == {
        "kueue_admission_wait_time_seconds_bucket",
        "kueue_cluster_queue_nominal_quota",
    }
    assert metric_names("label_values(DCGM_FI_DEV_GPU_UTIL, Hostname)") == {"DCGM_FI_DEV_GPU_UTIL"}
    assert metric_names("topk(10, apiserver_storage_objects)") == {"apiserver_storage_objects"}
