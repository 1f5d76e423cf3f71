"""kubectl 1.32 against the real server: the commands users type every day."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from support import KUBECTL, RunningControlPlane

pytestmark = pytest.mark.skipif(
    KUBECTL is None,
    reason="kubectl is not installed here; the official-client contract tests cover the same API",
)

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: trains.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: trains, singular: train, kind: Train, shortNames: [tr]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Cars, type: integer, jsonPath: .spec.cars}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cars: {type: integer}
          status:
            type: object
            properties:
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_apply_creates_then_reapplies_a_changed_manifest(
    cluster: RunningControlPlane, tmp_path: Path
) -> None:
    m = write(
        tmp_path,
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: '1'\n",
    )
    out = cluster.kubectl("apply", "-f", m)
    assert "configmap/app created" in out.stdout
    m = write(
        tmp_path,
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: '2'\n  b: '3'\n",
    )
    out = cluster.kubectl("apply", "-f", m)
    assert "configmap/app configured" in out.stdout
    got = json.loads(cluster.kubectl("get", "cm", "app", "-o", "json").stdout)
    assert got["data"] == {"a": "2", "b": "3"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in got["metadata"]["annotations"]


def test_apply_with_strict_validation_rejects_unknown_fields(
    cluster: RunningControlPlane, tmp_path: Path
) -> None:
    m = write(
        tmp_path,
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndatta:\n  a: '1'\n",
    )
    out = cluster.kubectl("apply", "-f", m, check=False)
    assert out.returncode != 0
    assert "datta" in out.stderr


def test_crd_objects_show_printer_columns_and_reject_strategic_patches(
    cluster: RunningControlPlane, tmp_path: Path
) -> None:
    cluster.kubectl("apply", "-f", write(tmp_path, "crd.yaml", CRD))
    cluster.kubectl(
        "apply",
        "-f",
        write(
            tmp_path,
            "t.yaml",
            "apiVersion: example.com/v1\nkind: Train\nmetadata:\n"
            "  name: express\nspec:\n  cars: 7\n",
        ),
    )
    out = cluster.kubectl("get", "tr")
    header, row = out.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "CARS", "AGE"]
    assert row.split()[:2] == ["express", "7"]
    bad = cluster.kubectl("patch", "train", "express", "-p", '{"spec":{"cars":8}}', check=False)
    assert bad.returncode != 0
    assert "strategic" in bad.stderr.lower() or "not supported" in bad.stderr
    cluster.kubectl("patch", "train", "express", "--type=merge", "-p", '{"spec":{"cars":9}}')
    cluster.kubectl(
        "patch",
        "train",
        "express",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/cars","value":10}]',
    )
    got = json.loads(cluster.kubectl("get", "train", "express", "-o", "json").stdout)
    assert got["spec"]["cars"] == 10


def test_server_side_apply_creates_and_updates(
    cluster: RunningControlPlane, tmp_path: Path
) -> None:
    m = write(
        tmp_path,
        "ssa.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: '1'\n",
    )
    out = cluster.kubectl("apply", "--server-side", "-f", m)
    assert "serverside-applied" in out.stdout
    m = write(
        tmp_path,
        "ssa.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: '2'\n",
    )
    cluster.kubectl("apply", "--server-side", "-f", m)
    got = json.loads(
        cluster.kubectl("get", "cm", "ssa", "-o", "json", "--show-managed-fields").stdout
    )
    assert got["data"] == {"a": "2"}
    assert any(f["manager"] == "kubectl" for f in got["metadata"]["managedFields"])


def test_get_watch_prints_changes_as_they_happen(
    cluster: RunningControlPlane, tmp_path: Path
) -> None:
    env_cm = write(
        tmp_path, "w.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\n"
    )
    import os

    proc = subprocess.Popen(
        [str(KUBECTL), "get", "cm", "-w", "--request-timeout=8s"],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    cluster.kubectl("apply", "-f", env_cm)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    assert "watched" in out


def test_delete_waits_and_wait_for_delete_returns(
    cluster: RunningControlPlane, tmp_path: Path
) -> None:
    cluster.kubectl(
        "apply",
        "-f",
        write(tmp_path, "d.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: doomed\n"),
    )
    out = cluster.kubectl("delete", "cm", "doomed")
    assert 'configmap "doomed" deleted' in out.stdout
    cluster.kubectl(
        "apply",
        "-f",
        write(tmp_path, "d2.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: doomed2\n"),
    )
    waiter = subprocess.Popen(
        [str(KUBECTL), "wait", "--for=delete", "cm/doomed2", "--timeout=20s"],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.8)
    cluster.kubectl("delete", "cm", "doomed2", "--wait=false")
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err


def test_wait_for_condition_sees_a_status_change(
    cluster: RunningControlPlane, tmp_path: Path
) -> None:
    cluster.kubectl("apply", "-f", write(tmp_path, "crd.yaml", CRD))
    cluster.kubectl(
        "apply",
        "-f",
        write(
            tmp_path,
            "t2.yaml",
            "apiVersion: example.com/v1\nkind: Train\nmetadata:\n  name: local\nspec:\n  cars: 2\n",
        ),
    )
    waiter = subprocess.Popen(
        [str(KUBECTL), "wait", "--for=condition=Arrived", "train/local", "--timeout=20s"],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.8)
    cluster.kubectl(
        "patch",
        "train",
        "local",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"conditions":[{"type":"Arrived","status":"True"}]}}',
    )
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert "condition met" in out


def test_api_resources_lists_short_names(cluster: RunningControlPlane) -> None:
    out = cluster.kubectl("api-resources").stdout
    # metrics.k8s.io serves "pods" and "nodes" too (kubectl top): keep the core ones.
    lines = {
        line.split()[0]: line for line in out.splitlines()[1:] if "metrics.k8s.io/" not in line
    }
    assert " po " in lines["pods"] + " "
    assert "crd,crds" in lines["customresourcedefinitions"]


def test_describe_shows_a_config_map(cluster: RunningControlPlane, tmp_path: Path) -> None:
    cluster.kubectl(
        "apply",
        "-f",
        write(
            tmp_path,
            "desc.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: described\ndata:\n  key: value\n",
        ),
    )
    out = cluster.kubectl("describe", "cm", "described").stdout
    assert "Name:" in out and "described" in out and "key" in out


def test_get_pods_prints_ready_status_restarts_and_age(
    cluster: RunningControlPlane, tmp_path: Path
) -> None:
    cluster.kubectl(
        "apply",
        "-f",
        write(
            tmp_path,
            "pod.yaml",
            """
