"""The PyTorchJob CRD, defaulting and validation behave like the upstream webhook."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from hyperpod.api import pytorchjob as api


def job(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": "mnist", "namespace": "default"},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": pod_template()},
                "Worker": {"replicas": 2, "template": pod_template()},
            }
        },
    }
    body["spec"].update(spec)
    return body


def pod_template(name: str = "pytorch", image: str | None = "python") -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "command": ["python", "-c", "pass"]}
    if image is not None:
        container["image"] = image
    return {"spec": {"containers": [container]}}


def fields(causes: list[dict[str, str]]) -> list[str]:
    return [c["field"] for c in causes]


def test_the_crd_has_status_and_scale_subresources_and_a_state_column() -> None:
    crd = api.crd()
    version = crd["spec"]["versions"][0]
    assert crd["metadata"]["name"] == "pytorchjobs.kubeflow.org"
    assert crd["spec"]["scope"] == "Namespaced"
    assert version["name"] == "v1" and version["served"] and version["storage"]
    assert version["subresources"]["status"] == {}
    scale = version["subresources"]["scale"]
    assert scale["specReplicasPath"] == ".spec.pytorchReplicaSpecs.Worker.replicas"
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "State": ".status.conditions[-1:].type",
        "Age": ".metadata.creationTimestamp",
    }


def test_the_generated_schema_is_structural() -> None:
    text = json.dumps(api.openapi_schema())
    for forbidden in ("$ref", "anyOf", "oneOf", '"title"', '"null"', "$defs"):
        assert forbidden not in text

    def walk(node: dict[str, Any], path: str) -> None:
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{name}")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}[*]")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")

    walk(api.openapi_schema(), "")


def test_pod_templates_keep_unknown_fields_and_spec_requires_replica_specs() -> None:
    spec = api.openapi_schema()["properties"]["spec"]
    replica = spec["properties"]["pytorchReplicaSpecs"]["additionalProperties"]
    assert replica["properties"]["template"]["x-kubernetes-preserve-unknown-fields"] is True
    assert replica["properties"]["restartPolicy"]["enum"] == list(api.RESTART_POLICIES)
    assert spec["required"] == ["pytorchReplicaSpecs"]
    status = api.openapi_schema()["properties"]["status"]["properties"]
    assert {"conditions", "replicaStatuses", "startTime", "restartCount"} <= set(status)


def test_defaulting_normalises_replica_types_and_fills_policies_and_the_port() -> None:
    obj = job()
    obj["spec"]["pytorchReplicaSpecs"] = {
        "master": {"template": pod_template()},
        "WORKER": {"replicas": 3, "template": pod_template()},
    }
    api.default(obj)
    replicas = obj["spec"]["pytorchReplicaSpecs"]
    assert set(replicas) == {"Master", "Worker"}
    assert replicas["Master"]["replicas"] == 1
    assert replicas["Worker"]["restartPolicy"] == "OnFailure"
    ports = replicas["Master"]["template"]["spec"]["containers"][0]["ports"]
    assert ports == [{"name": "pytorchjob-port", "containerPort": 23456, "protocol": "TCP"}]
    run_policy = obj["spec"]["runPolicy"]
    assert run_policy["cleanPodPolicy"] == "None"
    assert run_policy["suspend"] is False
    assert run_policy["managedBy"] == "kubeflow.org/training-operator"
    assert obj["spec"]["nprocPerNode"] == "auto"


def test_defaulting_keeps_a_user_port_and_is_idempotent() -> None:
    obj = job()
    container = obj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    container["ports"] = [{"name": "pytorchjob-port", "containerPort": 29500}]
    api.default(obj)
    once = copy.deepcopy(obj)
    api.default(obj)
    assert obj == once
    assert container["ports"] == [{"name": "pytorchjob-port", "containerPort": 29500}]


@pytest.mark.parametrize(
    ("elastic", "expected"),
    [
        ({}, (2, 2)),
        ({"minReplicas": 1}, (1, 1)),
        ({"maxReplicas": 4}, (4, 4)),
        ({"minReplicas": 1, "maxReplicas": 3}, (1, 3)),
    ],
)
def test_elastic_min_and_max_copy_each_other_or_the_worker_count(
    elastic: dict[str, int], expected: tuple[int, int]
) -> None:
    obj = job(elasticPolicy=dict(elastic))
    del obj["spec"]["pytorchReplicaSpecs"]["Master"]
    api.default(obj)
    policy = obj["spec"]["elasticPolicy"]
    assert (policy["minReplicas"], policy["maxReplicas"]) == expected


def test_a_well_formed_job_is_valid() -> None:
    assert api.validate(api.defaulted(job()), None) == []


def test_two_masters_are_rejected_naming_the_field() -> None:
    obj = job()
    obj["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = 2
    causes = api.validate(api.defaulted(obj), None)
    assert fields(causes) == ["spec.pytorchReplicaSpecs.Master.replicas"]
    assert causes[0]["message"] == "Invalid value: 2: must be 1"


def test_zero_workers_are_rejected() -> None:
    obj = job()
    obj["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = 0
    assert fields(api.validate(api.defaulted(obj), None)) == [
        "spec.pytorchReplicaSpecs.Worker.replicas"
    ]


def test_a_job_without_a_pytorch_container_is_rejected() -> None:
    obj = job()
    obj["spec"]["pytorchReplicaSpecs"]["Worker"]["template"] = pod_template(name="trainer")
    causes = api.validate(api.defaulted(obj), None)
    assert fields(causes) == ["spec.pytorchReplicaSpecs.Worker.template.spec.containers"]
    assert '"pytorch"' in causes[0]["message"]


def test_a_container_without_an_image_is_rejected() -> None:
    obj = job()
    obj["spec"]["pytorchReplicaSpecs"]["Worker"]["template"] = pod_template(image=None)
    assert fields(api.validate(api.defaulted(obj), None)) == [
        "spec.pytorchReplicaSpecs.Worker.template.spec.containers[0].image"
    ]


@pytest.mark.parametrize("name", ["1abc", "My-Job", "job_1", "job-", "a" * 64])
def test_a_name_that_is_not_a_dns_1035_label_is_rejected(name: str) -> None:
    obj = job()
    obj["metadata"]["name"] = name
    causes = api.validate(api.defaulted(obj), None)
    assert fields(causes) == ["metadata.name"]
    assert "RFC 1035" in causes[0]["message"]


def test_an_unknown_restart_policy_is_rejected_with_the_supported_values() -> None:
    obj = job()
    obj["spec"]["pytorchReplicaSpecs"]["Worker"]["restartPolicy"] = "Sometimes"
    causes = api.validate(api.defaulted(obj), None)
    assert fields(causes) == ["spec.pytorchReplicaSpecs.Worker.restartPolicy"]
    assert '"ExitCode"' in causes[0]["message"]


def test_an_unknown_replica_type_is_rejected() -> None:
    obj = job()
    obj["spec"]["pytorchReplicaSpecs"]["Chief"] = {"template": pod_template()}
    assert fields(api.validate(api.defaulted(obj), None)) == ["spec.pytorchReplicaSpecs"]


def test_elastic_policy_without_workers_is_rejected() -> None:
    obj = job(elasticPolicy={"minReplicas": 1, "maxReplicas": 2})
    del obj["spec"]["pytorchReplicaSpecs"]["Worker"]
    assert "spec.pytorchReplicaSpecs.Worker" in fields(api.validate(api.defaulted(obj), None))


def test_elastic_min_above_max_and_a_bad_backend_are_rejected() -> None:
    obj = job(elasticPolicy={"minReplicas": 3, "maxReplicas": 2, "rdzvBackend": "zk"})
    assert fields(api.validate(api.defaulted(obj), None)) == [
        "spec.elasticPolicy.minReplicas",
        "spec.elasticPolicy.rdzvBackend",
    ]


@pytest.mark.parametrize("value", ["auto", "cpu", "gpu", "4"])
def test_nproc_per_node_accepts_words_and_numbers(value: str) -> None:
    assert api.validate(api.defaulted(job(nprocPerNode=value)), None) == []


@pytest.mark.parametrize("value", ["0", "many", "-1"])
def test_nproc_per_node_rejects_anything_else(value: str) -> None:
    assert fields(api.validate(api.defaulted(job(nprocPerNode=value)), None)) == [
        "spec.nprocPerNode"
    ]


def test_run_policy_rejects_negative_numbers_and_unknown_clean_policies() -> None:
    obj = job(runPolicy={"backoffLimit": -1, "cleanPodPolicy": "Some"})
    assert fields(api.validate(api.defaulted(obj), None)) == [
        "spec.runPolicy.cleanPodPolicy",
        "spec.runPolicy.backoffLimit",
    ]


def test_managed_by_cannot_change_after_create() -> None:
    old = api.defaulted(job())
    new = copy.deepcopy(old)
    new["spec"]["runPolicy"]["managedBy"] = "kueue.x-k8s.io/multikueue"
    assert fields(api.validate(new, old)) == ["spec.runPolicy.managedBy"]
    assert api.validate(copy.deepcopy(old), old) == []


def test_auto_resume_annotations_must_be_well_formed() -> None:
    obj = job()
    obj["metadata"]["annotations"] = {
        api.ANNOTATION_AUTO_RESUME: "yes",
        api.ANNOTATION_MAX_RETRY: "three",
    }
    assert len(api.validate(api.defaulted(obj), None)) == 2
