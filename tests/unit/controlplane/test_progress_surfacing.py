"""Training progress reaches status.progress; the fake GPU telemetry follows its holder."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hyperpod.api import pytorchjob as api
from hyperpod.apiserver.registry import CRD_RESOURCE, Registry
from hyperpod.controlplane.observability import PROGRESS_KINDS, surface_progress
from hyperpod.controlplane.progress_watch import ProgressWatch
from hyperpod.kubelet.devices import Device
from hyperpod.kubelet.gpu_telemetry import fake_sample


def rfc3339(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def started_job(reg: Registry, name: str, finished_ago: float | None = None) -> dict[str, Any]:
    job = reg.create(
        api.RESOURCE,
        {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "pytorchReplicaSpecs": {
                    "Master": {
                        "replicas": 1,
                        "template": {"spec": {"containers": [{"name": "pytorch", "image": "x"}]}},
                    }
                }
            },
        },
    )
    status: dict[str, Any] = {"startTime": rfc3339(datetime.now(UTC))}
    if finished_ago is not None:
        done = rfc3339(datetime.now(UTC) - timedelta(seconds=finished_ago))
        status["completionTime"] = done
        status["conditions"] = [{"type": "Succeeded", "status": "True", "lastTransitionTime": done}]
    return reg.update(api.STATUS_RESOURCE, {**job, "status": status}, "default")


def master_pod(reg: Registry, job: dict[str, Any], data_dir: Path, step: int) -> None:
    pod = reg.create(
        "pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{job['metadata']['name']}-master-0",
                "namespace": "default",
                "labels": {
                    api.LABEL_JOB_NAME: job["metadata"]["name"],
                    api.LABEL_REPLICA_TYPE: "master",
                    api.LABEL_REPLICA_INDEX: "0",
                },
                "ownerReferences": [
                    {
                        "apiVersion": "kubeflow.org/v1",
                        "kind": "PyTorchJob",
                        "name": job["metadata"]["name"],
                        "uid": job["metadata"]["uid"],
                    }
                ],
            },
            "spec": {"containers": [{"name": "pytorch", "image": "x"}]},
        },
    )
    folder = data_dir / "pods" / pod["metadata"]["uid"] / "pytorch"
    folder.mkdir(parents=True)
    (folder / "progress.json").write_text(
        json.dumps(
            {
                "step": step,
                "totalSteps": 100,
                "time": 50.0,
                "firstStep": 0,
                "firstTime": 0.0,
                "metrics": {"loss": 0.25},
            }
        )
    )


def test_running_and_just_finished_jobs_show_their_rank_zero_report(
    registry: Registry, tmp_path: Path
) -> None:
    for crd in api.crds():
        registry.create(CRD_RESOURCE, crd)
    running = started_job(registry, "running")
    master_pod(registry, running, tmp_path, 50)
    just_done = started_job(registry, "just-done", finished_ago=5)
    master_pod(registry, just_done, tmp_path, 100)
    long_done = started_job(registry, "long-done", finished_ago=600)
    master_pod(registry, long_done, tmp_path, 100)

    assert surface_progress(registry, tmp_path, PROGRESS_KINDS[0]) == 2
    progress = registry.get(api.RESOURCE, "running", "default")["status"]["progress"]
    assert progress["percent"] == 50.0 and progress["etaSeconds"] == 50
    assert progress["metrics"] == {"loss": "0.25"}
    assert registry.get(api.RESOURCE, "just-done", "default")["status"]["progress"]["step"] == 100
    assert "progress" not in registry.get(api.RESOURCE, "long-done", "default")["status"]
    # Nothing changed: nothing is written again.
    assert surface_progress(registry, tmp_path, PROGRESS_KINDS[0]) == 0


def test_a_fake_gpu_reads_idle_without_a_holder_and_busy_with_one() -> None:
    gpu = Device("GPU-fake", 0, "Fake NVIDIA H100", 80 << 30)
    idle = fake_sample(gpu, 0.0, 0)
    assert (idle.util, idle.temp_c, idle.power_w, idle.fb_used_mib) == (0.0, 30.0, 60.0, 0.0)
    busy = fake_sample(gpu, 2.5, 1 << 30)
    assert busy.util == 100.0 and busy.fb_used_mib == 1024.0
    assert busy.fb_free_mib == 80 * 1024 - 1024


def test_the_fast_poll_writes_a_moved_report_within_the_write_budget(
    registry: Registry, tmp_path: Path
) -> None:
    for crd in api.crds():
        registry.create(CRD_RESOURCE, crd)
    job = started_job(registry, "paced")
    master_pod(registry, job, tmp_path, 50)
    watch = ProgressWatch(registry, tmp_path, PROGRESS_KINDS, writes_per_second=1)

    def shown() -> int:
        return int(registry.get(api.RESOURCE, "paced", "default")["status"]["progress"]["step"])

    assert watch.discover() == 1 and shown() == 50
    assert watch.poll() == 0  # nothing moved: one stat, no read, no write
    report = next((tmp_path / "pods").glob("*/pytorch/progress.json"))
    data = json.loads(report.read_text())
    fresh = report.with_name("progress.json.tmp")  # replaced, as hyperpod.progress does
    fresh.write_text(json.dumps({**data, "step": 60, "time": 60.0}))
    fresh.replace(report)
    assert watch.poll() == 0 and shown() == 50  # the one write a second is spent
    time.sleep(1.05)
    assert watch.poll() == 1 and shown() == 60
    assert watch.poll() == 0
