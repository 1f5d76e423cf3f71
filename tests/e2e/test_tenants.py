"""Two teams with scoped kubeconfigs on a real control plane, and pods whose in-cluster client
has exactly its ServiceAccount's rights.

`hyp create compute-quota` makes each team's Role and RoleBinding, `hyp get kubeconfig --user
--team` a member's token kubeconfig; kubectl and the official client then see 403s worded like
kube-apiserver's everywhere outside the member's namespace.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hyperpod.cli.main import cli
from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")]

LEAKY = {"KUBECONFIG": "/admin/kubeconfig", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "MY_API_TOKEN": "t"}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("tenants"), env=LEAKY)
    yield plane
    plane.stop()


def hyp(cp: RunningControlPlane, *args: str) -> str:
    res = CliRunner().invoke(cli, ["--kubeconfig", str(cp.kubeconfig), *args])
    assert res.exit_code == 0, res.output
    return res.output


def kubectl(config: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    assert KUBECTL is not None
    res = subprocess.run(
        [KUBECTL, "--kubeconfig", str(config), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )
    return res.returncode, res.stdout + res.stderr


@pytest.fixture(scope="module")
def members(cp: RunningControlPlane, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("members")
    paths = {}
    for team, user in (("a", "alice"), ("b", "bob")):
        hyp(cp, "create", "compute-quota", "--team", team, "--vcpu", "4", "--memory", "8")
        path = out / f"{user}.kubeconfig"
        said = hyp(cp, "get", "kubeconfig", "--user", user, "--team", team, "-o", str(path))
        assert f"user {user} of team {team}" in said
        paths[user] = path
    return paths


def _job(name: str, team: str) -> str:
    replica = {
        "replicas": 1,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "pytorch",
                        "image": "local/python",
                        "command": [sys.executable, "-c", "print('ok')"],
                    }
                ]
            }
        },
    }
    return json.dumps(
        {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": {"name": name, "namespace": f"hyperpod-ns-{team}"},
            "spec": {"pytorchReplicaSpecs": {"Master": replica}},
        }
    )


def test_a_member_kubeconfig_is_a_token_user_in_the_team_namespace(
    members: dict[str, Path],
) -> None:
    cfg = yaml.safe_load(members["alice"].read_text())
    assert cfg["contexts"][0]["context"]["namespace"] == "hyperpod-ns-a"
    assert "token" in cfg["users"][0]["user"]
    assert members["alice"].stat().st_mode & 0o077 == 0
    rc, out = kubectl(members["alice"], "auth", "whoami")
    assert rc == 0 and "system:serviceaccount:hyperpod-ns-a:alice" in out


def test_a_member_creates_and_watches_jobs_in_their_own_namespace(
    members: dict[str, Path],
) -> None:
    rc, out = kubectl(members["alice"], "apply", "-f", "-", stdin=_job("mine", "a"))
    assert rc == 0, out
    rc, out = kubectl(members["alice"], "get", "pytorchjobs", "-w", "--request-timeout=2s")
    assert "mine" in out and "Forbidden" not in out
    rc, out = kubectl(members["alice"], "delete", "pytorchjob", "mine")
    assert rc == 0, out


def test_a_member_is_refused_the_other_teams_objects_nodes_and_kube_system(
    members: dict[str, Path],
) -> None:
    rc, out = kubectl(members["bob"], "apply", "-f", "-", stdin=_job("theirs", "b"))
    assert rc == 0, out
    alice = members["alice"]
    who = 'User "system:serviceaccount:hyperpod-ns-a:alice"'
    cases = {
        ("get", "pytorchjobs", "-n", "hyperpod-ns-b"): (
            f"pytorchjobs.kubeflow.org is forbidden: {who} cannot list resource "
            '"pytorchjobs" in API group "kubeflow.org" in the namespace "hyperpod-ns-b"'
        ),
        ("delete", "pytorchjob", "theirs", "-n", "hyperpod-ns-b"): (
            f'pytorchjobs.kubeflow.org "theirs" is forbidden: {who} cannot delete'
        ),
        ("get", "secrets", "-n", "hyperpod-ns-b"): (
            f'secrets is forbidden: {who} cannot list resource "secrets" in API group ""'
        ),
        ("delete", "node", "any"): (
            f'nodes "any" is forbidden: {who} cannot delete resource "nodes" in API group "" '
            "at the cluster scope"
        ),
        ("get", "pods", "-n", "kube-system"): f"{who} cannot list resource",
        ("create", "token", "bob", "-n", "hyperpod-ns-b"): "cannot create resource",
        ("get", "pods", "--as", "system:admin"): f'{who} cannot impersonate resource "users"',
    }
    for args, message in cases.items():
        rc, out = kubectl(alice, *args)
        assert rc != 0 and "forbidden" in out and message in out, (args, out)
    rc, out = kubectl(alice, "auth", "can-i", "delete", "pytorchjobs", "-n", "hyperpod-ns-b")
    assert out.strip() == "no"
    rc, out = kubectl(alice, "auth", "can-i", "create", "pytorchjobs")
    assert out.strip() == "yes"
    rc, out = kubectl(alice, "auth", "can-i", "--list")
    assert "pytorchjobs.kubeflow.org" in out and "*.*" not in out


def _pod(name: str, sa: str | None, *, automount: bool | None = None) -> str:
    script = """
