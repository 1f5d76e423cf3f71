"""A HyperPodPyTorchJob's progress goes to an annotation, never into its status.

The real ``sagemaker-hyperpod`` SDK parses a job's status with ``extra="forbid"`` models
(ours in ``hyperpod.api.hyperpod_job`` mirror them), so an unknown status field would break
its list and describe. Progress comes from the rank-0 pod (node-rank label 0), not from the
pod whose name sorts first.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hyperpod.api import hyperpod_job as api
from hyperpod.api import job_progress
from hyperpod.apiserver.registry import CRD_RESOURCE, Registry
from hyperpod.client.monitoring import eta_text, progress_text
from hyperpod.controlplane.observability import PROGRESS_KINDS, surface_progress

KIND = next(k for k in PROGRESS_KINDS if k.resource == api.RESOURCE)


def started_job(reg: Registry, name: str) -> dict[str, Any]:
    container = {"name": "pytorch-job-container", "image": "x"}
    job = reg.create(
        api.RESOURCE,
        {
            "apiVersion": api.API_VERSION,
            "kind": api.KIND,
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "nprocPerNode": "1",
                "replicaSpecs": [
                    {
                        "name": "pod",
                        "replicas": 2,
                        "template": {"spec": {"containers": [container]}},
                    }
                ],
            },
        },
    )
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {
        "startTime": now,
        "conditions": [{"type": "Running", "status": "True", "lastTransitionTime": now}],
    }
    return reg.update(api.STATUS_RESOURCE, {**job, "status": status}, "default")


def rank_pod(
    reg: Registry, job: dict[str, Any], data_dir: Path, name: str, rank: str | None, step: int
) -> None:
    labels = {api.LABEL_JOB: job["metadata"]["name"]}
    if rank is not None:
        labels[api.LABEL_NODE_RANK] = rank
    pod = reg.create(
        "pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": "default",
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": api.API_VERSION,
                        "kind": api.KIND,
                        "name": job["metadata"]["name"],
                        "uid": job["metadata"]["uid"],
                    }
                ],
            },
            "spec": {"containers": [{"name": "pytorch-job-container", "image": "x"}]},
        },
    )
    folder = data_dir / "pods" / pod["metadata"]["uid"] / "pytorch-job-container"
    folder.mkdir(parents=True)
    report = {"step": step, "totalSteps": 100, "time": 40.0, "firstStep": 0, "firstTime": 0.0}
    (folder / "progress.json").write_text(json.dumps(report))


def test_rank_zero_progress_lands_in_an_annotation_and_the_status_stays_sdk_valid(
    registry: Registry, tmp_path: Path
) -> None:
    for crd in api.crds():
        registry.create(CRD_RESOURCE, crd)
    job = started_job(registry, "hp")
    # A spare (no node rank) and rank 1 sort before rank 0 here; only rank 0 counts.
    rank_pod(registry, job, tmp_path, "hp-pod-1", "1", 80)
    rank_pod(registry, job, tmp_path, "hp-pod-0-spare", None, 0)
    rank_pod(registry, job, tmp_path, "hp-pod-spare-0", "0", 40)

    assert surface_progress(registry, tmp_path, KIND) == 1
    stored = registry.get(api.RESOURCE, "hp", "default")
    assert "progress" not in stored["status"]
    api.HyperPodPyTorchJobStatus.model_validate(stored["status"])  # extra="forbid", like the SDK
    progress = job_progress.read(stored)
    assert (progress["step"], progress["percent"], progress["etaSeconds"]) == (40, 40.0, 60)
    assert progress_text(stored) == "40% (40/100)" and eta_text(stored) == "1m00s"
    # Nothing changed: nothing is written again.
    assert surface_progress(registry, tmp_path, KIND) == 0


def test_a_garbled_progress_annotation_reads_as_no_progress() -> None:
    job = {"metadata": {"annotations": {job_progress.ANNOTATION: "{not json"}}}
    assert job_progress.read(job) == {} and progress_text(job) == "-"
