"""``kubelet.podUsers: perNamespace`` on a real control plane run as root: each team's pods run
as a Unix user of their own and cannot read the admin's files or another team's, nor signal
another team's processes, while still running to completion with their logs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hyperpod.kubelet import podusers, progress_reader
from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(KUBECTL is None, reason="needs kubectl"),
    pytest.mark.skipif(os.geteuid() != 0, reason="per-namespace users need root"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)"),
]


@pytest.fixture(scope="module")
def cp() -> Iterator[RunningControlPlane]:
    # Not under pytest's tmp dir: /tmp/pytest-of-root is 0700, and pods must reach their sandbox.
    data_dir = Path(tempfile.mkdtemp(prefix="hyperpod-podusers-", dir="/tmp"))
    plane = start_control_plane(data_dir, {"kubelet": {"podUsers": "perNamespace"}})
    yield plane
    plane.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


def kubectl(cp: RunningControlPlane, *args: str, stdin: str | None = None) -> str:
    assert KUBECTL is not None
    res = subprocess.run(
        [KUBECTL, "--kubeconfig", str(cp.kubeconfig), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def pod(name: str, ns: str, script: str, sc: dict[str, Any] | None = None) -> str:
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [{"name": "c", "image": "local/sh", "command": ["/bin/sh", "-c", script]}],
    }
    if sc:
        spec["securityContext"] = sc
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}}
    return json.dumps({**obj, "spec": spec})


def wait_phase(cp: RunningControlPlane, name: str, ns: str, want: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        obj = json.loads(kubectl(cp, "get", "pod", name, "-n", ns, "-o", "json"))
        if (obj.get("status") or {}).get("phase") in want or time.monotonic() > deadline:
            return dict(obj)
        time.sleep(0.2)


def container_pid(cp: RunningControlPlane, obj: dict[str, Any]) -> int:
    record = cp.data_dir / "pods" / obj["metadata"]["uid"] / "c" / "0.json"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if record.exists() and json.loads(record.read_text()).get("pid"):
            return int(json.loads(record.read_text())["pid"])
        time.sleep(0.1)
    raise AssertionError(f"no pid in {record}")


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


def test_teams_are_apart_and_pods_still_run(cp: RunningControlPlane) -> None:
    for ns in ("team-a", "team-b"):
        kubectl(cp, "create", "namespace", ns)
    kubectl(cp, "apply", "-f", "-", stdin=pod("sleeper", "team-a", "echo secret > mine; sleep 60"))
    sleeper = wait_phase(cp, "sleeper", "team-a", {"Running"})
    victim = container_pid(cp, sleeper)
    a_sandbox = cp.data_dir / "pods" / sleeper["metadata"]["uid"] / "work"
    deadline = time.monotonic() + 10
    while not (a_sandbox / "mine").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    a_uid = uid_of(victim)  # once the command runs (the mount wrappers before it are root's)
    probe = f"""
id -u; id -G
cat {cp.data_dir}/kubeconfig >/dev/null 2>&1 && echo READ-KUBECONFIG
cat {cp.data_dir}/token >/dev/null 2>&1 && echo READ-TOKEN
cat {cp.data_dir}/state.db >/dev/null 2>&1 && echo READ-STATE-DB
ls {cp.data_dir} >/dev/null 2>&1 && echo LISTED-DATA-DIR
cat {a_sandbox}/mine >/dev/null 2>&1 && echo READ-OTHER-TEAM
kill -0 {victim} 2>/dev/null && echo SIGNALLED-OTHER-TEAM
cat "$KUBERNETES_SERVICE_ACCOUNT_TOKEN_FILE" /var/run/secrets/kubernetes.io/serviceaccount/token \
  2>/dev/null | grep -q . && echo TOKEN-READABLE
