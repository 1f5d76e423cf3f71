"""batch/v1 Jobs on a real control plane: kubectl create job, completions and parallelism,
Indexed jobs, backoff limit, pod failure policy, deadline, suspend and TTL.

Pods run on simulated nodes, whose ``hyperpod.local/simulate-*`` annotations decide how long
they run and how they exit; one test runs real local processes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")

CONFIG = {"nodes": {"simulated": [{"group": "sim", "instanceType": "ml.m5.2xlarge", "count": 2}]}}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("jobs"), CONFIG)
    yield plane
    plane.stop()


@pytest.fixture(scope="module")
def batch(cp: RunningControlPlane) -> client.BatchV1Api:
    return client.BatchV1Api(cp.api_client())


def sim_job(name: str, duration: str = "300ms", exit_code: int = 0, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {
                        "hyperpod.local/simulate-duration": duration,
                        "hyperpod.local/simulate-exit-code": str(exit_code),
                    }
                },
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": {"type": "kwok"},
                    "containers": [{"name": "work", "image": "local/python"}],
                },
            },
            **spec,
        },
    }


def get_json(cp: RunningControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def conditions(cp: RunningControlPlane, name: str) -> dict[str, tuple[str, str]]:
    st = get_json(cp, "job", name).get("status") or {}
    return {c["type"]: (c["status"], c.get("reason", "")) for c in st.get("conditions") or []}


def create(cp: RunningControlPlane, obj: dict[str, Any]) -> None:
    cp.kubectl("create", "-f", "-", input=yaml.safe_dump(obj))


def test_kubectl_create_job_runs_a_real_process_to_completion(
    cluster: RunningControlPlane,
) -> None:
    cp = cluster  # no simulated nodes: the pod runs as a local process
    cp.kubectl(
        "create", "job", "hello", "--image=local/python", "--", "python", "-c", "print('hi there')"
    )
    cp.kubectl("wait", "--for=condition=complete", "job/hello", "--timeout=90s")
    status = get_json(cp, "job", "hello")["status"]
    assert status["succeeded"] == 1 and status.get("failed", 0) == 0
    assert status["completionTime"] and status["startTime"]
    assert conditions(cp, "hello")["SuccessCriteriaMet"][0] == "True"
    assert "hi there" in cp.kubectl("logs", "job/hello").stdout
    table = cp.kubectl("get", "job", "hello").stdout
    assert "Complete" in table and "1/1" in table


def test_completions_and_parallelism_run_pods_a_few_at_a_time(cp: RunningControlPlane) -> None:
    create(cp, sim_job("batches", completions=5, parallelism=2))
    seen_active: list[int] = []

    def done() -> bool:
        st = get_json(cp, "job", "batches").get("status") or {}
        seen_active.append(int(st.get("active") or 0))
        return conditions(cp, "batches").get("Complete", ("", ""))[0] == "True"

    wait_for("completion", done)
    assert max(seen_active) <= 2
    assert get_json(cp, "job", "batches")["status"]["succeeded"] == 5
    pods = get_json(cp, "pods", "-l", "batch.kubernetes.io/job-name=batches")["items"]
    assert len(pods) == 5 and all(p["status"]["phase"] == "Succeeded" for p in pods)


def test_an_indexed_job_gives_every_pod_its_completion_index(cp: RunningControlPlane) -> None:
    create(cp, sim_job("indexed", completions=3, parallelism=3, completionMode="Indexed"))
    wait_for("completion", lambda: conditions(cp, "indexed").get("Complete", ("",))[0] == "True")
    assert get_json(cp, "job", "indexed")["status"]["completedIndexes"] == "0-2"
    pods = get_json(cp, "pods", "-l", "batch.kubernetes.io/job-name=indexed")["items"]
    indexes = sorted(
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods
    )
    assert indexes == ["0", "1", "2"]
    for p in pods:
        index = p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        env = p["spec"]["containers"][0]["env"]
        assert {"name": "JOB_COMPLETION_INDEX", "value": index} in env
        assert p["metadata"]["name"].startswith(f"indexed-{index}-")


def test_failing_pods_are_retried_until_the_backoff_limit(cp: RunningControlPlane) -> None:
    create(cp, sim_job("flaky", exit_code=3, backoffLimit=2))
    wait_for("failure", lambda: conditions(cp, "flaky").get("Failed", ("",))[0] == "True")
    assert conditions(cp, "flaky")["Failed"] == ("True", "BackoffLimitExceeded")
    assert get_json(cp, "job", "flaky")["status"]["failed"] == 3


def test_backoff_limit_per_index_retries_each_index_then_fails_the_job(
    cp: RunningControlPlane,
) -> None:
    create(
        cp,
        sim_job(
            "perindex",
            exit_code=3,
            completions=2,
            parallelism=2,
            completionMode="Indexed",
            backoffLimitPerIndex=1,
        ),
    )
    wait_for("failure", lambda: conditions(cp, "perindex").get("Failed", ("",))[0] == "True")
    assert conditions(cp, "perindex")["Failed"] == ("True", "FailedIndexes")
    status = get_json(cp, "job", "perindex")["status"]
    assert status["failed"] == 4 and status["failedIndexes"] == "0-1"


def test_a_fail_job_rule_of_the_pod_failure_policy_fails_at_the_first_match(
    cp: RunningControlPlane,
) -> None:
    policy = {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": "work", "operator": "In", "values": [42]},
            }
        ]
    }
    create(cp, sim_job("fatal", exit_code=42, backoffLimit=6, podFailurePolicy=policy))
    wait_for("failure", lambda: conditions(cp, "fatal").get("Failed", ("",))[0] == "True")
    assert conditions(cp, "fatal")["Failed"] == ("True", "PodFailurePolicy")
    assert get_json(cp, "job", "fatal")["status"]["failed"] == 1


def test_active_deadline_seconds_fails_a_job_that_runs_too_long(cp: RunningControlPlane) -> None:
    create(cp, sim_job("slow", duration="1h", activeDeadlineSeconds=1))
    wait_for("failure", lambda: conditions(cp, "slow").get("Failed", ("",))[0] == "True")
    assert conditions(cp, "slow")["Failed"] == ("True", "DeadlineExceeded")
    wait_for(
        "the running pod to be stopped",
        lambda: (
            not [
                p
                for p in get_json(cp, "pods", "-l", "batch.kubernetes.io/job-name=slow")["items"]
                if p["status"].get("phase") == "Running"
                and not p["metadata"].get("deletionTimestamp")
            ]
        ),
    )


def test_a_suspended_job_creates_no_pods_until_resumed(cp: RunningControlPlane) -> None:
    create(cp, sim_job("held", suspend=True))
    wait_for("Suspended", lambda: conditions(cp, "held").get("Suspended", ("",))[0] == "True")
    assert not get_json(cp, "pods", "-l", "batch.kubernetes.io/job-name=held")["items"]
    cp.kubectl("patch", "job", "held", "-p", '{"spec":{"suspend":false}}')
    wait_for("completion", lambda: conditions(cp, "held").get("Complete", ("",))[0] == "True")
    assert conditions(cp, "held")["Suspended"] == ("False", "JobResumed")


def test_ttl_seconds_after_finished_deletes_the_job_and_its_pods(
    cp: RunningControlPlane, batch: client.BatchV1Api
) -> None:
    create(cp, sim_job("shortlived", ttlSecondsAfterFinished=1))
    wait_for(
        "the job to be deleted",
        lambda: cp.kubectl("get", "job", "shortlived", check=False).returncode != 0,
    )
    wait_for(
        "its pods to be collected",
        lambda: not get_json(cp, "pods", "-l", "batch.kubernetes.io/job-name=shortlived")["items"],
    )


def test_the_official_client_creates_reads_and_deletes_jobs(
    cp: RunningControlPlane, batch: client.BatchV1Api
) -> None:
    body = sim_job("client-job")
    body["spec"]["template"]["metadata"]["name"] = "client-job"
    made = batch.create_namespaced_job("default", body)
    assert made.metadata.name == "client-job"
    assert made.spec.selector.match_labels == {
        "batch.kubernetes.io/controller-uid": made.metadata.uid
    }
    got = batch.read_namespaced_job("client-job", "default")
    assert got.spec.backoff_limit == 6 and got.spec.completions == 1
    batch.delete_namespaced_job("client-job", "default", body={}, propagation_policy="Foreground")
    wait_for(
        "the job to go",
        lambda: cp.kubectl("get", "job", "client-job", check=False).returncode != 0,
    )


def test_invalid_jobs_and_forbidden_updates_are_rejected(
    cp: RunningControlPlane, batch: client.BatchV1Api
) -> None:
    bad = sim_job("bad-restart")
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    with pytest.raises(ApiException) as err:
        batch.create_namespaced_job("default", bad)
    assert err.value.status == 422
    assert "restartPolicy" in json.loads(err.value.body)["message"]
    no_completions = sim_job("bad-indexed", completionMode="Indexed", parallelism=2)
    with pytest.raises(ApiException) as err:
        batch.create_namespaced_job("default", no_completions)
    assert err.value.status == 422
    create(cp, sim_job("fixed", duration="1h"))
    res = cp.kubectl("patch", "job", "fixed", "-p", '{"spec":{"completions":4}}', check=False)
    assert res.returncode != 0 and "field is immutable" in res.stderr


def test_an_indexed_job_hands_each_local_process_its_index(cluster: RunningControlPlane) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "shards"},
        "spec": {
            "completions": 2,
            "parallelism": 2,
            "completionMode": "Indexed",
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "shard",
                            "image": "local/python",
                            "command": [
                                "python",
                                "-c",
                                "import os; print('shard', os.environ['JOB_COMPLETION_INDEX'])",
                            ],
                        }
                    ],
                }
            },
        },
    }
    create(cluster, job)
    cluster.kubectl("wait", "--for=condition=complete", "job/shards", "--timeout=90s")
    pods = get_json(cluster, "pods", "-l", "batch.kubernetes.io/job-name=shards")["items"]
    printed = sorted(cluster.kubectl("logs", p["metadata"]["name"]).stdout.strip() for p in pods)
    assert printed == ["shard 0", "shard 1"]
