"""HyperPodPyTorchJob rules for spares, repeat offenders, deadlines and slow-job metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hyperpod.api import hyperpod_job as api
from hyperpod.controllers import hyperpod_job_rules as rules
from hyperpod.controllers.hyperpod_job_logs import check_rules

NOW = datetime(2026, 1, 1, tzinfo=UTC)
Obj = dict[str, Any]
COMMAND = ["/usr/bin/python3", "-m", "hyperpod.examples.digits", "--epochs", "3"]


def job(spares: int = 0, **run_policy: Any) -> Obj:
    container = {"name": "c", "image": "local/python", "command": COMMAND}
    group = {"name": "pod", "replicas": 2, "template": {"spec": {"containers": [container]}}}
    if spares:
        group["spares"] = spares
    return api.defaulted(
        {
            "apiVersion": api.API_VERSION,
            "kind": api.KIND,
            "metadata": {
                "name": "j",
                "namespace": "default",
                "uid": "u1",
                "annotations": {api.ANNOTATION_MASTER_PORT: "25000"},
            },
            "spec": {"nprocPerNode": "1", "replicaSpecs": [group], "runPolicy": run_policy},
        }
    )


def running(pod: Obj, node: str = "n0", restarts: int = 0, phase: str = "Running") -> Obj:
    pod = json.loads(json.dumps(pod))
    pod["metadata"]["uid"] = pod["metadata"]["name"]
    pod["spec"]["nodeName"] = node
    state: Obj = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    if phase == "Failed":
        state = {"terminated": {"exitCode": 1, "reason": "Error"}}
    pod["status"] = {
        "phase": phase,
        "containerStatuses": [{"name": "c", "restartCount": restarts, "state": state}],
    }
    return pod


def step(j: Obj, pods: list[Obj], faults: list[rules.Fault] | None = None, at: datetime = NOW):
    return rules.plan(j, pods, [{"metadata": {"name": "svc"}}], faults, at)


def names(pods: list[Obj]) -> list[str]:
    return sorted(p["metadata"]["name"] for p in pods)


def test_spares_are_created_beside_the_ranks_and_run_the_standby_around_the_command() -> None:
    plan = step(job(spares=1, jobMaxRetryCount=3), [])
    assert names(plan.create_pods) == ["j-pod-0", "j-pod-1", "j-pod-spare-0"]
    spare = next(p for p in plan.create_pods if rules.is_spare(p))
    command = spare["spec"]["containers"][0]["command"]
    assert command[:4] == ["/usr/bin/python3", "-m", rules.STANDBY_MODULE, "--"]
    assert command[4:] == COMMAND
    env = {e["name"] for e in spare["spec"]["containers"][0]["env"]}
    assert "MASTER_ADDR" in env and "RANK" not in env and "NODE_RANK" not in env
    assert api.LABEL_NODE_RANK not in spare["metadata"]["labels"]


def test_a_ready_spare_takes_over_a_restarted_rank_and_the_other_ranks_restart_in_place() -> None:
    j = job(spares=1, jobMaxRetryCount=3)
    pods = [running(p) for p in step(j, []).create_pods]
    pods[1] = running(pods[1], restarts=1)
    plan = step(j, pods)
    assert plan.promote["j-pod-spare-0"]["NODE_RANK"] == "1"
    assert plan.promote["j-pod-spare-0"]["RANK"] == "1"
    patch = plan.patch_pods["j-pod-spare-0"]["metadata"]
    assert patch["annotations"][rules.ANNOTATION_SLOT] == "j-pod-1"
    assert patch["labels"][api.LABEL_NODE_RANK] == "1"
    assert plan.delete_pods == ["j-pod-1"]
    assert plan.restart_in_place == ["j-pod-0"]
    assert "SpareTookOver" in [e.reason for e in plan.events]
    assert plan.status["restartCount"] == 1


def test_a_promoted_spare_fills_its_slot_and_a_new_spare_replaces_it() -> None:
    j = job(spares=1, jobMaxRetryCount=3)
    pods = [running(p) for p in step(j, []).create_pods]
    spare = next(p for p in pods if rules.is_spare(p))
    spare["metadata"]["labels"][rules.LABEL_ROLE] = rules.ROLE_RANK
    spare["metadata"]["annotations"][rules.ANNOTATION_SLOT] = "j-pod-1"
    rank0 = next(p for p in pods if p["metadata"]["name"] == "j-pod-0")
    plan = step(j, [rank0, spare])
    assert names(plan.create_pods) == ["j-pod-spare-1"]
    assert plan.status["conditions"][-1]["type"] == "Running"


def test_without_a_ready_spare_the_rank_restarts_in_place_as_before() -> None:
    j = job(spares=1, jobMaxRetryCount=3)
    pods = [running(p) for p in step(j, []).create_pods if not rules.is_spare(p)]
    pods[1] = running(pods[1], restarts=1)
    plan = step(j, pods)
    assert plan.promote == {} and plan.delete_pods == []
    assert plan.restart_in_place == ["j-pod-0"]


def test_finishing_deletes_the_spares_whatever_the_clean_pod_policy() -> None:
    j = job(spares=1, cleanPodPolicy="None")
    pods = [running(p) for p in step(j, []).create_pods]
    done = [running(p, phase="Succeeded") if not rules.is_spare(p) else p for p in pods]
    plan = step(j, done)
    assert plan.status["conditions"][-1]["type"] == "Completed"
    assert plan.delete_pods == ["j-pod-spare-0"]


def test_faults_are_counted_per_node_and_repeat_offenders_are_avoided_after_a_full_restart() -> (
    None
):
    policy = {
        "evalPeriodSeconds": 600,
        "numRestartBeforeFullJobRestart": 2,
        "maxFullJobRestarts": 3,
        "maxNumRepeatOffendersToAvoid": 1,
    }
    j = job(jobMaxRetryCount=10, restartPolicy=policy)
    pods = [running(p, node=f"n{i}") for i, p in enumerate(step(j, []).create_pods)]
    plan = step(j, [running(pods[0], node="n0", restarts=1), pods[1]])
    assert json.loads(plan.annotate_job[rules.ANNOTATION_NODE_FAULTS]) == {"n0": 1}
    assert "AvoidingRepeatOffenders" not in [e.reason for e in plan.events]
    j["metadata"]["annotations"][rules.ANNOTATION_NODE_FAULTS] = json.dumps({"n0": 1})
    j["status"] = plan.status
    pods[0]["metadata"]["annotations"][rules.ANNOTATION_COUNTED] = "1"
    plan = step(j, [running(pods[0], node="n0", restarts=2), pods[1]])
    assert sorted(plan.delete_pods) == ["j-pod-0", "j-pod-1"]  # the full-job restart
    assert json.loads(plan.annotate_job[rules.ANNOTATION_NODE_FAULTS]) == {"n0": 2}
    assert "AvoidingRepeatOffenders" in [e.reason for e in plan.events]
    j["metadata"]["annotations"][rules.ANNOTATION_NODE_FAULTS] = json.dumps({"n0": 2})
    fresh = step(j, []).create_pods[0]
    terms = fresh["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms == [
        {"matchExpressions": [{"key": rules.HOSTNAME_LABEL, "operator": "NotIn", "values": ["n0"]}]}
    ]


def test_an_eviction_makes_its_node_an_offender_at_once_but_only_up_to_the_limit() -> None:
    j = job(jobMaxRetryCount=5, restartPolicy={"evalPeriodSeconds": 60,
                                               "maxNumRepeatOffendersToAvoid": 1})  # fmt: skip
    pods = [running(p, node=f"n{i}") for i, p in enumerate(step(j, []).create_pods)]
    evicted = running(pods[1], node="n1", phase="Failed")
    evicted["status"]["reason"] = "Evicted"
    plan = step(j, [pods[0], evicted])
    counts = json.loads(plan.annotate_job[rules.ANNOTATION_NODE_FAULTS])
    assert counts == {"n1": rules.REPEAT_OFFENDER_FAULTS}
    assert rules.avoided_nodes(j, {"n1": 2, "n2": 5, "n3": 1}) == ["n2"]
    assert rules.avoided_nodes(job(), {"n1": 9}) == []  # no limit set: nothing avoided


def test_a_job_not_running_by_its_startup_deadline_fails() -> None:
    j = job(startupDeadlineSeconds=30)
    plan = step(j, [])
    assert plan.requeue_after == 30
    j["status"] = plan.status
    late = step(j, [], at=NOW + timedelta(seconds=31))
    assert late.status["conditions"][-1]["reason"] == "StartupDeadlineExceeded"


def test_a_job_restarting_past_its_fault_deadline_fails() -> None:
    policy = {"evalPeriodSeconds": 60, "numRestartBeforeFullJobRestart": 1, "maxFullJobRestarts": 5}
    j = job(jobMaxRetryCount=10, faultDeadlineSeconds=20, restartPolicy=policy)
    pods = [running(p) for p in step(j, []).create_pods]
    plan = step(j, [running(pods[0], restarts=1), pods[1]])
    assert plan.status["conditions"][-1]["type"] == "Restarting"
    j["status"] = plan.status
    assert step(j, [], at=NOW + timedelta(seconds=10)).status["conditions"][-1]["type"] == (
        "Restarting"
    )
    late = step(j, [], at=NOW + timedelta(seconds=21))
    assert late.status["conditions"][-1]["reason"] == "FaultDeadlineExceeded"


def test_a_metric_read_from_the_logs_past_its_threshold_marks_the_job_slow() -> None:
    rule = {
        "name": "speed",
        "logPattern": r"steps/s=([0-9.]+)",
        "metricThreshold": 5,
        "operator": "lt",
        "metricEvaluationDataPoints": 2,
    }
    fast = [(1.0, "steps/s=9.0"), (2.0, "steps/s=8.5")]
    assert check_rules([rule], "p", fast, 0.0, 3.0) is None
    one_slow = [*fast, (3.0, "steps/s=2.0")]
    assert check_rules([rule], "p", one_slow, 0.0, 4.0) is None
    fault = check_rules([rule], "p", [*one_slow, (4.0, "steps/s=1.5")], 0.0, 5.0)
    assert fault is not None and fault.reason == "JobSlow"
    assert "2, 1.5" in fault.message
    no_operator = {k: v for k, v in rule.items() if k != "operator"}
    assert check_rules([no_operator], "p", [(1.0, "steps/s=0.1")], 0.0, 2.0) is None


def test_a_pod_the_health_agent_evicts_is_a_fault_its_node_an_offender_and_a_spare_takes_over() -> (
    None
):
    j = job(spares=1, jobMaxRetryCount=3,
            restartPolicy={"evalPeriodSeconds": 60, "maxNumRepeatOffendersToAvoid": 1})  # fmt: skip
    pods = [running(p, node=f"n{i}") for i, p in enumerate(step(j, []).create_pods)]
    victim = next(p for p in pods if p["metadata"]["name"] == "j-pod-1")
    victim["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    victim["status"]["conditions"] = [
        {"type": "DisruptionTarget", "status": "True", "reason": rules.HEALTH_EVICTION_REASON}
    ]
    plan = step(j, pods)
    assert plan.status["restartCount"] == 1
    assert json.loads(plan.annotate_job[rules.ANNOTATION_NODE_FAULTS]) == {"n1": 2}
    assert plan.annotate_pods["j-pod-1"] == {rules.ANNOTATION_EVICTION: "1"}
    assert plan.promote["j-pod-spare-0"]["NODE_RANK"] == "1"
    assert "j-pod-1" not in plan.delete_pods  # already being deleted by the agent
    assert plan.restart_in_place == ["j-pod-0"]
    reasons = [e.reason for e in plan.events]
    assert "PodEvictedFromFaultyNode" in reasons and "ProcessLevelRestart" not in reasons
    # Counted once: the annotation keeps the next reconcile from counting it again.
    victim["metadata"]["annotations"][rules.ANNOTATION_EVICTION] = "1"
    j["status"] = plan.status
    assert step(j, pods).status["restartCount"] == 1


def test_kueue_admits_the_spares_with_the_job() -> None:
    from hyperpod.controllers.kueue.hyperpod_jobs import HyperPodJobIntegration

    integration = object.__new__(HyperPodJobIntegration)  # pod_sets reads only the job
    (pod_set,) = integration.pod_sets(job(spares=2))
    assert pod_set["name"] == "pod" and pod_set["count"] == 4