import json, os
from kubernetes import client, config
out = {"env": sorted(k for k in os.environ if k in ("AWS_SECRET_ACCESS_KEY", "MY_API_TOKEN"))}
out["own-kubeconfig"] = os.environ.get("KUBECONFIG", "").startswith(os.environ.get("HYPERPOD_SERVICEACCOUNT_DIR", "-"))
try:
    config.load_incluster_config()
except config.ConfigException as exc:
    out["incluster"] = "no: " + str(exc)[:40]
else:
    v1 = client.CoreV1Api()
    for what, call in (("own-pods", lambda: v1.list_namespaced_pod("hyperpod-ns-a")),
                       ("own-secrets", lambda: v1.list_namespaced_secret("hyperpod-ns-a")),
                       ("other-pods", lambda: v1.list_namespaced_pod("hyperpod-ns-b"))):
        try:
            call()
            out[what] = 200
        except client.ApiException as exc:
            out[what] = exc.status
print(json.dumps(out))
"""
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [
            {"name": "c", "image": "local/python", "command": [sys.executable, "-c", script]}
        ],
    }
    if sa:
        spec["serviceAccountName"] = sa
    if automount is not None:
        spec["automountServiceAccountToken"] = automount
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "hyperpod-ns-a"},
        "spec": spec,
    }
    return json.dumps(pod)


def _result(cp: RunningControlPlane, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        res = cp.kubectl(
            "get", "pod", name, "-n", "hyperpod-ns-a", "-o", "jsonpath={.status.phase}"
        )
        if res.stdout in ("Succeeded", "Failed"):
            break
        time.sleep(0.5)
    logs = cp.kubectl("logs", name, "-n", "hyperpod-ns-a").stdout.strip().splitlines()
    assert logs, cp.kubectl("describe", "pod", name, "-n", "hyperpod-ns-a").stdout
    return dict(json.loads(logs[-1]))


def test_a_pods_in_cluster_client_has_exactly_its_service_accounts_rights(
    cp: RunningControlPlane, members: dict[str, Path]
) -> None:
    cp.kubectl("create", "serviceaccount", "trainer", "-n", "hyperpod-ns-a")
    cp.kubectl(
        "create", "role", "pod-reader", "--verb=list", "--resource=pods", "-n", "hyperpod-ns-a"
    )
    cp.kubectl(
        "create",
        "rolebinding",
        "trainer-reads",
        "--role=pod-reader",
        "--serviceaccount=hyperpod-ns-a:trainer",
        "-n",
        "hyperpod-ns-a",
    )
    cp.kubectl("apply", "-f", "-", input=_pod("trainer", "trainer"))
    cp.kubectl("apply", "-f", "-", input=_pod("plain", None))
    cp.kubectl("apply", "-f", "-", input=_pod("sealed", "trainer", automount=False))
    trainer = _result(cp, "trainer")
    rights = {"own-pods": 200, "own-secrets": 403, "other-pods": 403}
    assert trainer == {"env": [], "own-kubeconfig": True, **rights}
    plain = _result(cp, "plain")  # the namespace's default account has no rights at all
    nothing = {"own-pods": 403, "own-secrets": 403, "other-pods": 403}
    assert plain == {"env": [], "own-kubeconfig": True, **nothing}
    sealed = _result(cp, "sealed")
    assert sealed["env"] == [] and sealed["incluster"].startswith("no")
    assert sealed["own-kubeconfig"] is False


def test_kubectl_in_a_pod_acts_as_the_pods_account_not_the_admin(
    cp: RunningControlPlane, members: dict[str, Path]
) -> None:
    cp.kubectl("create", "secret", "generic", "b-only", "--from-literal=k=v", "-n", "hyperpod-ns-b")
    assert KUBECTL is not None
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "snoop", "namespace": "hyperpod-ns-a"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "c",
                    "image": "bitnami/kubectl",
                    "command": [KUBECTL, "get", "secret", "b-only", "-n", "hyperpod-ns-b"],
                }
            ],
        },
    }
    cp.kubectl("apply", "-f", "-", input=json.dumps(pod))
    deadline = time.monotonic() + 60
    phase = ""
    while time.monotonic() < deadline and phase not in ("Succeeded", "Failed"):
        time.sleep(0.5)
        phase = cp.kubectl(
            "get", "pod", "snoop", "-n", "hyperpod-ns-a", "-o", "jsonpath={.status.phase}"
        ).stdout
    logs = cp.kubectl("logs", "snoop", "-n", "hyperpod-ns-a").stdout
    assert phase == "Failed"
    assert (
        'User "system:serviceaccount:hyperpod-ns-a:default" cannot get resource "secrets"' in logs
    )


def test_every_namespace_gets_a_default_service_account(cp: RunningControlPlane) -> None:
    cp.kubectl("create", "namespace", "fresh")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if cp.kubectl("get", "sa", "default", "-n", "fresh", check=False).returncode == 0:
            break
        time.sleep(0.2)
    cp.kubectl("delete", "sa", "default", "-n", "fresh")
    time.sleep(0.5)
    assert cp.kubectl("get", "sa", "default", "-n", "fresh", check=False).returncode == 0


def test_a_kubeconfig_for_a_team_without_a_quota_is_refused_with_a_hint(
    cp: RunningControlPlane,
) -> None:
    res = CliRunner().invoke(
        cli,
        ["--kubeconfig", str(cp.kubeconfig), "get", "kubeconfig", "--user", "x", "--team", "nope"],
    )
    assert res.exit_code != 0
    assert "hyp create compute-quota --team nope" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(
        cli,
        [
            "--kubeconfig",
            str(cp.kubeconfig),
            "get",
            "kubeconfig",
            "--user",
            "Bad Name",
            "--team",
            "a",
        ],
    )
    assert res.exit_code != 0 and "invalid user name" in res.output


def _dashboard_as(cp: RunningControlPlane, config: Path, tmp: Path) -> Any:
    """A logged-in dashboard session (requests) for the identity of ``config``."""
    import base64

    import requests

    res = CliRunner().invoke(
        cli, ["--kubeconfig", str(config), "get-monitoring", "--dashboard-login"]
    )
    assert res.exit_code == 0, res.output
    link = res.output.strip()
    assert link.startswith(f"{cp.url}/dashboard/login?token=")
    cluster = yaml.safe_load(config.read_text())["clusters"][0]["cluster"]
    ca = tmp / f"{config.stem}-ca.crt"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the cluster CA
    session.verify = str(ca)
    first = session.get(link, timeout=30)  # a page that sets the cookie, then moves on
    assert first.status_code == 200 and "Logged in" in first.text, first.text[:300]
    assert session.get(link, timeout=30).status_code == 401  # one time only
    return session


def test_a_members_dashboard_shows_only_what_rbac_lets_the_member_list(
    cp: RunningControlPlane, members: dict[str, Path], tmp_path: Path
) -> None:
    rc, out = kubectl(members["alice"], "apply", "-f", "-", stdin=_job("ours", "a"))
    assert rc == 0, out
    rc, out = kubectl(members["bob"], "apply", "-f", "-", stdin=_job("bobs", "b"))
    assert rc == 0, out
    pages = ("", "jobs", "nodes", "queues")

    def seen(session: Any) -> str:
        text = ""
        for page in pages:
            r = session.get(f"{cp.url}/dashboard/{page}", timeout=30)
            assert r.status_code == 200, (page, r.status_code)
            text += r.text
        return text

    admin = seen(_dashboard_as(cp, cp.kubeconfig, tmp_path))
    assert "ours" in admin and "bobs" in admin
    alice_session = _dashboard_as(cp, members["alice"], tmp_path)
    alice = seen(alice_session)
    assert "system:serviceaccount:hyperpod-ns-a:alice" in alice  # who is logged in
    assert "ours" in alice and "hyperpod-ns-a" in alice
    assert "bobs" not in alice and "theirs" not in alice and "hyperpod-ns-b" not in alice
    assert "hp-local" not in alice  # nodes are cluster-scoped: a member may not list them
    other = alice_session.get(f"{cp.url}/dashboard/jobs/pytorchjob/hyperpod-ns-b/bobs", timeout=30)
    assert other.status_code == 404 and "bobs-master-0" not in other.text
    bob = seen(_dashboard_as(cp, members["bob"], tmp_path))
    assert "bobs" in bob and "ours" not in bob and "hyperpod-ns-a" not in bob
    # A client-certificate user with no role binding: logged in as carol, shown nothing.
    carol = tmp_path / "carol.kubeconfig"
    res = CliRunner().invoke(
        cli,
        [
            *("controlplane", "issue-cert", "--data-dir", str(cp.data_dir)),
            *("--user", "carol", "-o", str(carol)),
        ],
    )
    assert res.exit_code == 0, res.output
    nobody = seen(_dashboard_as(cp, carol, tmp_path))
    assert "carol" in nobody and "Not shown" in nobody
    assert "ours" not in nobody and "bobs" not in nobody and "hp-local" not in nobody
