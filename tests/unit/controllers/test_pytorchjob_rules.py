"""The operator's rules decide the right pods, env, conditions and clean-ups (fast fake pods)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hyperpod.api import pytorchjob as api
from hyperpod.controllers import pytorchjob_rules as rules

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
Obj = dict[str, Any]


def make_job(
    workers: int = 2,
    master: bool = True,
    restart_policy: str = "OnFailure",
    **spec: Any,
) -> Obj:
    def template() -> Obj:
        return {
            "metadata": {"labels": {"app": "digits"}},
            "spec": {
                "containers": [
                    {"name": "pytorch", "image": "python", "command": ["python", "-c", "pass"]}
                ]
            },
        }

    replicas: Obj = {}
    if master:
        replicas["Master"] = {
            "replicas": 1,
            "restartPolicy": restart_policy,
            "template": template(),
        }
    if workers:
        replicas["Worker"] = {
            "replicas": workers,
            "restartPolicy": restart_policy,
            "template": template(),
        }
    job: Obj = {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": "digits", "namespace": "team", "uid": "job-uid"},
        "spec": {"pytorchReplicaSpecs": replicas, **spec},
    }
    api.default(job)
    return job


def advance(job: Obj, pods: list[Obj], services: list[Obj], now: datetime = NOW) -> rules.Plan:
    """Plan, then apply the plan to the fakes the way the operator would."""
    result = rules.plan(job, pods, services, now)
    job["status"] = result.status
    for name in result.delete_pods:
        pods[:] = [p for p in pods if p["metadata"]["name"] != name]
    for name in result.delete_services:
        services[:] = [s for s in services if s["metadata"]["name"] != name]
    pods.extend(copy.deepcopy(result.create_pods))
    services.extend(copy.deepcopy(result.create_services))
    return result


def set_phase(
    pods: list[Obj],
    name: str,
    phase: str,
    *,
    exit_code: int | None = None,
    reason: str | None = None,
    restarts: int = 0,
    last_exit: int | None = None,
) -> None:
    pod = next(p for p in pods if p["metadata"]["name"] == name)
    status: Obj = {"phase": phase, "podIP": "127.0.0.1"}
    container: Obj = {"name": "pytorch", "restartCount": restarts, "state": {"running": {}}}
    if exit_code is not None:
        container["state"] = {
            "terminated": {
                "exitCode": exit_code,
                "reason": reason or ("Completed" if exit_code == 0 else "Error"),
            }
        }
    elif reason is not None:
        container["state"] = {"waiting": {"reason": reason, "message": "boom"}}
    if last_exit is not None:
        container["lastState"] = {"terminated": {"exitCode": last_exit, "reason": "Error"}}
    status["containerStatuses"] = [container]
    pod["status"] = status


def run_all(pods: list[Obj]) -> None:
    for pod in pods:
        set_phase(pods, pod["metadata"]["name"], "Running")


def names(objs: list[Obj]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


def env_of(pod: Obj) -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}


def conditions(job: Obj) -> list[tuple[str, str]]:
    return [(c["type"], c["status"]) for c in job["status"]["conditions"]]


def last_condition(job: Obj) -> str:
    return str(job["status"]["conditions"][-1]["type"])


# --- creation -----------------------------------------------------------------------------


def test_a_new_job_gets_master_first_then_workers_with_services_and_a_created_condition() -> None:
    job, pods, services = make_job(), [], []
    result = advance(job, pods, services)
    assert names(result.create_pods) == ["digits-master-0", "digits-worker-0", "digits-worker-1"]
    assert names(result.create_services) == names(result.create_pods)
    assert conditions(job) == [("Created", "True")]
    assert [e.reason for e in result.events] == ["PyTorchJobCreated"]
    assert job["status"]["startTime"] == "2026-01-01T12:00:00Z"


def test_pods_carry_the_upstream_labels_owner_reference_and_restart_policy() -> None:
    job = make_job()
    master = rules.build_pod(job, "Master", 0)
    worker = rules.build_pod(job, "Worker", 1)
    assert master["metadata"]["labels"] == {
        "app": "digits",
        "training.kubeflow.org/operator-name": "pytorchjob-controller",
        "training.kubeflow.org/job-name": "digits",
        "training.kubeflow.org/replica-type": "master",
        "training.kubeflow.org/replica-index": "0",
        "training.kubeflow.org/job-role": "master",
    }
    assert "training.kubeflow.org/job-role" not in worker["metadata"]["labels"]
    ref = worker["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
        "PyTorchJob",
        "digits",
        "job-uid",
        True,
    )
    assert worker["spec"]["restartPolicy"] == "OnFailure"
    assert worker["metadata"]["namespace"] == "team"


def test_without_a_master_worker_zero_has_the_master_role() -> None:
    job = make_job(master=False, workers=2)
    assert rules.build_pod(job, "Worker", 0)["metadata"]["labels"][api.LABEL_JOB_ROLE] == "master"
    assert api.LABEL_JOB_ROLE not in rules.build_pod(job, "Worker", 1)["metadata"]["labels"]


def test_exit_code_policy_runs_pods_with_restart_policy_never() -> None:
    job = make_job(restart_policy="ExitCode")
    assert rules.build_pod(job, "Worker", 0)["spec"]["restartPolicy"] == "Never"


def test_services_are_headless_select_one_pod_and_expose_the_named_ports() -> None:
    job = make_job()
    service = rules.build_service(job, "Worker", 1)
    assert service["metadata"]["name"] == "digits-worker-1"
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"][api.LABEL_REPLICA_INDEX] == "1"
    assert service["spec"]["selector"][api.LABEL_REPLICA_TYPE] == "worker"
    assert service["spec"]["ports"] == [
        {"name": "pytorchjob-port", "port": 23456, "targetPort": 23456, "protocol": "TCP"}
    ]


def test_the_local_master_port_annotation_replaces_the_port_everywhere() -> None:
    job = make_job()
    job["metadata"]["annotations"] = {api.ANNOTATION_MASTER_PORT: "40123"}
    env = env_of(rules.build_pod(job, "Worker", 0))
    assert env["MASTER_PORT"] == env["PET_MASTER_PORT"] == "40123"
    assert rules.build_service(job, "Master", 0)["spec"]["ports"][0]["port"] == 40123


def test_the_priority_class_of_the_scheduling_policy_reaches_the_pods() -> None:
    job = make_job(runPolicy={"schedulingPolicy": {"priorityClass": "high"}})
    assert rules.build_pod(job, "Master", 0)["spec"]["priorityClassName"] == "high"


# --- environment --------------------------------------------------------------------------


def test_master_and_workers_get_addresses_ranks_and_world_size() -> None:
    job = make_job(workers=2)
    master = env_of(rules.build_pod(job, "Master", 0))
    worker = env_of(rules.build_pod(job, "Worker", 1))
    assert master["MASTER_ADDR"] == master["PET_MASTER_ADDR"] == "digits-master-0"
    assert master["MASTER_PORT"] == "23456"
    assert master["WORLD_SIZE"] == worker["WORLD_SIZE"] == "3"
    assert (master["RANK"], master["PET_NODE_RANK"]) == ("0", "0")
    assert (worker["RANK"], worker["PET_NODE_RANK"]) == ("2", "2")
    assert worker["PET_NNODES"] == "3"
    assert worker["PYTHONUNBUFFERED"] == "1"
    assert worker["PET_NPROC_PER_NODE"] == "auto"


def test_an_integer_nproc_per_node_multiplies_the_world_size() -> None:
    job = make_job(workers=2, nprocPerNode="4")
    env = env_of(rules.build_pod(job, "Worker", 0))
    assert (env["WORLD_SIZE"], env["PET_NPROC_PER_NODE"]) == ("12", "4")


def test_elastic_workers_get_rendezvous_variables_and_no_master_variables() -> None:
    job = make_job(
        master=False,
        workers=3,
        nprocPerNode="1",
        elasticPolicy={
            "minReplicas": 2,
            "maxReplicas": 3,
            "rdzvId": "run-1",
            "maxRestarts": 5,
            "rdzvConf": [{"key": "join_timeout", "value": "60"}],
        },
    )
    env = env_of(rules.build_pod(job, "Worker", 2))
    assert env["PET_NNODES"] == "2:3"
    assert env["PET_RDZV_BACKEND"] == "c10d"
    assert env["PET_RDZV_ENDPOINT"] == "digits-worker-0:23456"
    assert env["PET_RDZV_ID"] == "run-1"
    assert env["PET_MAX_RESTARTS"] == "5"
    assert env["PET_RDZV_CONF"] == "join_timeout=60"
    assert not {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"} & set(env)


def test_an_external_rendezvous_host_keeps_its_port_and_a_local_one_gets_the_chosen_port() -> None:
    job = make_job(master=False, elasticPolicy={"rdzvHost": "etcd.infra", "rdzvPort": 2379})
    job["metadata"]["annotations"] = {api.ANNOTATION_MASTER_PORT: "40001"}
    assert env_of(rules.build_pod(job, "Worker", 0))["PET_RDZV_ENDPOINT"] == "etcd.infra:2379"
    del job["spec"]["elasticPolicy"]["rdzvHost"]
    assert env_of(rules.build_pod(job, "Worker", 0))["PET_RDZV_ENDPOINT"] == "digits-worker-0:40001"


def test_injected_variables_replace_user_values_of_the_same_name() -> None:
    job = make_job()
    container = job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "RANK", "value": "9"}, {"name": "EPOCHS", "value": "3"}]
    env = rules.build_pod(job, "Worker", 0)["spec"]["containers"][0]["env"]
    assert [e["value"] for e in env if e["name"] == "RANK"] == ["1"]
    assert {"name": "EPOCHS", "value": "3"} in env


# --- status -------------------------------------------------------------------------------


def test_a_running_master_makes_the_job_running_with_replica_statuses() -> None:
    job, pods, services = make_job(), [], []
    advance(job, pods, services)
    run_all(pods)
    advance(job, pods, services)
    assert last_condition(job) == "Running"
    workers = job["status"]["replicaStatuses"]["Worker"]
    assert workers["active"] == 2
    assert workers["selector"] == (
        "training.kubeflow.org/job-name=digits,"
        "training.kubeflow.org/operator-name=pytorchjob-controller,"
        "training.kubeflow.org/replica-type=worker"
    )


def test_the_job_succeeds_when_the_master_succeeds_and_active_moves_to_succeeded() -> None:
    job, pods, services = make_job(), [], []
    advance(job, pods, services)
    run_all(pods)
    advance(job, pods, services)
    set_phase(pods, "digits-master-0", "Succeeded", exit_code=0)
    result = advance(job, pods, services)
    assert last_condition(job) == "Succeeded"
    assert ("Running", "False") in conditions(job)
    assert job["status"]["completionTime"] == "2026-01-01T12:00:00Z"
    assert job["status"]["replicaStatuses"]["Worker"].get("active", 0) == 0
    assert job["status"]["replicaStatuses"]["Worker"]["succeeded"] == 2
    assert "PyTorchJobSucceeded" in [e.reason for e in result.events]
    assert result.delete_pods == []  # cleanPodPolicy None


def test_without_a_master_all_workers_must_succeed() -> None:
    job, pods, services = make_job(master=False, workers=2), [], []
    advance(job, pods, services)
    run_all(pods)
    set_phase(pods, "digits-worker-0", "Succeeded", exit_code=0)
    advance(job, pods, services)
    assert last_condition(job) == "Running"
    set_phase(pods, "digits-worker-1", "Succeeded", exit_code=0)
    advance(job, pods, services)
    assert last_condition(job) == "Succeeded"


def test_an_elastic_job_succeeds_when_any_worker_succeeds() -> None:
    job, pods, services = make_job(master=False, workers=2, elasticPolicy={}), [], []
    advance(job, pods, services)
    run_all(pods)
    set_phase(pods, "digits-worker-1", "Succeeded", exit_code=0)
    advance(job, pods, services)
    assert last_condition(job) == "Succeeded"


def test_a_failed_pod_under_never_fails_the_job_with_the_kubelet_reason() -> None:
    job, pods, services = make_job(restart_policy="Never"), [], []
    advance(job, pods, services)
    run_all(pods)
    advance(job, pods, services)
    set_phase(pods, "digits-worker-1", "Failed", exit_code=1)
    result = advance(job, pods, services)
    assert last_condition(job) == "Failed"
    failed = rules.condition(job["status"], "Failed")
    assert failed is not None
    assert "1 Worker replica(s) failed" in failed["message"]
    assert "digits-worker-1: Error with code 1" in failed["message"]
    assert ("Running", "False") in conditions(job)
    assert any(e.reason == "PyTorchJobFailed" and e.type == "Warning" for e in result.events)


def test_once_failed_nothing_else_changes() -> None:
    job, pods, services = make_job(restart_policy="Never"), [], []
    advance(job, pods, services)
    run_all(pods)
    set_phase(pods, "digits-worker-1", "Failed", exit_code=1)
    advance(job, pods, services)
    before = copy.deepcopy(job["status"])
    set_phase(pods, "digits-master-0", "Succeeded", exit_code=0)
    result = advance(job, pods, services, NOW + timedelta(seconds=30))
    assert job["status"] == before
    assert result.create_pods == []


@pytest.mark.parametrize("code", [137, 143, 255])
def test_exit_code_policy_recreates_a_pod_that_died_with_a_retryable_code(code: int) -> None:
    job, pods, services = make_job(restart_policy="ExitCode"), [], []
    advance(job, pods, services)
    run_all(pods)
    advance(job, pods, services)
    set_phase(pods, "digits-worker-0", "Failed", exit_code=code)
    result = advance(job, pods, services)
    assert result.delete_pods == ["digits-worker-0"]
    assert "ExitedWithCode" in [e.reason for e in result.events]
    assert not rules.is_finished(job["status"])
    recreated = advance(job, pods, services)
    assert names(recreated.create_pods) == ["digits-worker-0"]


@pytest.mark.parametrize("code", [1, 2, 127])
def test_exit_code_policy_fails_the_job_at_once_on_a_permanent_code(code: int) -> None:
    job, pods, services = make_job(restart_policy="ExitCode"), [], []
    advance(job, pods, services)
    run_all(pods)
    set_phase(pods, "digits-worker-0", "Failed", exit_code=code)
    result = advance(job, pods, services)
    assert last_condition(job) == "Failed"
    assert f"code {code}" in str(rules.condition(job["status"], "Failed"))
    assert result.delete_pods == []


def test_an_evicted_pod_under_on_failure_is_recreated() -> None:
    job, pods, services = make_job(), [], []
    advance(job, pods, services)
    run_all(pods)
    pod = pods[1]
    pod["status"] = {"phase": "Failed", "reason": "Evicted", "message": "node drained"}
    result = advance(job, pods, services)
    assert result.delete_pods == ["digits-worker-0"]
    assert last_condition(job) == "Restarting"


def test_backoff_limit_counts_container_restarts_of_running_pods() -> None:
    job, pods, services = make_job(runPolicy={"backoffLimit": 3}), [], []
    advance(job, pods, services)
    run_all(pods)
    set_phase(pods, "digits-worker-0", "Running", restarts=2, last_exit=1)
    advance(job, pods, services)
    assert not rules.is_finished(job["status"])
    set_phase(pods, "digits-worker-1", "Running", restarts=1, last_exit=1)
    advance(job, pods, services)
    failed = rules.condition(job["status"], "Failed")
    assert failed is not None and "backoff limit" in failed["message"]


def test_a_zero_backoff_limit_fails_on_the_first_restart() -> None:
    job, pods, services = make_job(runPolicy={"backoffLimit": 0}), [], []
    advance(job, pods, services)
    run_all(pods)
    set_phase(pods, "digits-master-0", "Running", restarts=1, last_exit=1)
    advance(job, pods, services)
    assert last_condition(job) == "Failed"


def test_active_deadline_fails_the_job_and_asks_to_be_woken_before() -> None:
    job, pods, services = make_job(runPolicy={"activeDeadlineSeconds": 60}), [], []
    result = advance(job, pods, services)
    assert result.requeue_after == 60
    run_all(pods)
    advance(job, pods, services, NOW + timedelta(seconds=30))
    assert last_condition(job) == "Running"
    advance(job, pods, services, NOW + timedelta(seconds=61))
    failed = rules.condition(job["status"], "Failed")
    assert failed is not None and "deadline" in failed["message"]


def test_a_container_that_cannot_start_fails_the_job_with_the_kubelet_message() -> None:
    job, pods, services = make_job(), [], []
    advance(job, pods, services)
    pod = pods[0]
    pod["status"] = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "pytorch",
                "restartCount": 1,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {
                    "terminated": {
                        "exitCode": 128,
                        "reason": "StartError",
                        "message": "exec: no-such-binary: not found",
                    }
                },
            }
        ],
    }
    advance(job, pods, services)
    failed = rules.condition(job["status"], "Failed")
    assert failed is not None
    assert "StartError" in failed["message"] and "no-such-binary" in failed["message"]


# --- cleanPodPolicy and TTL ---------------------------------------------------------------


def finish(job: Obj, pods: list[Obj], services: list[Obj]) -> rules.Plan:
    advance(job, pods, services)
    run_all(pods)
    set_phase(pods, "digits-worker-1", "Succeeded", exit_code=0)
    set_phase(pods, "digits-master-0", "Succeeded", exit_code=0)
    return advance(job, pods, services)


def test_clean_pod_policy_running_deletes_only_running_pods_and_their_services() -> None:
    job, pods, services = make_job(runPolicy={"cleanPodPolicy": "Running"}), [], []
    result = finish(job, pods, services)
    assert result.delete_pods == ["digits-worker-0"]
    assert result.delete_services == ["digits-worker-0"]


def test_clean_pod_policy_all_deletes_every_pod_and_service() -> None:
    job, pods, services = make_job(runPolicy={"cleanPodPolicy": "All"}), [], []
    result = finish(job, pods, services)
    assert sorted(result.delete_pods) == ["digits-master-0", "digits-worker-0", "digits-worker-1"]
    assert sorted(result.delete_services) == sorted(result.delete_pods)


def test_clean_pod_policy_none_keeps_everything() -> None:
    job, pods, services = make_job(), [], []
    result = finish(job, pods, services)
    assert (result.delete_pods, result.delete_services) == ([], [])
    assert len(pods) == 3


def test_ttl_deletes_the_job_after_it_finished() -> None:
    job, pods, services = make_job(runPolicy={"ttlSecondsAfterFinished": 10}), [], []
    result = finish(job, pods, services)
    assert not result.delete_job and result.requeue_after == 10
    later = rules.plan(job, pods, services, NOW + timedelta(seconds=10))
    assert later.delete_job


# --- suspend and resume -------------------------------------------------------------------


def test_suspending_deletes_pods_and_services_whatever_the_clean_policy() -> None:
    job, pods, services = make_job(), [], []
    advance(job, pods, services)
    run_all(pods)
    advance(job, pods, services)
    job["spec"]["runPolicy"]["suspend"] = True
    result = advance(job, pods, services)
    assert sorted(result.delete_pods) == ["digits-master-0", "digits-worker-0", "digits-worker-1"]
    assert sorted(result.delete_services) == sorted(result.delete_pods)
    assert ("Suspended", "True") in conditions(job)
    running = rules.condition(job["status"], "Running")
    assert running is not None and running["status"] == "False"
    assert running["reason"] == "PyTorchJobSuspended"
    assert "active" not in job["status"]["replicaStatuses"]["Worker"]
    assert advance(job, pods, services).create_pods == []


def test_a_job_created_suspended_creates_nothing_until_resumed() -> None:
    job, pods, services = make_job(runPolicy={"suspend": True}), [], []
    result = advance(job, pods, services)
    assert result.create_pods == [] and last_condition(job) == "Suspended"
    job["spec"]["runPolicy"]["suspend"] = False
    later = NOW + timedelta(minutes=5)
    resumed = advance(job, pods, services, later)
    assert len(resumed.create_pods) == 3
    suspended = rules.condition(job["status"], "Suspended")
    assert suspended is not None and suspended["status"] == "False"
    assert suspended["reason"] == "PyTorchJobResumed"
    assert job["status"]["startTime"] == "2026-01-01T12:05:00Z"
    assert "PyTorchJobResumed" in [e.reason for e in resumed.events]


def test_nothing_is_created_while_old_pods_are_still_terminating() -> None:
    job, pods, services = make_job(), [], []
    advance(job, pods, services)
    pods[0]["metadata"]["deletionTimestamp"] = "2026-01-01T12:00:00Z"
    pods[:] = pods[:1]
    assert advance(job, pods, services).create_pods == []


def test_scaling_workers_down_deletes_the_surplus_pods() -> None:
    job, pods, services = make_job(workers=3), [], []
    advance(job, pods, services)
    job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = 1
    result = advance(job, pods, services)
    assert sorted(result.delete_pods) == ["digits-worker-1", "digits-worker-2"]


# --- HyperPod auto-resume -----------------------------------------------------------------


def resumable(retries: int) -> Obj:
    job = make_job()
    job["metadata"]["annotations"] = {
        api.ANNOTATION_AUTO_RESUME: "true",
        api.ANNOTATION_MAX_RETRY: str(retries),
    }
    return job


def test_auto_resume_restarts_the_whole_job_on_a_killed_worker() -> None:
    job, pods, services = resumable(2), [], []
    advance(job, pods, services)
    run_all(pods)
    advance(job, pods, services)
    set_phase(pods, "digits-worker-1", "Running", restarts=1, last_exit=137)
    result = advance(job, pods, services)
    assert sorted(result.delete_pods) == ["digits-master-0", "digits-worker-0", "digits-worker-1"]
    assert result.delete_services == []
    assert job["status"]["restartCount"] == 1
    assert last_condition(job) == "Restarting"
    restarting = rules.condition(job["status"], "Restarting")
    assert restarting is not None and "digits-worker-1" in restarting["message"]
    assert "code 137" in restarting["message"] and "1 of 2" in restarting["message"]
    recreated = advance(job, pods, services)
    assert names(recreated.create_pods) == ["digits-master-0", "digits-worker-0", "digits-worker-1"]
    run_all(pods)
    advance(job, pods, services)
    assert last_condition(job) == "Running"


def test_auto_resume_fails_the_job_once_the_retries_are_spent() -> None:
    job, pods, services = resumable(1), [], []
    for _ in range(2):
        advance(job, pods, services)
        run_all(pods)
        set_phase(pods, "digits-master-0", "Failed", exit_code=137)
        advance(job, pods, services)
    failed = rules.condition(job["status"], "Failed")
    assert failed is not None and "retry limit (1)" in failed["message"]
    assert job["status"]["restartCount"] == 1


def test_auto_resume_leaves_permanent_exits_to_the_restart_policy() -> None:
    job, pods, services = resumable(3), [], []
    advance(job, pods, services)
    run_all(pods)
    set_phase(pods, "digits-worker-0", "Running", restarts=1, last_exit=1)
    result = advance(job, pods, services)
    assert result.delete_pods == [] and "restartCount" not in job["status"]


# --- managedBy ----------------------------------------------------------------------------


def test_a_job_managed_by_another_controller_is_left_alone() -> None:
    job = make_job(runPolicy={"managedBy": "kueue.x-k8s.io/multikueue"})
    result = rules.plan(job, [], [], NOW)
    assert result.skipped and result.create_pods == [] and result.status == {}


def test_auto_resume_restarts_the_whole_job_when_a_pod_is_evicted() -> None:
    job, pods, services = resumable(2), [], []
    advance(job, pods, services)
    run_all(pods)
    for index, pod in enumerate(pods):
        pod["metadata"]["uid"] = f"uid-{index}"
    pods[1]["metadata"]["deletionTimestamp"] = "2026-01-01T12:00:00Z"  # evicted, still stopping
    result = rules.plan(job, pods, services, NOW)
    assert sorted(result.delete_pods) == ["digits-master-0", "digits-worker-1"]
    assert result.acknowledged == ["uid-1"]
    assert result.status["restartCount"] == 1
    restarting = rules.condition(result.status, "Restarting")
    assert restarting is not None and "digits-worker-0: Evicted" in restarting["message"]
    # Once acted upon (or deleted by the operator itself), a terminating pod is no new failure.
    job["status"] = result.status
    again = rules.plan(job, pods, services, NOW, ours={"uid-1"})
    assert again.status["restartCount"] == 1
    assert again.delete_pods == [] and again.acknowledged == []


def test_an_evicted_pod_without_auto_resume_is_simply_replaced_once_gone() -> None:
    job, pods, services = make_job(), [], []
    advance(job, pods, services)
    run_all(pods)
    pods[1]["metadata"]["deletionTimestamp"] = "2026-01-01T12:00:00Z"
    result = advance(job, pods, services)
    assert result.delete_pods == [] and result.create_pods == []
    assert "restartCount" not in job["status"]
    pods[:] = [p for p in pods if p["metadata"]["name"] != "digits-worker-0"]
    assert names(advance(job, pods, services).create_pods) == ["digits-worker-0"]


def test_a_missing_config_map_is_waited_for_not_failed() -> None:
    job, pods, services = make_job(), [], []
    advance(job, pods, services)
    set_phase(pods, "digits-worker-0", "Pending", reason="CreateContainerConfigError")
    advance(job, pods, services)
    assert not rules.is_finished(job["status"])


def test_a_million_replicas_are_created_in_bounded_slow_start_batches() -> None:
    job, pods, services = make_job(workers=1_000_000), [], []
    sizes = []
    for _ in range(12):
        result = advance(job, pods, services)
        sizes.append(len(result.create_pods))
        assert len(result.create_pods) <= rules.MAX_CREATE_BATCH
        assert result.requeue_after is not None
    assert sizes[:4] == [16, 16, 32, 64]
    # New pods stay Pending (nothing schedules them): creation stops at the pending cap.
    assert len(pods) == rules.MAX_PENDING_PODS
    assert advance(job, pods, services).create_pods == []
