"""The OCI runtime's pure parts: command line, environment, user, pull policy, pull secrets."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod.kubelet import oci, pulling
from hyperpod.kubelet.images import Image


def _image(**config: Any) -> Image:
    return Image("id", Path("/nonexistent"), config)


def test_command_replaces_the_entrypoint_and_args_replace_the_cmd() -> None:
    image = _image(Entrypoint=["/entry"], Cmd=["--default"])
    assert oci.command_line(image, {}, []) == ["/entry", "--default"]
    assert oci.command_line(image, {"args": ["--x"]}, ["--x"]) == ["/entry", "--x"]
    assert oci.command_line(image, {"command": ["/other"]}, ["/other"]) == ["/other"]
    assert oci.command_line(image, {"command": ["/o"], "args": ["a"]}, ["/o", "a"]) == ["/o", "a"]


def test_the_pod_env_wins_over_the_image_env_and_path_has_a_default() -> None:
    env = oci.merged_env(_image(Env=["A=image", "B=image"]), {"B": "pod"})
    assert env[:2] == ["A=image", "B=pod"] and any(
        e.startswith("PATH=/usr/local/sbin") for e in env
    )


def test_the_user_comes_from_the_security_context_then_the_numeric_image_user() -> None:
    assert oci.user_of(_image(User="1000:1001"), {}, {}) == (1000, 1001)
    assert oci.user_of(_image(User="5"), {"securityContext": {"runAsUser": 7}}, {}) == (7, 7)
    assert oci.user_of(_image(), {}, {"securityContext": {"runAsUser": 9, "runAsGroup": 3}}) == (
        9,
        3,
    )
    with pytest.raises(oci.OciError, match="runAsUser"):
        oci.user_of(_image(User="nginx"), {}, {})


def test_the_spec_binds_volumes_and_sets_no_rlimits_or_network_namespace() -> None:
    spec = oci.runtime_spec(
        ["sh"], ["PATH=/bin"], "/w", [("/data", "/host/data", True)], hostname="p"
    )
    assert "rlimits" not in spec["process"]
    assert {"type": "network"} not in spec["linux"]["namespaces"]
    bind = spec["mounts"][-1]
    assert (
        bind["destination"] == "/data"
        and bind["source"] == "/host/data"
        and "ro" in bind["options"]
    )


@pytest.mark.parametrize(
    ("container", "policy"),
    [
        ({"image": "busybox"}, "Always"),
        ({"image": "busybox:latest"}, "Always"),
        ({"image": "busybox:1.36"}, "IfNotPresent"),
        ({"image": "localhost:5000/busybox"}, "Always"),
        ({"image": "a/b@sha256:00"}, "IfNotPresent"),
        ({"image": "busybox", "imagePullPolicy": "Never"}, "Never"),
    ],
)
def test_the_pull_policy_defaults_like_kubernetes(container: dict[str, Any], policy: str) -> None:
    assert pulling.pull_policy(container) == policy


def test_pull_credentials_come_from_the_matching_docker_config_secret() -> None:
    auth = base64.b64encode(b"me:secret").decode()
    doc = {
        "auths": {
            "https://index.docker.io/v1/": {"auth": auth},
            "ghcr.io": {"username": "u", "password": "p"},
        }
    }
    secret = {"data": {".dockerconfigjson": base64.b64encode(json.dumps(doc).encode()).decode()}}
    pod = {"metadata": {"namespace": "t"}, "spec": {"imagePullSecrets": [{"name": "regcred"}]}}

    def lookup(resource: str, ns: str, name: str) -> dict[str, Any] | None:
        return secret if (resource, ns, name) == ("secrets", "t", "regcred") else None

    assert pulling.credentials(pod, "busybox", lookup) == ("me", "secret")
    assert pulling.credentials(pod, "ghcr.io/a/b:1", lookup) == ("u", "p")
    assert pulling.credentials(pod, "quay.io/x:1", lookup) is None
