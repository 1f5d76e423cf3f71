"""The HyperPodPyTorchJob CRD: structural schema, printer columns, defaulting, validation."""

from __future__ import annotations

from typing import Any

from hyperpod.api import hyperpod_job as api


def job(**spec: Any) -> dict[str, Any]:
    template = {"spec": {"containers": [{"name": "c", "image": "local/python"}]}}
    body = {"replicaSpecs": [{"name": "pod", "replicas": 2, "template": template}], **spec}
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": "j"},
        "spec": body,
    }


def walk(node: Any) -> list[dict[str, Any]]:
    out = []
    if isinstance(node, dict):
        out.append(node)
        for value in node.values():
            out += walk(value)
    elif isinstance(node, list):
        for value in node:
            out += walk(value)
    return out


def test_the_crd_names_the_kind_the_real_cli_checks_for() -> None:
    crd = api.crd()
    assert crd["metadata"]["name"] == "hyperpodpytorchjobs.sagemaker.amazonaws.com"
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "State",
        "Restarts",
        "Master",
        "Age",
    ]


def test_the_schema_is_structural_with_the_sdk_field_names() -> None:
    schema = api.openapi_schema()
    for node in walk(schema):
        assert "$ref" not in node and "anyOf" not in node
    spec = schema["properties"]["spec"]["properties"]
    replica = spec["replicaSpecs"]["items"]["properties"]
    assert set(replica) == {"name", "replicas", "maxReplicas", "spares", "template"}
    run = spec["runPolicy"]["properties"]
    assert {"jobMaxRetryCount", "restartPolicy", "logMonitoringConfiguration"} <= set(run)
    assert set(run["restartPolicy"]["properties"]) == {
        "evalPeriodSeconds",
        "maxFullJobRestarts",
        "numRestartBeforeFullJobRestart",
        "maxNumRepeatOffendersToAvoid",
        "scaleUpSnoozeTimeInSeconds",
    }
    status = schema["properties"]["status"]["properties"]
    assert {"masterAddr", "masterPort", "restartStatus", "jobPods"} <= set(status)
    assert "lastUpdateTime" not in status["conditions"]["items"]["properties"]


def test_defaulting_turns_a_number_of_processes_into_a_string() -> None:
    out = api.defaulted(job(nprocPerNode=2))
    assert out["spec"]["nprocPerNode"] == "2"
    assert out["spec"]["runPolicy"] == {"cleanPodPolicy": "Running", "suspend": False}
    assert api.defaulted(job())["spec"]["nprocPerNode"] == "auto"


def test_validation_names_each_bad_field() -> None:
    bad = job(nprocPerNode="many", runPolicy={"jobMaxRetryCount": -1})
    bad["spec"]["replicaSpecs"].append(dict(bad["spec"]["replicaSpecs"][0]))
    fields = {c["field"] for c in api.validate(bad, None)}
    assert fields == {
        "spec.nprocPerNode",
        "spec.runPolicy.jobMaxRetryCount",
        "spec.replicaSpecs[1].name",
    }
    assert api.validate(api.defaulted(job()), None) == []


def test_a_log_pattern_must_be_a_regular_expression() -> None:
    rule = {"name": "loss", "logPattern": "loss (", "expectedRecurringFrequencyInSeconds": 5}
    causes = api.validate(job(runPolicy={"logMonitoringConfiguration": [rule]}), None)
    assert [c["field"] for c in causes] == [
        "spec.runPolicy.logMonitoringConfiguration[0].logPattern"
    ]
