"""Authentication against the real server: ServiceAccount tokens from the TokenRequest API,
their binding and expiry rules, OIDC discovery, impersonation, and the audit log."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from kubernetes import client
from kubernetes.client.rest import ApiException

from support import KUBECTL, RunningControlPlane


def _get(cp: RunningControlPlane, path: str, auth: str | None) -> tuple[int, Any]:
    headers = {"Authorization": auth} if auth else {}
    req = urllib.request.Request(cp.url + path, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10, context=cp.ssl_context()) as r:
            code, raw = r.status, r.read()
    except urllib.error.HTTPError as err:
        code, raw = err.code, err.read()
    try:
        return code, json.loads(raw)
    except ValueError:
        return code, raw.decode()


def _token(cp: RunningControlPlane, sa: str, ns: str, **spec: Any) -> str:
    core = client.CoreV1Api(cp.api_client())
    body = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], **spec))
    return str(core.create_namespaced_service_account_token(sa, ns, body).status.token)


@pytest.fixture(scope="module")
def account(cluster: RunningControlPlane) -> str:
    cluster.kubectl("create", "namespace", "authn")
    cluster.kubectl("create", "serviceaccount", "robot", "-n", "authn")
    cluster.kubectl(
        "create",
        "rolebinding",
        "robot-view",
        "--clusterrole=view",
        "--serviceaccount=authn:robot",
        "-n",
        "authn",
    )
    return "robot"


def test_a_requested_token_authenticates_as_its_service_account(
    cluster: RunningControlPlane, account: str
) -> None:
    token = _token(cluster, account, "authn")
    code, body = _get(cluster, "/api/v1/namespaces/authn/pods", f"Bearer {token}")
    assert code == 200 and body["kind"] == "PodList"
    code, body = _get(cluster, "/api/v1/namespaces/authn/secrets", f"bearer {token}")
    assert code == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        'secrets is forbidden: User "system:serviceaccount:authn:robot" cannot list resource '
        '"secrets" in API group "" in the namespace "authn"'
    )
    assert body["details"] == {"kind": "secrets"}  # an empty group is omitted, as upstream
    assert _get(cluster, "/api/v1/namespaces/authn/pods", "Bearer nope")[0] == 401
    assert _get(cluster, "/api/v1/namespaces/authn/pods", None)[0] == 401
    assert _get(cluster, "/healthz", None)[0] == 200


def test_a_token_request_is_checked_and_its_answer_names_the_expiry(
    cluster: RunningControlPlane, account: str
) -> None:
    core = client.CoreV1Api(cluster.api_client())
    body = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=60)
    )
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service_account_token(account, "authn", body)
    assert err.value.status == 422 and "expirationSeconds" in err.value.body
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service_account_token("ghost", "authn", body)
    assert err.value.status == 404
    body.spec.expiration_seconds = 600
    out = core.create_namespaced_service_account_token(account, "authn", body)
    assert out.status.expiration_timestamp is not None and out.spec.expiration_seconds == 600


def test_a_token_dies_with_its_account_or_its_bound_pod(
    cluster: RunningControlPlane, account: str
) -> None:
    cluster.kubectl("create", "serviceaccount", "short", "-n", "authn")
    token = _token(cluster, "short", "authn")
    assert _get(cluster, "/apis/authentication.k8s.io/v1", f"Bearer {token}")[0] == 200
    cluster.kubectl("delete", "serviceaccount", "short", "-n", "authn")
    cluster.kubectl("create", "serviceaccount", "short", "-n", "authn")  # same name, new uid
    assert _get(cluster, "/apis/authentication.k8s.io/v1", f"Bearer {token}")[0] == 401
    cluster.kubectl("create", "configmap", "anchor", "-n", "authn")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "holder", "namespace": "authn"},
        "spec": {"nodeName": "nowhere", "containers": [{"name": "c", "image": "x"}]},
    }
    created = client.CoreV1Api(cluster.api_client()).create_namespaced_pod("authn", pod)
    ref = client.V1BoundObjectReference(kind="Pod", name="holder", uid=created.metadata.uid)
    bound = _token(cluster, account, "authn", bound_object_ref=ref)
    assert _get(cluster, "/api/v1/namespaces/authn/pods", f"Bearer {bound}")[0] == 200
    cluster.kubectl("delete", "pod", "holder", "-n", "authn", "--grace-period=0", "--force")
    assert _get(cluster, "/api/v1/namespaces/authn/pods", f"Bearer {bound}")[0] == 401


def _b(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_tokens_verify_against_the_published_openid_keys(
    cluster: RunningControlPlane, account: str
) -> None:
    token = _token(cluster, account, "authn")
    code, conf = _get(cluster, "/.well-known/openid-configuration", f"Bearer {token}")
    assert code == 200 and conf["jwks_uri"].endswith("/openid/v1/jwks")
    code, jwks = _get(cluster, "/openid/v1/jwks", f"Bearer {token}")
    assert code == 200
    header, payload, sig = token.split(".")
    key = next(k for k in jwks["keys"] if k["kid"] == orjson.loads(_b(header))["kid"])
    public = rsa.RSAPublicNumbers(
        int.from_bytes(_b(key["e"]), "big"), int.from_bytes(_b(key["n"]), "big")
    ).public_key()
    public.verify(_b(sig), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    claims = orjson.loads(_b(payload))
    assert claims["iss"] == conf["issuer"]
    assert claims["sub"] == "system:serviceaccount:authn:robot"
    assert claims["exp"] > time.time()


@pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")
def test_impersonation_needs_the_impersonate_verb(cluster: RunningControlPlane) -> None:
    out = cluster.kubectl("auth", "whoami", "--as", "bob", "--as-group", "team-x").stdout
    assert "bob" in out and "team-x" in out and "system:authenticated" in out
    denied = cluster.kubectl("get", "pods", "-n", "authn", "--as", "bob", check=False)
    assert 'User "bob" cannot list resource "pods"' in denied.stderr
    cluster.kubectl("create", "serviceaccount", "sudo", "-n", "authn")
    cluster.kubectl(
        "create", "clusterrole", "impersonate-bob", "--verb=impersonate",
        "--resource=users", "--resource-name=bob",
    )  # fmt: skip
    cluster.kubectl(
        "create", "clusterrolebinding", "sudo-bob", "--clusterrole=impersonate-bob",
        "--serviceaccount=authn:sudo",
    )  # fmt: skip
    token = _token(cluster, "sudo", "authn")
    assert KUBECTL is not None

    def as_sudo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(cluster.kubeconfig), "--token", token, *args],
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert "Username    bob" in as_sudo("auth", "whoami", "--as", "bob").stdout
    refused = as_sudo("get", "pods", "-n", "authn", "--as", "carol")
    assert 'cannot impersonate resource "users"' in refused.stderr
    grouped = as_sudo("get", "pods", "--as", "bob", "--as-group", "system:masters")
    assert 'cannot impersonate resource "groups"' in grouped.stderr


def test_the_audit_log_records_who_did_what_and_the_decision(
    cluster: RunningControlPlane, account: str
) -> None:
    token = _token(cluster, account, "authn")
    assert (
        _get(cluster, "/api/v1/namespaces/kube-system/secrets?limit=1", f"Bearer {token}")[0] == 403
    )
    path = cluster.data_dir / "audit" / "audit.log"
    uri = "/api/v1/namespaces/kube-system/secrets?limit=1"
    deadline = time.monotonic() + 10  # events are written in batches, within half a second
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        time.sleep(0.1)
        lines = path.read_text().splitlines() if path.exists() else []
        found = [e for e in map(orjson.loads, lines) if e["requestURI"] == uri]
    assert path.stat().st_mode & 0o777 == 0o600
    ev = found[-1]
    assert ev["apiVersion"] == "audit.k8s.io/v1" and ev["level"] == "Metadata"
    assert ev["user"]["username"] == "system:serviceaccount:authn:robot"
    assert ev["verb"] == "list" and ev["responseStatus"]["code"] == 403
    assert ev["objectRef"] == {"resource": "secrets", "apiGroup": "", "namespace": "kube-system"}
    assert ev["annotations"]["authorization.k8s.io/decision"] == "forbid"


@pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")
def test_a_client_certificate_names_the_user_and_its_organisations_the_groups(
    cluster: RunningControlPlane, tmp_path: Any
) -> None:
    from hyperpod.controlplane import clientcerts

    path = tmp_path / "carol.kubeconfig"
    args = ["issue", "--data-dir", str(cluster.data_dir), "--user", "carol"]
    assert clientcerts.main([*args, "--group", "cert-team", "-o", str(path)]) == 0
    assert path.stat().st_mode & 0o777 == 0o600
    assert KUBECTL is not None

    def as_carol(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(path), *a], capture_output=True, text=True, timeout=30
        )

    who = as_carol("auth", "whoami").stdout
    assert "carol" in who and "cert-team" in who and "system:authenticated" in who
    assert 'User "carol" cannot list resource "configmaps"' in as_carol("get", "cm").stderr
    cluster.kubectl(
        "create", "rolebinding", "cert-team-view", "--clusterrole=view", "--group=cert-team",
        "-n", "default",
    )  # fmt: skip
    assert as_carol("get", "cm", "-n", "default").returncode == 0
    # A certificate from another CA is not a user: the request falls back to no credentials.
    other = tmp_path / "pki"
    cert, key = clientcerts.issue(other, "admin", ["system:masters"])
    cfg = clientcerts.kubeconfig(cluster.data_dir, "admin", cert, key, "default")
    forged = tmp_path / "forged.kubeconfig"
    forged.write_text(json.dumps(cfg))
    res = subprocess.run(
        [KUBECTL, "--kubeconfig", str(forged), "get", "ns"], capture_output=True, text=True
    )
    assert res.returncode != 0


@pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")
def test_a_baseline_namespace_refuses_a_host_path_pod(cluster: RunningControlPlane) -> None:
    cluster.kubectl("create", "namespace", "guarded")
    cluster.kubectl("label", "namespace", "guarded", "pod-security.kubernetes.io/enforce=baseline")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "peek", "namespace": "guarded"},
        "spec": {
            "containers": [{"name": "c", "image": "x", "command": ["cat", "/host/etc/shadow"]}],
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
        },
    }
    res = cluster.kubectl("apply", "-f", "-", input=json.dumps(pod), check=False)
    assert res.returncode != 0
    assert (
        'pods "peek" is forbidden: violates PodSecurity "baseline:latest": '
        'hostPath volumes (volumes "root")'
    ) in res.stderr
