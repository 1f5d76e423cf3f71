"""CronJobs on a real control plane: a per-minute schedule creates a Job that runs, history
limits apply, ``kubectl create job --from=cronjob/...`` works and bad schedules are refused."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")

CONFIG = {"nodes": {"simulated": [{"group": "sim", "instanceType": "ml.m5.2xlarge", "count": 1}]}}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("cron"), CONFIG)
    yield plane
    plane.stop()


def cronjob(name: str, schedule: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "metadata": {"labels": {"from": name}},
                "spec": {
                    "template": {
                        "metadata": {"annotations": {"hyperpod.local/simulate-duration": "100ms"}},
                        "spec": {
                            "restartPolicy": "Never",
                            "nodeSelector": {"type": "kwok"},
                            "containers": [{"name": "tick", "image": "busybox"}],
                        },
                    }
                },
            },
            **spec,
        },
    }


def get_json(cp: RunningControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_per_minute_schedule_runs_a_job_at_the_next_minute(cp: RunningControlPlane) -> None:
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(cronjob("tick", "* * * * *")))
    jobs = wait_for("a scheduled job", lambda: get_json(cp, "jobs", "-l", "from=tick")["items"])
    job = jobs[0]
    stamp = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    assert stamp.endswith(":00Z")
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    cp.kubectl(
        "wait", "--for=condition=complete", f"job/{job['metadata']['name']}", "--timeout=60s"
    )
    status = wait_for(
        "lastSuccessfulTime",
        lambda: (
            (get_json(cp, "cronjob", "tick").get("status") or {}).get("lastSuccessfulTime")
            and get_json(cp, "cronjob", "tick")["status"]
        ),
    )
    assert status["lastScheduleTime"] == stamp
    cp.kubectl("patch", "cronjob", "tick", "-p", '{"spec":{"suspend":true}}')


def test_kubectl_create_job_from_a_cronjob_runs_its_template(cp: RunningControlPlane) -> None:
    cp.kubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump(cronjob("nightly", "0 3 * * *", timeZone="Europe/Paris")),
    )
    cp.kubectl("create", "job", "nightly-now", "--from=cronjob/nightly")
    cp.kubectl("wait", "--for=condition=complete", "job/nightly-now", "--timeout=60s")
    job = get_json(cp, "job", "nightly-now")
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    table = cp.kubectl("get", "cronjob", "nightly").stdout
    assert "0 3 * * *" in table and "Europe/Paris" in table


def test_malformed_schedules_and_time_zones_are_rejected(cp: RunningControlPlane) -> None:
    res = cp.kubectl(
        "apply", "-f", "-", input=yaml.safe_dump(cronjob("bad", "61 * * * *")), check=False
    )
    assert res.returncode != 0 and "spec.schedule" in res.stderr and "outside 0-59" in res.stderr
    res = cp.kubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump(cronjob("badtz", "@daily", timeZone="Mars/Base")),
        check=False,
    )
    assert res.returncode != 0 and "spec.timeZone" in res.stderr
