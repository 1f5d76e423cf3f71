"""Abusive requests against the real server: each gets a 4xx, nothing is stored, it stays up."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from support import RunningControlPlane

CM_PATH = "/api/v1/namespaces/default/configmaps"


def send(
    cp: RunningControlPlane,
    method: str,
    path: str,
    body: bytes,
    ctype: str = "application/json",
    auth: str | None = None,
) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        cp.url + path,
        data=body,
        method=method,
        headers={"Authorization": auth or f"Bearer {cp.token}", "Content-Type": ctype},
    )
    try:
        with urllib.request.urlopen(req, timeout=30, context=cp.ssl_context()) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def config_map(name: str, **meta: Any) -> bytes:
    return json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}}
    ).encode()


@pytest.mark.parametrize(
    "meta",
    [
        {"ownerReferences": 3.5},
        {"ownerReferences": {}},
        {"ownerReferences": "abc"},
        {"finalizers": True},
        {"generateName": 7},
    ],
)
def test_poison_metadata_gets_422_and_nothing_is_stored(
    cluster: RunningControlPlane, meta: dict[str, Any]
) -> None:
    code, status = send(cluster, "POST", CM_PATH, config_map("poison", **meta))
    assert code == 422, status
    assert status["reason"] == "Invalid"
    assert cluster.get(CM_PATH + "/poison")[0] == 404


def test_a_yaml_alias_bomb_is_refused_with_400(cluster: RunningControlPlane) -> None:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", 'a0: &a0 ["lol"]']
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    body = "\n".join(lines).encode()
    assert len(body) < 1024
    code, status = send(cluster, "POST", CM_PATH, body, "application/yaml")
    assert code == 400 and "aliases" in status["message"]
    assert cluster.get("/readyz")[0] == 200


def test_a_yaml_document_10000_levels_deep_is_refused_with_400(
    cluster: RunningControlPlane,
) -> None:
    body = b"[" * 10_000 + b"]" * 10_000
    code, status = send(cluster, "POST", CM_PATH, body, "application/yaml")
    assert code == 400 and "deeper" in status["message"]


def test_json_nested_past_the_depth_limit_is_refused_with_400(
    cluster: RunningControlPlane,
) -> None:
    deep: Any = "x"
    for _ in range(300):
        deep = {"a": deep}
    body = json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "deep"}, "x": deep}
    ).encode()
    code, status = send(cluster, "POST", CM_PATH, body)
    assert code == 400 and "deeper" in status["message"]


def test_the_bearer_scheme_is_case_insensitive(cluster: RunningControlPlane) -> None:
    code, body = send(
        cluster, "POST", CM_PATH, config_map("lower-bearer"), auth=f"bearer {cluster.token}"
    )
    assert code == 201, body
    code, _ = send(cluster, "POST", CM_PATH, config_map("wrong"), auth=f"bearer x{cluster.token}")
    assert code == 401


def test_replicas_beyond_int32_are_refused(cluster: RunningControlPlane) -> None:
    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "huge"},
        "spec": {
            "pytorchReplicaSpecs": {
                "Worker": {
                    "replicas": 2**63,
                    "template": {"spec": {"containers": [{"name": "pytorch", "image": "x"}]}},
                }
            }
        },
    }
    path = "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs"
    code, status = send(cluster, "POST", path, json.dumps(job).encode())
    assert 400 <= code < 500, status
    job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = 2**31
    code, status = send(cluster, "POST", path, json.dumps(job).encode())
    assert code == 422, status
    assert cluster.get(path + "/huge")[0] == 404


def test_a_missing_namespace_is_reported_as_such(cluster: RunningControlPlane) -> None:
    from hyperpod.client.errors import JobNotFound, UserError
    from hyperpod.client.jobs import Jobs
    from hyperpod.client.kube import Kube

    jobs = Jobs(Kube(str(cluster.kubeconfig)))
    with pytest.raises(UserError, match="namespace 'no-such-team' does not exist"):
        jobs.get("any", "no-such-team")
    with pytest.raises(JobNotFound, match="no job named 'any'"):
        jobs.get("any", "default")


def test_the_data_directory_and_its_secrets_are_private(cluster: RunningControlPlane) -> None:
    assert cluster.data_dir.stat().st_mode & 0o777 == 0o700
    for name in ("state.db", "token", "kubeconfig", "pki/server.key"):
        assert (cluster.data_dir / name).stat().st_mode & 0o777 == 0o600, name


def test_a_cluster_with_an_unreadable_row_starts_and_reports_it(tmp_path: Path) -> None:
    import orjson

    from hyperpod.storage.revlog import OP_CREATE, RevisionLog
    from support import start_control_plane

    cp = start_control_plane(tmp_path / "cp")
    cp.stop()
    log = RevisionLog(cp.data_dir / "state.db")
    poison = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "ownerReferences": 3.5},
    }
    log.append("/configmaps/default/x", OP_CREATE, 0, orjson.dumps(poison))
    log.close()
    again = start_control_plane(cp.data_dir)
    try:
        assert again.get(CM_PATH + "/x")[0] == 404
        code, body = again.get("/api/v1/namespaces/kube-system/events")
        events = [e for e in json.loads(body)["items"] if e["reason"] == "Quarantined"]
        assert code == 200 and [e["involvedObject"]["name"] for e in events] == ["x"]
        assert "quarantined unreadable stored object /configmaps/default/x" in again.log()
    finally:
        again.stop()


def test_plain_http_to_the_tls_port_gets_a_400(cluster: RunningControlPlane) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", cluster.port), timeout=10) as s:
        s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 400 Bad Request")
    assert b"Client sent an HTTP request to an HTTPS server." in answer
    assert cluster.get("/version")[0] == 200  # TLS clients are served as before
