"""The HyperPodPyTorchJob rules: ranks and env, restart escalation, finishing, hang checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hyperpod.api import hyperpod_job as api
from hyperpod.controllers import hyperpod_job_rules as rules
from hyperpod.controllers.hyperpod_job_logs import check_rules

NOW = datetime(2026, 1, 1, tzinfo=UTC)
Obj = dict[str, Any]


def job(groups: tuple[tuple[str, int], ...] = (("pod", 2),), **run_policy: Any) -> Obj:
    template = {"spec": {"containers": [{"name": "c", "image": "local/python"}]}}
    obj = {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {
            "name": "j",
            "namespace": "default",
            "uid": "u1",
            "annotations": {api.ANNOTATION_MASTER_PORT: "25000"},
        },
        "spec": {
            "nprocPerNode": "1",
            "replicaSpecs": [{"name": n, "replicas": r, "template": template} for n, r in groups],
            "runPolicy": run_policy,
        },
    }
    return api.defaulted(obj)


def running(pod: Obj, restarts: int = 0, counted: int = 0, phase: str = "Running") -> Obj:
    pod = {**pod, "metadata": {**pod["metadata"], "uid": pod["metadata"]["name"]}}
    pod["metadata"]["annotations"] = {rules.ANNOTATION_COUNTED: str(counted)}
    state: Obj = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    last: Obj = {"terminated": {"exitCode": 137, "reason": "Error"}} if restarts else {}
    if phase == "Failed":
        state = {"terminated": {"exitCode": 1, "reason": "Error"}}
    pod["status"] = {
        "phase": phase,
        "containerStatuses": [
            {"name": "c", "restartCount": restarts, "state": state, "lastState": last}
        ],
    }
    return pod


def step(j: Obj, pods: list[Obj], faults: list[rules.Fault] | None = None) -> rules.Plan:
    return rules.plan(j, pods, [{"metadata": {"name": "svc"}}], faults, NOW)


def env_of(pod: Obj) -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}


def test_ranks_run_across_groups_and_every_pod_agrees_on_the_master() -> None:
    j = job((("a", 1), ("b", 2)))
    j["spec"]["nprocPerNode"] = "2"
    plan = rules.plan(j, [], [], None, NOW)
    envs = [env_of(p) for p in plan.create_pods]
    assert [p["metadata"]["name"] for p in plan.create_pods] == ["j-a-0", "j-b-0", "j-b-1"]
    assert [e["NODE_RANK"] for e in envs] == ["0", "1", "2"]
    assert [e["RANK"] for e in envs] == ["0", "2", "4"]
    assert {(e["MASTER_ADDR"], e["MASTER_PORT"], e["WORLD_SIZE"]) for e in envs} == {
        ("j-a-0", "25000", "6")
    }
    assert {e["LOCAL_WORLD_SIZE"] for e in envs} == {"2"}
    assert plan.create_pods[2]["metadata"]["labels"][api.LABEL_JOB] == "j"
    assert plan.create_services[0]["metadata"]["name"] == "j-a-0"
    assert (plan.status["masterAddr"], plan.status["masterPort"]) == ("j-a-0", "25000")


def test_pods_restart_in_place_only_when_retries_are_allowed() -> None:
    assert step(job(), []).create_pods[0]["spec"]["restartPolicy"] == "Never"
    retrying = step(job(jobMaxRetryCount=3), []).create_pods[0]
    assert retrying["spec"]["restartPolicy"] == "OnFailure"


def test_all_pods_running_makes_the_job_running_and_all_succeeded_completes_it() -> None:
    j = job()
    pods = [running(p) for p in step(j, []).create_pods]
    plan = step(j, pods)
    assert plan.status["conditions"][-1]["type"] == "Running"
    done = [running(p, phase="Succeeded") for p in pods]
    j["status"] = plan.status
    plan = step(j, done)
    assert plan.status["conditions"][-1]["type"] == "Completed"
    assert [c["status"] for c in plan.status["conditions"] if c["type"] == "Running"] == ["False"]


def test_a_process_restart_is_counted_once_and_blamed_on_its_rank() -> None:
    j = job(jobMaxRetryCount=5)
    pods = [running(p) for p in step(j, []).create_pods]
    pods[1] = running(pods[1], restarts=1)
    plan = step(j, pods)
    assert plan.status["restartCount"] == 1
    assert plan.status["latestFaultyPodInstanceList"]["faultyRankList"] == ["1"]
    assert plan.delete_pods == []
    # The other ranks' processes restart in place; those restarts are expected, not faults.
    assert plan.restart_in_place == ["j-pod-0"]
    assert plan.annotate_pods == {
        "j-pod-0": {rules.ANNOTATION_EXPECTED: "1"},
        "j-pod-1": {rules.ANNOTATION_COUNTED: "1"},
    }
    j["status"] = plan.status
    pods[0] = running(pods[0], restarts=1)
    pods[0]["metadata"]["annotations"][rules.ANNOTATION_EXPECTED] = "1"
    pods[1] = running(pods[1], restarts=1, counted=1)
    again = step(j, pods)
    assert again.status["restartCount"] == 1
    assert again.restart_in_place == []


def test_too_many_restarts_in_the_window_restart_the_whole_job() -> None:
    policy = {"evalPeriodSeconds": 60, "numRestartBeforeFullJobRestart": 2, "maxFullJobRestarts": 1}
    j = job(jobMaxRetryCount=10, restartPolicy=policy)
    pods = [running(p) for p in step(j, []).create_pods]
    plan = step(j, [running(pods[0], restarts=2), pods[1]])
    assert sorted(plan.delete_pods) == ["j-pod-0", "j-pod-1"]
    assert plan.status["restartStatus"]["fullJobRestartCount"] == 1
    assert plan.status["conditions"][-1]["type"] == "Restarting"
    j["status"] = plan.status
    plan = step(j, [running(pods[0], restarts=2), pods[1]])
    assert plan.status["conditions"][-1]["reason"] == "MaxFullJobRestartsExceeded"


def test_restarts_past_job_max_retry_count_fail_the_job() -> None:
    j = job(jobMaxRetryCount=1)
    pods = [running(p) for p in step(j, []).create_pods]
    plan = step(j, [running(pods[0], restarts=2), pods[1]])
    failed = plan.status["conditions"][-1]
    assert (failed["type"], failed["reason"]) == ("Failed", "JobMaxRetryCountExceeded")
    assert sorted(plan.delete_pods) == ["j-pod-0", "j-pod-1"]  # cleanPodPolicy Running


def test_a_failed_pod_without_retries_fails_the_job_and_keeps_pods_with_clean_policy_none() -> None:
    j = job(cleanPodPolicy="None")
    pods = [running(p) for p in step(j, []).create_pods]
    plan = step(j, [running(pods[0], phase="Failed"), pods[1]])
    assert plan.status["conditions"][-1]["type"] == "Failed"
    assert "exit code 1" in plan.status["conditions"][-1]["message"]
    assert plan.delete_pods == []


def test_a_hang_restarts_the_whole_job() -> None:
    j = job(jobMaxRetryCount=2)
    pods = [running(p) for p in step(j, []).create_pods]
    plan = step(j, pods, [rules.Fault("j-pod-0", "JobHanging", "no progress")])
    assert sorted(plan.delete_pods) == ["j-pod-0", "j-pod-1"]
    assert plan.status["restartCount"] == 1
    assert [e.reason for e in plan.events][:1] == ["JobHanging"]


def test_suspend_deletes_pods_and_active_deadline_fails_the_job() -> None:
    j = job(suspend=True)
    pods = [running(p) for p in step(job(), []).create_pods]
    plan = step(j, pods)
    assert sorted(plan.delete_pods) == ["j-pod-0", "j-pod-1"]
    assert plan.status["conditions"][-1]["type"] == "Suspended"
    late = job(activeDeadlineSeconds=10)
    late["status"] = {"startTime": (NOW - timedelta(seconds=11)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    late["status"]["conditions"] = [{"type": "Created", "status": "True"}]
    assert step(late, pods).status["conditions"][-1]["reason"] == "DeadlineExceeded"


def test_ttl_deletes_a_finished_job_once_it_has_passed() -> None:
    j = job(ttlSecondsAfterFinished=5)
    j["status"] = {
        "conditions": [{"type": "Completed", "status": "True"}],
        "completionTime": (NOW - timedelta(seconds=6)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert step(j, []).delete_job


def test_log_rules_find_a_job_that_never_starts_or_stops_making_progress() -> None:
    rule = {
        "name": "loss",
        "logPattern": r"loss \d",
        "expectedStartCutOffInSeconds": 10,
        "expectedRecurringFrequencyInSeconds": 5,
    }
    assert check_rules([rule], "p", [(1.0, "hello")], 0.0, 5.0) is None
    fault = check_rules([rule], "p", [(1.0, "hello")], 0.0, 11.0)
    assert fault is not None and fault.reason == "JobStartTimeout"
    assert check_rules([rule], "p", [(8.0, "loss 1")], 0.0, 12.0) is None
    fault = check_rules([rule], "p", [(8.0, "loss 1")], 0.0, 14.0)
    assert fault is not None and fault.reason == "JobHanging"
    stopped = {**rule, "stopPattern": "final"}
    assert check_rules([stopped], "p", [(8.0, "loss 1"), (9.0, "final")], 0.0, 30.0) is None