S=$(dirname $(dirname "$HYPERPOD_PROGRESS_FILE"))
touch "$S/planted" 2>/dev/null && echo WROTE-SANDBOX
touch "$S/c/planted" 2>/dev/null && echo WROTE-CONTAINER-DIR
ln -sf /etc/shadow "$S/serviceaccount/token" 2>/dev/null && echo SWAPPED-TOKEN
printf '{{"step": 3, "totalSteps": 10}}' > "$HYPERPOD_PROGRESS_FILE" && echo PROGRESS-WRITTEN
echo written > out.txt && cat out.txt && pwd
"""
    sc = {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000}
    kubectl(cp, "apply", "-f", "-", stdin=pod("prober", "team-b", probe, sc))
    done = wait_phase(cp, "prober", "team-b", {"Succeeded", "Failed"})
    logs = kubectl(cp, "logs", "prober", "-n", "team-b")
    assert done["status"]["phase"] == "Succeeded", (done["status"], logs)
    lines = logs.split("\n")
    b_uid = int(lines[0])
    # Two teams, two blocks from the reserved range; runAsUser/runAsGroup/fsGroup inside it.
    a_block, a_off = divmod(a_uid - podusers.BASE, podusers.BLOCK)
    b_block, b_off = divmod(b_uid - podusers.BASE, podusers.BLOCK)
    assert a_uid >= podusers.BASE and b_uid >= podusers.BASE
    assert (a_off, b_off) == (0, 1000) and a_block != b_block
    b_base = b_uid - 1000
    assert set(map(int, lines[1].split())) == {b_base + 3000, b_base + 2000}
    for leak in (
        "READ-KUBECONFIG",
        "READ-TOKEN",
        "READ-STATE-DB",
        "LISTED-DATA-DIR",
        "READ-OTHER-TEAM",
        "SIGNALLED-OTHER-TEAM",
        "WROTE-SANDBOX",
        "WROTE-CONTAINER-DIR",
        "SWAPPED-TOKEN",
    ):
        assert leak not in logs, logs
    assert "TOKEN-READABLE" in logs and "written" in logs, logs
    b_sandbox = cp.data_dir / "pods" / done["metadata"]["uid"]
    assert lines[-2] == str(b_sandbox / "work"), logs  # the default working dir is its own
    assert "PROGRESS-WRITTEN" in logs, logs
    report = progress_reader.read_container(cp.data_dir, done, "c")
    assert report is not None and report["step"] == 3
    # The victim lives on, and the root-run exec path runs as the container's own user.
    assert uid_of(victim) == a_uid
    out = kubectl(cp, "exec", "sleeper", "-n", "team-a", "--", "id", "-u")
    assert int(out) == a_uid


def test_ids_outside_the_block_are_refused(cp: RunningControlPlane) -> None:
    kubectl(cp, "create", "namespace", "team-c")
    kubectl(cp, "apply", "-f", "-", stdin=pod("greedy", "team-c", "id -u", {"runAsUser": 70000}))
    deadline = time.monotonic() + 20
    while True:
        obj = json.loads(kubectl(cp, "get", "pod", "greedy", "-n", "team-c", "-o", "json"))
        states = [s.get("state") or {} for s in obj["status"].get("containerStatuses") or []]
        waiting = [s["waiting"] for s in states if "waiting" in s]
        if waiting and waiting[0].get("reason") == "CreateContainerConfigError":
            assert "runAsUser: 70000 is outside 0..65535" in waiting[0]["message"]
            return
        assert time.monotonic() < deadline, obj["status"]
        time.sleep(0.2)


def test_exec_probe_runs_as_the_pod_user(cp: RunningControlPlane) -> None:
    # An exec probe is the pod's own command too: it must not run as root.
    kubectl(cp, "create", "namespace", "team-d")
    spec = json.loads(pod("probed", "team-d", "sleep 60"))
    spec["spec"]["containers"][0]["readinessProbe"] = {
        "exec": {"command": ["/bin/sh", "-c", "test $(id -u) -ne 0"]},
        "periodSeconds": 1,
    }
    kubectl(cp, "apply", "-f", "-", stdin=json.dumps(spec))
    deadline = time.monotonic() + 20
    while True:
        obj = json.loads(kubectl(cp, "get", "pod", "probed", "-n", "team-d", "-o", "json"))
        statuses = obj["status"].get("containerStatuses") or []
        if statuses and statuses[0].get("ready"):
            return
        assert time.monotonic() < deadline, obj["status"]
        time.sleep(0.2)