apiVersion: v1
kind: Pod
metadata:
  name: tabled
spec:
  schedulerName: nobody-schedules-this
  containers:
  - name: main
    image: python:3.11
    command: ["sleep", "1"]
""",
        ),
    )
    out = cluster.kubectl("get", "pods", "tabled").stdout
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row.split()[:4] == ["tabled", "0/1", "Pending", "0"]
    cluster.kubectl("delete", "pod", "tabled", "--wait=false")


def test_kubectl_create_generators_send_protobuf_and_the_objects_arrive_whole(
    cluster: RunningControlPlane,
) -> None:
    k = cluster.kubectl
    assert "namespace/gen-team created" in k("create", "namespace", "gen-team").stdout
    k("create", "configmap", "gen-cm", "-n", "gen-team", "--from-literal=a=b")
    k("create", "secret", "generic", "gen-s", "-n", "gen-team", "--from-literal=pw=p")
    k("create", "serviceaccount", "gen-sa", "-n", "gen-team")
    k("create", "role", "gen-r", "-n", "gen-team", "--verb=get,list", "--resource=pods")
    k("create", "rolebinding", "gen-rb", "-n", "gen-team", "--role=gen-r", "--user=ann")
    k("create", "clusterrole", "gen-cr", "--verb=get", "--resource=nodes")
    k("create", "clusterrolebinding", "gen-crb", "--clusterrole=gen-cr", "--group=ops")
    k("create", "priorityclass", "gen-zero", "--value=0", "--description=lowest")
    k("create", "service", "clusterip", "gen-svc", "-n", "gen-team", "--tcp=80:8080")

    def get(*args: str) -> dict:
        return json.loads(k("get", *args, "-o", "json").stdout)

    assert get("cm", "gen-cm", "-n", "gen-team")["data"] == {"a": "b"}
    assert get("secret", "gen-s", "-n", "gen-team")["data"] == {"pw": "cA=="}
    assert get("role", "gen-r", "-n", "gen-team")["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
    ]
    rb = get("rolebinding", "gen-rb", "-n", "gen-team")
    assert rb["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "gen-r",
    }
    assert rb["subjects"][0]["name"] == "ann"
    pc = get("priorityclass", "gen-zero")
    assert (pc["value"], pc["description"]) == (0, "lowest")
    port = get("svc", "gen-svc", "-n", "gen-team")["spec"]["ports"][0]
    assert (port["port"], port["targetPort"]) == (80, 8080)


def test_kubectl_create_of_an_invalid_name_is_rejected_with_the_field(
    cluster: RunningControlPlane,
) -> None:
    res = cluster.kubectl("create", "namespace", "Not_A_Name", check=False)
    assert res.returncode != 0
    assert "metadata.name" in res.stderr and "RFC 1123" in res.stderr


def test_kubectl_drain_evicts_a_running_pod(cluster: RunningControlPlane, tmp_path: Path) -> None:
    node = cluster.kubectl("get", "nodes", "-o", "name").stdout.split()[0]
    cluster.kubectl("run", "drain-me", "--image=busybox", "--", "sleep", "300")
    cluster.kubectl("wait", "--for=condition=Ready", "pod/drain-me", "--timeout=30s")
    try:
        res = cluster.kubectl("drain", node, "--force", "--timeout=30s")
        assert "pod/drain-me evicted" in res.stdout + res.stderr
    finally:
        cluster.kubectl("uncordon", node)
    assert "drain-me" not in cluster.kubectl("get", "pods").stdout


@pytest.fixture(scope="module")
def exec_pod(cluster: RunningControlPlane) -> str:
    cluster.kubectl("run", "exec-me", "--image=busybox", "--env=TEAM=vision", "--", "sleep", "300")
    cluster.kubectl("wait", "--for=condition=Ready", "pod/exec-me", "--timeout=30s")
    return "exec-me"


def test_kubectl_exec_runs_in_the_containers_environment(
    cluster: RunningControlPlane, exec_pod: str
) -> None:
    res = cluster.kubectl("exec", exec_pod, "--", "sh", "-c", "echo team=$TEAM; echo warn >&2")
    assert res.stdout == "team=vision\n" and res.stderr == "warn\n"


def test_kubectl_exec_passes_stdin_and_returns_the_exit_code(
    cluster: RunningControlPlane, exec_pod: str
) -> None:
    res = cluster.kubectl(
        "exec", "-i", exec_pod, "--", "sh", "-c", "cat; exit 3", input="abc\n", check=False
    )
    assert res.stdout == "abc\n"
    assert res.returncode == 3 and "command terminated with exit code 3" in res.stderr


def test_kubectl_exec_errors_say_what_is_wrong(cluster: RunningControlPlane, exec_pod: str) -> None:
    cases = {
        ("exec", "no-such-pod", "--", "ls"): 'pods "no-such-pod" not found',
        ("exec", exec_pod, "-c", "nope", "--", "ls"): "container nope is not valid",
        ("exec", exec_pod, "--", "no-such-tool"): 'exec: "no-such-tool": executable file not found',
    }
    for args, message in cases.items():
        res = cluster.kubectl(*args, check=False)
        assert res.returncode != 0 and message in res.stderr, (args, res.stderr)


def test_kubectl_auth_can_i_and_whoami_answer(cluster: RunningControlPlane) -> None:
    assert cluster.kubectl("auth", "can-i", "create", "pytorchjobs.kubeflow.org").stdout == "yes\n"
    assert cluster.kubectl("auth", "can-i", "get", "/healthz").stdout == "yes\n"
    assert "*.*" in cluster.kubectl("auth", "can-i", "--list", "-n", "team-a").stdout
    assert "system:masters" in cluster.kubectl("auth", "whoami").stdout
    listed = cluster.kubectl("get", "selfsubjectaccessreviews", check=False)
    assert listed.returncode != 0 and "can only be created" in listed.stderr


def test_kubectl_cp_copies_into_and_out_of_a_pod(
    cluster: RunningControlPlane, exec_pod: str, tmp_path: Path
) -> None:
    src = tmp_path / "weights.txt"
    src.write_text("step=42\n")
    cluster.kubectl("cp", str(src), f"{exec_pod}:copied.txt")
    assert cluster.kubectl("exec", exec_pod, "--", "cat", "copied.txt").stdout == "step=42\n"
    back = tmp_path / "back.txt"
    cluster.kubectl("cp", f"{exec_pod}:copied.txt", str(back))
    assert back.read_text() == "step=42\n"


def test_kubectl_debug_says_ephemeral_containers_are_not_served(
    cluster: RunningControlPlane, exec_pod: str
) -> None:
    res = cluster.kubectl("debug", exec_pod, "--image=busybox", "--profile=general", check=False)
    assert res.returncode != 0 and "panic" not in res.stderr
    assert "ephemeral containers are disabled for this cluster" in res.stderr


def test_an_exec_whose_client_goes_away_leaves_no_process(
    cluster: RunningControlPlane, exec_pod: str
) -> None:
    import psutil

    def running() -> list[psutil.Process]:
        return [
            p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "4242"]
        ]

    client = subprocess.Popen(
        [str(KUBECTL), "exec", exec_pod, "--", "sleep", "4242"],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not running():
        assert time.monotonic() < deadline, "the exec'd command never started"
        time.sleep(0.05)
    client.kill()
    client.wait()
    deadline = time.monotonic() + 20
    while running():
        assert time.monotonic() < deadline, "the exec'd command outlived its client"
        time.sleep(0.05)


def test_attach_says_what_to_do_instead(cluster: RunningControlPlane, exec_pod: str) -> None:
    attach = cluster.kubectl("attach", exec_pod, check=False, timeout=20)
    assert attach.returncode != 0 and "kubectl logs -f" in attach.stderr


def _exec_env(cluster: RunningControlPlane) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}


def _processes(*cmdline: str) -> list:
    import psutil

    return [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == list(cmdline)]


def _until(check: Any, message: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def _piped(cluster: RunningControlPlane, pipeline: str) -> subprocess.CompletedProcess[str]:
    """A shell pipeline that feeds kubectl's stdin."""
    return subprocess.run(
        pipeline, shell=True, env=_exec_env(cluster), capture_output=True, text=True, timeout=60
    )


