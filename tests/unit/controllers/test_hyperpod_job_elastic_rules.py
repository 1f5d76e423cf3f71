"""Elastic HyperPodPyTorchJobs: shrink when a rank cannot be placed, grow when probes fit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hyperpod.api import hyperpod_job as api
from hyperpod.controllers import hyperpod_job_elastic as elastic
from hyperpod.controllers import hyperpod_job_rules as rules

NOW = datetime(2026, 1, 1, tzinfo=UTC)
Obj = dict[str, Any]


def job(size: int | None = None, **policy: Any) -> Obj:
    container = {"name": "c", "image": "local/python", "command": ["python", "-m", "m"]}
    obj = api.defaulted(
        {
            "apiVersion": api.API_VERSION,
            "kind": api.KIND,
            "metadata": {"name": "j", "namespace": "default", "uid": "u", "annotations": {}},
            "spec": {
                "nprocPerNode": "1",
                "replicaSpecs": [
                    {
                        "name": "pod",
                        "replicas": 3,
                        "template": {"spec": {"containers": [container]}},
                    }
                ],
                "runPolicy": {"jobMaxRetryCount": 3},
                "elasticPolicy": {"minReplicas": 1, "maxReplicas": 3, **policy},
            },
        }
    )
    if size is not None:
        obj["metadata"]["annotations"][elastic.ANNOTATION_SIZE] = str(size)
    return obj


def placed(pod: Obj, node: str | None, phase: str = "Running", since: datetime = NOW) -> Obj:
    pod = json.loads(json.dumps(pod))
    pod["metadata"]["uid"] = pod["metadata"]["name"]
    pod["metadata"]["creationTimestamp"] = rules.rfc3339(since)
    status: Obj = {"phase": phase if node else "Pending"}
    if node:
        pod["spec"]["nodeName"] = node
        status["containerStatuses"] = [
            {"name": "c", "restartCount": 0, "state": {"running": {"startedAt": "x"}}}
        ]
    else:
        status["conditions"] = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "lastTransitionTime": rules.rfc3339(since)}
        ]  # fmt: skip
    pod["status"] = status
    return pod


def step(j: Obj, pods: list[Obj], at: datetime) -> rules.Plan:
    return rules.plan(j, pods, [{"metadata": {"name": "svc"}}], [], at)


def test_sizes_follow_the_step_or_the_discrete_values() -> None:
    assert elastic.sizes({"minReplicas": 2, "maxReplicas": 8, "replicaIncrementStep": 2}) == [
        2, 4, 6, 8,
    ]  # fmt: skip
    assert elastic.sizes({"minReplicas": 1, "maxReplicas": 8, "replicaDiscreteValues": [8, 2, 16]}) == [2, 8]  # fmt: skip


def test_a_rank_that_cannot_be_placed_shrinks_the_job_after_the_timeout() -> None:
    j = job(faultyScaleDownTimeoutInSeconds=10, gracefulShutdownTimeoutInSeconds=45)
    made = step(j, [], NOW).create_pods
    assert len(made) == 3 and made[0]["spec"]["terminationGracePeriodSeconds"] == 45
    pods = [placed(made[0], "n0"), placed(made[1], "n1"), placed(made[2], None)]
    early = step(j, pods, NOW + timedelta(seconds=5))
    assert early.delete_pods == [] and early.requeue_after == 5
    plan = step(j, pods, NOW + timedelta(seconds=11))
    assert plan.annotate_job[elastic.ANNOTATION_SIZE] == "2"
    assert sorted(plan.delete_pods) == ["j-pod-0", "j-pod-1", "j-pod-2"]
    assert plan.status["conditions"][-1]["reason"] == "ScaledDown"
    j["metadata"]["annotations"].update(plan.annotate_job)
    again = step(j, [], NOW + timedelta(seconds=12)).create_pods
    assert len(again) == 2
    env = {e["name"]: e["value"] for e in again[0]["spec"]["containers"][0]["env"]}
    assert env["WORLD_SIZE"] == "2"


def test_a_running_job_below_max_probes_and_grows_when_the_probes_run() -> None:
    j = job(size=2, scalingTimeoutInSeconds=20)
    j["spec"]["runPolicy"]["restartPolicy"] = {"evalPeriodSeconds": 60,
                                               "scaleUpSnoozeTimeInSeconds": 0}  # fmt: skip
    ranks = [placed(p, f"n{i}") for i, p in enumerate(step(j, [], NOW).create_pods)]
    j["status"] = step(j, ranks, NOW).status
    assert j["status"]["conditions"][-1]["type"] == "Running"
    plan = step(j, ranks, NOW)
    (probe,) = [p for p in plan.create_pods if rules.is_probe(p)]
    assert probe["metadata"]["name"].startswith("j-pod-probe-")
    # No room: the probe is dropped after scalingTimeoutInSeconds.
    waiting = placed(probe, None)
    late = step(j, [*ranks, waiting], NOW + timedelta(seconds=21))
    assert late.delete_pods == [probe["metadata"]["name"]]
    assert "ScaleUpTimedOut" in [e.reason for e in late.events]
    # Room: it runs, and the job grows to 3.
    plan = step(j, [*ranks, placed(probe, "n2")], NOW + timedelta(seconds=1))
    assert plan.annotate_job[elastic.ANNOTATION_SIZE] == "3"
    assert "ScaledUp" in [e.reason for e in plan.events]
    assert sorted(plan.delete_pods) == ["j-pod-0", "j-pod-1", probe["metadata"]["name"]]


def test_jobs_without_an_elastic_policy_never_scale() -> None:
    j = job()
    del j["spec"]["elasticPolicy"]
    made = step(j, [], NOW).create_pods
    pods = [placed(made[0], "n0"), placed(made[1], "n1"), placed(made[2], None)]
    plan = step(j, pods, NOW + timedelta(hours=1))
    assert plan.delete_pods == [] and not plan.annotate_job
