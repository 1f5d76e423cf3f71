"""The kubelet writes a pod's bound token files, honours automountServiceAccountToken, and
wraps the command in a mount namespace only when it can."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod.apiserver.tokens import TokenIssuer
from hyperpod.kubelet import serviceaccount as sa
from hyperpod.kubelet.volumes import VolumeError

POD = {
    "metadata": {"name": "p", "namespace": "team-a", "uid": "pod-1"},
    "spec": {"serviceAccountName": "trainer", "containers": [{"name": "c"}]},
}
ACCOUNT = {"metadata": {"name": "trainer", "namespace": "team-a", "uid": "sa-1"}}


def _lookup(account: dict[str, Any] | None) -> Any:
    return lambda res, ns, name: (
        account if (res, ns, name) == ("serviceaccounts", "team-a", "trainer") else None
    )


def test_the_token_files_name_the_pod_and_its_account(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_text("CA")
    issuer = TokenIssuer(tmp_path / "pki" / "sa.key")
    out, renew = sa.project(POD, tmp_path / "sandbox", tmp_path, _lookup(ACCOUNT), issuer)
    assert out == tmp_path / "sandbox" / "serviceaccount" and renew == sa.EXPIRY * 0.8
    claims = issuer.verify((out / "token").read_text())
    assert claims.username == "system:serviceaccount:team-a:trainer"
    assert (claims.bound_kind, claims.bound_uid) == ("pod", "pod-1")
    assert (out / "ca.crt").read_text() == "CA" and (out / "namespace").read_text() == "team-a"
    assert (out / "token").stat().st_mode & 0o777 == 0o600
    env = sa.incluster_env(tmp_path, out)
    assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1" and env[sa.DIR_ENV] == str(out)
    kubeconfig = json.loads((out / "kubeconfig").read_text())
    assert env["KUBECONFIG"] == str(out / "kubeconfig")
    assert kubeconfig["users"][0]["user"] == {"tokenFile": str(out / "token")}
    assert kubeconfig["contexts"][0]["context"]["namespace"] == "team-a"


def test_automount_false_on_the_pod_or_the_account_writes_nothing(tmp_path: Path) -> None:
    issuer = TokenIssuer(tmp_path / "sa.key")
    sealed = {**POD, "spec": {**POD["spec"], "automountServiceAccountToken": False}}
    assert sa.project(sealed, tmp_path / "s1", tmp_path, _lookup(ACCOUNT), issuer)[0] is None
    quiet = {**ACCOUNT, "automountServiceAccountToken": False}
    assert sa.project(POD, tmp_path / "s2", tmp_path, _lookup(quiet), issuer)[0] is None
    reopened = {**POD, "spec": {**POD["spec"], "automountServiceAccountToken": True}}
    assert sa.project(reopened, tmp_path / "s3", tmp_path, _lookup(quiet), issuer)[0] is not None


def test_a_missing_account_keeps_the_pod_waiting(tmp_path: Path) -> None:
    issuer = TokenIssuer(tmp_path / "sa.key")
    with pytest.raises(VolumeError, match='serviceaccount "trainer" not found') as err:
        sa.project(POD, tmp_path / "s", tmp_path, _lookup(None), issuer)
    assert err.value.reason == "ContainerCreating"


def test_the_command_is_wrapped_only_with_a_mount_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sa, "mount_namespaces", lambda: False)
    assert sa.wrap(["python", "x.py"], tmp_path) == ["python", "x.py"]
    monkeypatch.setattr(sa, "mount_namespaces", lambda: True)
    wrapped = sa.wrap(["python", "x.py"], tmp_path)
    assert "--mount" in wrapped and wrapped[-3:] == [str(tmp_path), "python", "x.py"]
    assert sa.wrap(["python"], None) == ["python"]
