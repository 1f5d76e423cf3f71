"""Container environment: $(VAR), valueFrom, envFrom, services and mount paths."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from hyperpod.kubelet.env import EnvError, container_env, expand
from hyperpod.kubelet.volumes import Mount

OBJECTS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("configmaps", "team", "cfg"): {"data": {"LR": "0.1", "EPOCHS": "3"}},
    ("secrets", "team", "tok"): {"data": {"token": base64.b64encode(b"s3cret").decode()}},
}


def lookup(res: str, ns: str, name: str) -> dict[str, Any] | None:
    return OBJECTS.get((res, ns, name))


POD = {
    "metadata": {"name": "job-worker-0", "namespace": "team", "uid": "u-1", "labels": {"a": "b"}},
    "spec": {"nodeName": "n1", "containers": []},
    "status": {"podIP": "127.0.0.1"},
}


def test_expansion_follows_kubernetes_rules() -> None:
    env = {"A": "x"}
    assert expand("$(A)-$(B)-$$(A)", env) == "x-$(B)-$(A)"


def test_value_from_env_from_and_args_are_resolved() -> None:
    container = {
        "name": "main",
        "command": ["python", "train.py"],
        "args": ["--lr=$(LR)", "--name", "$(POD)"],
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
        "env": [
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "LBL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['a']"}}},
            {"name": "LR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "LR"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "token"}}},
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
            {"name": "GREETING", "value": "hi $(POD)"},
        ],
        "resources": {"limits": {"memory": "2Gi"}},
    }
    pod = {**POD, "spec": {**POD["spec"], "containers": [container]}}
    env, argv = container_env(pod, container, base={"PATH": "/bin"}, lookup=lookup)
    assert env["PATH"] == "/bin" and env["HOSTNAME"] == "job-worker-0"
    assert (env["POD"], env["NS"], env["NODE"], env["IP"]) == (
        "job-worker-0",
        "team",
        "n1",
        "127.0.0.1",
    )
    assert env["LBL"] == "b" and env["LR"] == "0.1" and env["TOKEN"] == "s3cret"
    assert (
        env["CFG_EPOCHS"] == "3" and env["MEM"] == "2048" and env["GREETING"] == "hi job-worker-0"
    )
    assert argv == ["python", "train.py", "--lr=0.1", "--name", "job-worker-0"]


def test_a_missing_config_map_is_a_config_error_unless_optional() -> None:
    c = {
        "name": "main",
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}],
    }
    with pytest.raises(EnvError, match='configmap "nope" not found'):
        container_env(POD, c, base={}, lookup=lookup)
    c["env"][0]["valueFrom"]["configMapKeyRef"]["optional"] = True  # type: ignore[index]
    env, _ = container_env(POD, c, base={}, lookup=lookup)
    assert "X" not in env


def test_service_names_resolve_to_loopback_and_mount_paths_to_host_directories() -> None:
    c = {
        "name": "main",
        "command": ["torchrun", "--rdzv-endpoint=job-master-0:29500", "--ckpt", "/ckpt/run1"],
        "env": [
            {"name": "MASTER_ADDR", "value": "job-master-0"},
            {"name": "FULL", "value": "job-master-0.team.svc.cluster.local:23456"},
            {"name": "OTHER", "value": "job-master-0x"},
            {"name": "URL", "value": "http://job-master-0.team:80/x"},
            {"name": "CKPT", "value": "/ckpt"},
        ],
    }
    mounts = [Mount("/ckpt", "/tmp/sandbox/ckpt")]
    env, argv = container_env(
        POD, c, base={}, lookup=lookup, services={"team": {"job-master-0"}}, mounts=mounts
    )
    assert env["MASTER_ADDR"] == "127.0.0.1"
    assert env["FULL"] == "127.0.0.1:23456"
    assert env["OTHER"] == "job-master-0x"
    assert env["URL"] == "http://127.0.0.1:80/x"
    assert env["CKPT"] == "/tmp/sandbox/ckpt"
    assert env["HYPERPOD_MOUNTS"] == "/ckpt=/tmp/sandbox/ckpt"
    assert argv == [
        "torchrun",
        "--rdzv-endpoint=127.0.0.1:29500",
        "--ckpt",
        "/tmp/sandbox/ckpt/run1",
    ]


def test_service_names_with_a_cluster_ip_resolve_to_it_and_headless_ones_to_loopback() -> None:
    c = {
        "name": "main",
        "command": ["curl", "http://web.team.svc.cluster.local:80/"],
        "env": [
            {"name": "WEB", "value": "web:80"},
            {"name": "MASTER_ADDR", "value": "job-master-0"},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
    }
    pod = {**POD, "status": {"podIP": "127.112.0.9"}}
    services = {"team": {"web": "127.96.0.7", "job-master-0": "None"}}
    env, argv = container_env(pod, c, base={}, lookup=lookup, services=services)
    assert env["WEB"] == "127.96.0.7:80"
    assert env["MASTER_ADDR"] == "127.0.0.1"
    assert env["POD_IP"] == "127.112.0.9"
    assert argv == ["curl", "http://127.96.0.7:80/"]
