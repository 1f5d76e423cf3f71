"""Jobs on clusters that serve one job kind, both, or neither (as an EKS cluster may).

The transport is a small in-memory stand-in for the custom-objects API that answers like a
Kubernetes API server: an unserved resource is a 404 whose body says the server could not find
the requested resource; a missing object is a 404 naming the object.
"""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod.client.errors import JobNotFound, KindNotServed
from hyperpod.client.jobs import Jobs
from hyperpod.client.lean import ApiException

NOT_SERVED = '{"kind":"Status","message":"the server could not find the requested resource"}'


class Custom:
    def __init__(self, served: dict[str, list[dict[str, Any]]]) -> None:
        self.served = served  # plural -> objects

    def _items(self, plural: str) -> list[dict[str, Any]]:
        if plural not in self.served:
            raise ApiException(404, "Not Found", NOT_SERVED)
        return self.served[plural]

    def list_namespaced_custom_object(
        self, group: str, version: str, ns: str, plural: str, **_: Any
    ) -> dict[str, Any]:
        return {"items": list(self._items(plural)), "metadata": {}}

    def get_namespaced_custom_object(
        self, group: str, version: str, ns: str, plural: str, name: str
    ) -> dict[str, Any]:
        for obj in self._items(plural):
            if obj["metadata"]["name"] == name:
                return obj
        raise ApiException(404, "Not Found", f'{{"message":"{plural} \\"{name}\\" not found"}}')

    def create_namespaced_custom_object(
        self, group: str, version: str, ns: str, plural: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self._items(plural).append(body)
        return body


class Kube:
    def __init__(self, custom: Custom) -> None:
        self._custom = custom

    def custom(self) -> Custom:
        return self._custom

    def core(self) -> Any:
        return self  # read_namespace: the namespace exists

    def read_namespace(self, name: str) -> dict[str, Any]:
        return {"metadata": {"name": name}}


def job(kind: str, name: str) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": "default"}}


def test_a_kubeflow_only_cluster_lists_and_gets_its_jobs() -> None:
    jobs = Jobs(Kube(Custom({"pytorchjobs": [job("PyTorchJob", "kf")]})))  # type: ignore[arg-type]
    assert [j["metadata"]["name"] for j in jobs.list_jobs("default")] == ["kf"]
    assert jobs.get("kf", "default")["kind"] == "PyTorchJob"
    with pytest.raises(JobNotFound):
        jobs.get("nope", "default")


def test_both_kinds_are_listed_and_the_hyperpod_job_wins_a_shared_name() -> None:
    custom = Custom(
        {
            "pytorchjobs": [job("PyTorchJob", "same"), job("PyTorchJob", "kf")],
            "hyperpodpytorchjobs": [job("HyperPodPyTorchJob", "same")],
        }
    )
    jobs = Jobs(Kube(custom))  # type: ignore[arg-type]
    assert len(jobs.list_jobs("default")) == 3
    assert jobs.get("same", "default")["kind"] == "HyperPodPyTorchJob"


def test_creating_an_unserved_kind_names_it_and_the_other_kind() -> None:
    jobs = Jobs(Kube(Custom({"pytorchjobs": []})))  # type: ignore[arg-type]
    manifest = job("HyperPodPyTorchJob", "hp")
    with pytest.raises(KindNotServed) as err:
        jobs.create(manifest)
    assert "sagemaker.amazonaws.com/v1 HyperPodPyTorchJobs" in err.value.message
    assert "--kind pytorchjob" in err.value.hint


def test_a_cluster_serving_neither_kind_says_so() -> None:
    jobs = Jobs(Kube(Custom({})))  # type: ignore[arg-type]
    with pytest.raises(KindNotServed):
        jobs.list_jobs("default")
    with pytest.raises(KindNotServed):
        jobs.get("x", "default")