def test_exec_stdin_to_a_command_that_stops_reading_early(
    cluster: RunningControlPlane, exec_pod: str
) -> None:
    res = _piped(cluster, f"yes | {KUBECTL} exec -i {exec_pod} -- head -c 10")
    assert (res.returncode, res.stdout) == (0, "y\ny\ny\ny\ny\n"), res.stderr


def test_exec_stdin_waits_for_a_slow_reader_without_losing_bytes(
    cluster: RunningControlPlane, exec_pod: str
) -> None:
    res = _piped(
        cluster,
        f"head -c 2000000 /dev/zero | {KUBECTL} exec -i {exec_pod} -- sh -c 'sleep 2; wc -c'",
    )
    assert res.returncode == 0 and res.stdout.strip() == "2000000", res.stderr


def test_a_client_that_leaves_while_stdin_is_backed_up_ends_the_command(
    cluster: RunningControlPlane, exec_pod: str
) -> None:
    client = subprocess.Popen(
        f"cat /dev/zero | {KUBECTL} exec -i {exec_pod} -- sleep 4243",
        shell=True,
        env=_exec_env(cluster),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _until(lambda: _processes("sleep", "4243"), "the exec'd command never started")
    time.sleep(2)  # let the input back up past what the server buffers
    os.killpg(client.pid, signal.SIGKILL)
    client.wait()
    _until(lambda: not _processes("sleep", "4243"), "the command outlived its client", 30)


def test_a_background_process_started_by_exec_ends_with_its_pod(
    cluster: RunningControlPlane,
) -> None:
    cluster.kubectl("run", "bg-exec", "--image=busybox", "--", "sleep", "300")
    cluster.kubectl("wait", "--for=condition=Ready", "pod/bg-exec", "--timeout=30s")
    cluster.kubectl("exec", "bg-exec", "--", "sh", "-c", "sleep 4244 >/dev/null 2>&1 &")
    _until(lambda: _processes("sleep", "4244"), "the background process never started")
    cluster.kubectl("delete", "pod", "bg-exec", "--grace-period=1")
    _until(lambda: not _processes("sleep", "4244"), "the background process outlived its pod")


def test_kubectl_diff_and_edit_change_a_config_map(
    cluster: RunningControlPlane, tmp_path: Path
) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tuned\ndata:\n  lr: '0.1'\n"
    cluster.kubectl("apply", "-f", write(tmp_path, "tuned.yaml", manifest))
    changed = write(tmp_path, "tuned2.yaml", manifest.replace("0.1", "0.2"))
    diff = cluster.kubectl("diff", "-f", changed, check=False)
    assert diff.returncode == 1 and '-  lr: "0.1"' in diff.stdout and '+  lr: "0.2"' in diff.stdout
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nsed -i "s/^  lr: .*/  lr: \\"0.3\\"/" "$1"\n')
    editor.chmod(0o755)
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "EDITOR": str(editor)}
    res = subprocess.run(
        [str(KUBECTL), "edit", "cm", "tuned"], env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(cluster.kubectl("get", "cm", "tuned", "-o", "json").stdout)["data"]
    assert data == {"lr": "0.3"}
