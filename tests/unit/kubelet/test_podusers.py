"""Per-namespace pod users: id blocks, securityContext inside the block, the setpriv prefix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyperpod.kubelet.podusers import BASE, BLOCK, Identity, PodUserError, PodUsers


def pod(ns: str, sc: dict | None = None) -> dict:
    return {"metadata": {"namespace": ns, "name": "p"}, "spec": {"securityContext": sc or {}}}


def test_each_namespace_gets_its_own_block_kept_across_restarts(tmp_path: Path) -> None:
    users = PodUsers(tmp_path, "perNamespace")
    a = users.identity(pod("team-a"), None)
    b = users.identity(pod("team-b"), None)
    assert a == Identity(BASE, BASE, ())
    assert b == Identity(BASE + BLOCK, BASE + BLOCK, ())
    assert json.loads((tmp_path / "pod-users.json").read_text()) == {"team-a": 0, "team-b": 1}
    assert (tmp_path / "pod-users.json").stat().st_mode & 0o077 == 0
    again = PodUsers(tmp_path, "perNamespace")
    assert again.identity(pod("team-b"), None).uid == BASE + BLOCK


def test_security_context_is_honoured_inside_the_block_container_over_pod(tmp_path: Path) -> None:
    users = PodUsers(tmp_path, "perNamespace")
    p = pod(
        "t", {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000, "supplementalGroups": [5]}
    )
    assert users.identity(p, {"name": "c"}) == Identity(
        BASE + 1000, BASE + 3000, (BASE + 2000, BASE + 5)
    )
    c = {"name": "c", "securityContext": {"runAsUser": 7}}
    assert users.identity(p, c).uid == BASE + 7
    assert users.owner(p) == (BASE + 1000, BASE + 2000)


@pytest.mark.parametrize("bad", [-1, BLOCK, 2**40, "0", True])
def test_ids_outside_the_block_are_refused_with_the_field_named(
    tmp_path: Path, bad: object
) -> None:
    users = PodUsers(tmp_path, "perNamespace")
    with pytest.raises(PodUserError, match=r"securityContext\.runAsUser"):
        users.identity(pod("t", {"runAsUser": bad}), None)


def test_setpriv_prefix_drops_groups_and_capabilities(tmp_path: Path) -> None:
    users = PodUsers(tmp_path, "perNamespace")
    users.setpriv = "/usr/bin/setpriv"
    argv = users.wrap(["sleep", "1"], Identity(BASE + 1, BASE + 2, ()))
    assert argv[:4] == [
        "/usr/bin/setpriv",
        f"--reuid={BASE + 1}",
        f"--regid={BASE + 2}",
        "--clear-groups",
    ]
    assert argv[-3:] == ["--", "sleep", "1"] and "--inh-caps=-all" in argv
    with_groups = users.wrap(["x"], Identity(1, 2, (3, 4)))
    assert "--groups" in with_groups and "3,4" in with_groups


def test_shared_is_the_default(tmp_path: Path) -> None:
    assert not PodUsers(tmp_path, "shared").enabled
    assert PodUsers(tmp_path, "nonsense").requested == "shared"
