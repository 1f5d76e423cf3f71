"""Admission webhooks called by the local API server, like kube-apiserver calls them.

A real webhook server runs as a pod: a small Python HTTPS server (certificate for
``hook.default.svc`` from a CA made here with ``cryptography``) behind the Service ``hook``.
A MutatingWebhookConfiguration labels ConfigMaps that carry ``hook: on``; a
ValidatingWebhookConfiguration for namespaces labelled ``guarded: yes`` refuses ConfigMaps with
a ``forbidden`` key, and refuses ``hook: on`` ConfigMaps the mutating webhook has not labelled
(so it shows mutation runs first). Then the failure paths: no endpoints, a timeout, a wrong
CA, failurePolicy Fail and Ignore, and the configurations themselves exempt from webhooks.
"""

from __future__ import annotations

import base64
import datetime
import json
import random
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.timeout(180)]

SERVER = r"""
import base64, json, os, ssl, sys, time, http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        req = review["request"]
        obj = req.get("object") or {}
        labels = (obj.get("metadata") or {}).get("labels") or {}
        resp = {"uid": req["uid"], "allowed": True,
                "warnings": [f"seen by {self.path.split('?')[0]} as {req['userInfo']['username']} dryRun={req['dryRun']} op={req['operation']}"]}
        if self.path.startswith("/slow"):
            time.sleep(3)
        elif self.path.startswith("/callback"):  # asks the API server while being asked
            import urllib.request
            api = urllib.request.Request(os.environ["API"] + "/api/v1/namespaces/default",
                                         headers={"Authorization": "Bearer " + os.environ["TOKEN"]})
            ctx = ssl.create_default_context(cafile=os.environ["API_CA"])
            with urllib.request.urlopen(api, context=ctx, timeout=5) as r:
                resp["warnings"] = ["the API server answered " + str(r.status)]
        elif self.path.startswith("/garbage"):
            resp = {"uid": "someone-else", "allowed": True}
        elif self.path.startswith("/mutate-bad"):
            ops = [{"op": "add", "path": "/data/x", "value": {"not": "a string"}}]
            resp["patchType"] = "JSONPatch"
            resp["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
        elif self.path.startswith("/mutate"):
            if labels:
                ops = [{"op": "add", "path": "/metadata/labels/mutated", "value": "yes"}]
            else:
                ops = [{"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}}]
            resp["patchType"] = "JSONPatch"
            resp["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
        elif self.path.startswith("/validate"):
            gone = (req.get("oldObject") or {}).get("metadata", {}).get("labels") or {}
            if req["operation"] == "DELETE" and gone.get("protected") == "yes":
                resp = {"uid": req["uid"], "allowed": False,
                        "status": {"code": 403, "message": "protected objects stay"}}
            elif "forbidden" in (obj.get("data") or {}):
                resp = {"uid": req["uid"], "allowed": False,
                        "status": {"code": 403, "message": "the key 'forbidden' is not allowed here"}}
            elif labels.get("hook") == "on" and labels.get("mutated") != "yes":
                resp = {"uid": req["uid"], "allowed": False,
                        "status": {"code": 422, "reason": "Invalid", "message": "not mutated first"}}
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
open("tls.crt", "w").write(os.environ["TLS_CRT"]); open("tls.key", "w").write(os.environ["TLS_KEY"])
ctx.load_cert_chain("tls.crt", "tls.key")
srv = http.server.ThreadingHTTPServer((sys.argv[1], 8443), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"""


def _pem_cert(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _ca(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _serving(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hook")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("hook.default.svc")]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return _pem_cert(cert), key_pem


@dataclass
class Cluster:
    cp: RunningControlPlane
    ca_bundle: str
    other_ca_bundle: str

    def call(
        self, method: str, path: str, body: Any = None, ctype: str = "application/json"
    ) -> tuple[int, Any, list[str]]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.cp.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.cp.token}", "Content-Type": ctype},
        )
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.cp.ssl_context()) as r:
                return r.status, json.loads(r.read()), r.headers.get_all("Warning") or []
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read()), err.headers.get_all("Warning") or []

    def ok(self, method: str, path: str, body: Any = None, ctype: str = "application/json") -> Any:
        code, out, _ = self.call(method, path, body, ctype)
        assert code in (200, 201), out
        return out


def _configmap(name: str, labels: dict[str, str], data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": data,
    }


def _hook(name: str, path: str, resources: list[str], ca: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "clientConfig": {
            "service": {"name": "hook", "namespace": "default", "path": path},
            "caBundle": ca,
        },
        "rules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": resources,
            }
        ],
        **extra,
    }


def _config(kind: str, name: str, *hooks: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "webhooks": list(hooks),
    }


VWC = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
MWC = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"


def _wait_serving(ip: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection((ip, 8443), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the webhook pod never listened on {ip}:8443")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    a, b = random.randrange(130, 250), random.randrange(0, 250, 2)
    config = {
        "nodes": {"local": {"name": "local-node"}},
        "addons": {"trainingOperator": False, "kueue": False, "healthAgent": False},
        "services": {"clusterIPRange": f"127.{a}.{b}.0/24"},
        "kubelet": {"podIPRange": f"127.{a}.{b + 1}.0/24"},
    }
    cp = start_control_plane(tmp_path_factory.mktemp("webhooks"), config)
    try:
        ca, ca_key = _ca("webhook-test-ca")
        other, _ = _ca("some-other-ca")
        crt, key = _serving(ca, ca_key)
        c = Cluster(
            cp,
            base64.b64encode(_pem_cert(ca).encode()).decode(),
            base64.b64encode(_pem_cert(other).encode()).decode(),
        )
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "hook", "labels": {"app": "hook"}},
            "spec": {
                "containers": [
                    {
                        "name": "hook",
                        "image": "python:3.11",
                        "command": ["python3", "-c", SERVER, "$(POD_IP)"],
                        "env": [
                            {
                                "name": "POD_IP",
                                "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                            },
                            {"name": "TLS_CRT", "value": crt},
                            {"name": "API", "value": cp.url},
                            {"name": "TOKEN", "value": cp.token},
                            {"name": "API_CA", "value": str(cp.data_dir / "pki" / "ca.crt")},
                            {"name": "TLS_KEY", "value": key},
                        ],
                        "ports": [{"name": "https", "containerPort": 8443}],
                        "readinessProbe": {"tcpSocket": {"port": 8443}, "periodSeconds": 1},
                    }
                ]
            },
        }
        c.ok("POST", "/api/v1/namespaces/default/pods", pod)
        c.ok(
            "POST",
            "/api/v1/namespaces/default/services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "hook"},
                "spec": {
                    "selector": {"app": "hook"},
                    "ports": [{"name": "https", "port": 443, "targetPort": "https"}],
                },
            },
        )
        c.ok(
            "POST",
            "/api/v1/namespaces/default/services",
            {
                "metadata": {"name": "empty"},
                "spec": {"selector": {"app": "none"}, "ports": [{"port": 443}]},
            },
        )
        c.ok(
            "POST",
            "/api/v1/namespaces",
            {"metadata": {"name": "guarded", "labels": {"guarded": "yes"}}},
        )
        deadline = time.monotonic() + 60
        ip = ""
        while time.monotonic() < deadline and not ip:
            ip = (
                c.ok("GET", "/api/v1/namespaces/default/pods/hook")
                .get("status", {})
                .get("podIP", "")
            )
            time.sleep(0.2)
        _wait_serving(ip, deadline)
        while time.monotonic() < deadline:  # the Service has a ready endpoint
            slices = c.ok(
                "GET",
                "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
                "?labelSelector=kubernetes.io/service-name=hook",
            )["items"]
            if any(
                (ep.get("conditions") or {}).get("ready")
                for s in slices
                for ep in s.get("endpoints") or []
            ):
                break
            time.sleep(0.2)
        c.ok(
            "POST",
            MWC,
            _config(
                "MutatingWebhookConfiguration",
                "labeler",
                _hook(
                    "labeler.hooks.test",
                    "/mutate",
                    ["configmaps"],
                    c.ca_bundle,
                    objectSelector={"matchLabels": {"hook": "on"}},
                ),
            ),
        )
        c.ok(
            "POST",
            VWC,
            _config(
                "ValidatingWebhookConfiguration",
                "guard",
                _hook(
                    "guard.hooks.test",
                    "/validate",
                    ["configmaps"],
                    c.ca_bundle,
                    namespaceSelector={"matchLabels": {"guarded": "yes"}},
                ),
            ),
        )
        yield c
    finally:
        cp.stop()


CM = "/api/v1/namespaces/{}/configmaps"


def test_the_mutating_webhook_patches_before_the_validating_webhook_sees_it(
    cluster: Cluster,
) -> None:
    code, made, warnings = cluster.call(
        "POST", CM.format("guarded"), _configmap("labelled", {"hook": "on"}, {"a": "1"})
    )
    assert code == 201, made
    assert made["metadata"]["labels"] == {"hook": "on", "mutated": "yes"}
    assert any("seen by /mutate" in w and "op=CREATE" in w for w in warnings), warnings
    assert any("seen by /validate" in w for w in warnings), warnings
    stored = cluster.ok("GET", CM.format("guarded") + "/labelled")
    assert stored["metadata"]["labels"]["mutated"] == "yes"


def test_a_denial_returns_the_webhooks_message_and_code(cluster: Cluster) -> None:
    code, status, _ = cluster.call(
        "POST", CM.format("guarded"), _configmap("bad", {}, {"forbidden": "x"})
    )
    assert code == 403, status
    assert status["message"] == (
        'admission webhook "guard.hooks.test" denied the request: '
        "the key 'forbidden' is not allowed here"
    )
    assert cluster.call("GET", CM.format("guarded") + "/bad")[0] == 404


def test_selectors_decide_which_objects_go_to_which_webhook(cluster: Cluster) -> None:
    # namespaceSelector: the default namespace is not guarded
    code, made, warnings = cluster.call(
        "POST", CM.format("default"), _configmap("free", {}, {"forbidden": "x"})
    )
    assert code == 201, made
    assert warnings == []  # objectSelector: no hook=on label, so no mutation either
    assert "mutated" not in (made["metadata"].get("labels") or {})


def test_dry_run_is_passed_on_and_nothing_is_stored(cluster: Cluster) -> None:
    code, made, warnings = cluster.call(
        "POST", CM.format("guarded") + "?dryRun=All", _configmap("dry", {"hook": "on"}, {})
    )
    assert code == 201, made
    assert any("dryRun=True" in w for w in warnings), warnings
    assert cluster.call("GET", CM.format("guarded") + "/dry")[0] == 404


def test_updates_go_to_the_webhooks_too(cluster: Cluster) -> None:
    cluster.ok("POST", CM.format("guarded"), _configmap("upd", {}, {"a": "1"}))
    code, status, _ = cluster.call(
        "PATCH",
        CM.format("guarded") + "/upd",
        {"data": {"forbidden": "now"}},
        "application/merge-patch+json",
    )
    assert code == 403 and "denied the request" in status["message"], status


def _secret_hook(cluster: Cluster, name: str, policy: str, **hook: Any) -> None:
    body = _config(
        "ValidatingWebhookConfiguration",
        name,
        {
            **_hook(f"{name}.hooks.test", "/validate", ["secrets"], cluster.ca_bundle),
            "failurePolicy": policy,
            **hook,
        },
    )
    cluster.ok("POST", VWC, body)


def _secret(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}}


@pytest.mark.parametrize(
    ("case", "hook", "message"),
    [
        (
            "no-endpoints",
            {"clientConfig": {"service": {"name": "nothing", "namespace": "default"}}},
            'service "nothing" not found',
        ),
        (
            "not-ready",
            {"clientConfig": {"service": {"name": "empty", "namespace": "default"}}},
            'no endpoints available for service "empty"',
        ),
        ("timeout", {"timeoutSeconds": 1, "clientConfig": None}, "context deadline exceeded"),
        ("wrong-ca", {"clientConfig": "other-ca"}, "CERTIFICATE_VERIFY_FAILED"),
        ("bad-answer", {"clientConfig": "garbage"}, "expected response.uid="),
    ],
)
def test_a_webhook_that_cannot_answer_fails_the_request_or_is_ignored_by_policy(
    cluster: Cluster, case: str, hook: dict[str, Any], message: str
) -> None:
    base = _hook("x.hooks.test", "/slow", ["secrets"], cluster.ca_bundle)
    if hook.get("clientConfig") is None:
        hook = {**hook, "clientConfig": base["clientConfig"]}
    elif hook["clientConfig"] == "garbage":
        service = {**base["clientConfig"]["service"], "path": "/garbage"}
        hook = {**hook, "clientConfig": {**base["clientConfig"], "service": service}}
    elif hook["clientConfig"] == "other-ca":
        hook = {
            **hook,
            "clientConfig": {**base["clientConfig"], "caBundle": cluster.other_ca_bundle},
        }
    name = f"fail-{case}"
    _secret_hook(cluster, name, "Fail", **hook)
    code, status, _ = cluster.call("POST", "/api/v1/namespaces/default/secrets", _secret(case))
    assert code == 500, status
    assert f'failed calling webhook "{name}.hooks.test"' in status["message"], status
    assert message in status["message"], status
    cluster.ok(
        "PATCH",
        f"{VWC}/{name}",
        [{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}],
        "application/json-patch+json",
    )
    code, made, _ = cluster.call("POST", "/api/v1/namespaces/default/secrets", _secret(case))
    assert code == 201, made
    cluster.ok("DELETE", f"{VWC}/{name}")


def test_the_webhook_configurations_themselves_never_go_to_webhooks(cluster: Cluster) -> None:
    everything = {
        **_hook("all.hooks.test", "/validate", ["*"], cluster.ca_bundle),
        "clientConfig": {"service": {"name": "nothing", "namespace": "default"}},
        "rules": [
            {
                "apiGroups": ["*"],
                "apiVersions": ["*"],
                "operations": ["*"],
                "resources": ["*"],
            }
        ],
    }
    cluster.ok("POST", VWC, _config("ValidatingWebhookConfiguration", "all", everything))
    code, status, _ = cluster.call("POST", CM.format("default"), _configmap("blocked", {}, {}))
    assert (
        code == 500 and 'service "nothing" not found' in status["message"]
    )  # everything else is blocked
    cluster.ok("DELETE", f"{VWC}/all")  # ... but the configuration can still be removed
    assert cluster.call("POST", CM.format("default"), _configmap("blocked", {}, {}))[0] == 201


def test_a_configuration_kube_would_refuse_is_refused(cluster: Cluster) -> None:
    bad = _hook("plain.hooks.test", "/validate", ["pods"], cluster.ca_bundle)
    bad["clientConfig"] = {"url": "http://127.0.0.1:1/validate"}
    bad["sideEffects"] = "Some"
    code, status, _ = cluster.call(
        "POST", VWC, _config("ValidatingWebhookConfiguration", "bad", bad)
    )
    assert code == 422, status
    assert "'https' is the only allowed URL scheme" in status["message"]
    assert "webhooks[0].sideEffects" in status["message"]


def test_the_defaults_are_kube_apiservers(cluster: Cluster) -> None:
    hook = cluster.ok("GET", f"{VWC}/guard")["webhooks"][0]
    assert hook["failurePolicy"] == "Fail"
    assert hook["matchPolicy"] == "Equivalent"
    assert hook["timeoutSeconds"] == 10
    assert hook["objectSelector"] == {}
    assert hook["rules"][0]["scope"] == "*"
    assert hook["clientConfig"]["service"]["port"] == 443
    mutating = cluster.ok("GET", f"{MWC}/labeler")["webhooks"][0]
    assert mutating["reinvocationPolicy"] == "Never"


def test_a_delete_goes_to_the_webhooks_with_the_old_object(cluster: Cluster) -> None:
    protector = _hook("protector.hooks.test", "/validate", ["configmaps"], cluster.ca_bundle)
    protector["rules"][0]["operations"] = ["DELETE"]
    cluster.ok("POST", VWC, _config("ValidatingWebhookConfiguration", "protector", protector))
    cluster.ok("POST", CM.format("default"), _configmap("kept", {"protected": "yes"}, {}))
    cluster.ok("POST", CM.format("default"), _configmap("loose", {}, {}))
    code, status, _ = cluster.call("DELETE", CM.format("default") + "/kept")
    assert code == 403, status
    assert status["message"].endswith("denied the request: protected objects stay")
    assert cluster.call("DELETE", CM.format("default") + "/loose")[0] == 200
    cluster.ok("DELETE", f"{VWC}/protector")


def test_kubectl_lists_the_webhook_configurations(cluster: Cluster) -> None:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    out = cluster.cp.kubectl("get", "validatingwebhookconfigurations", "guard").stdout
    assert out.split()[:3] == ["NAME", "WEBHOOKS", "AGE"] and out.split()[3:5] == ["guard", "1"]


def test_a_patch_that_breaks_the_schema_is_refused(cluster: Cluster) -> None:
    breaker = _hook(
        "breaker.hooks.test",
        "/mutate-bad",
        ["configmaps"],
        cluster.ca_bundle,
        objectSelector={"matchLabels": {"hook": "bad"}},
    )
    cluster.ok("POST", MWC, _config("MutatingWebhookConfiguration", "breaker", breaker))
    code, status, _ = cluster.call(
        "POST", CM.format("default"), _configmap("broken", {"hook": "bad"}, {"a": "1"})
    )
    cluster.ok("DELETE", f"{MWC}/breaker")
    assert code == 422, status
    assert "data.x" in status["message"], status


def test_a_webhook_may_call_back_into_the_api_server_while_it_is_asked(cluster: Cluster) -> None:
    # The write waits for the webhook off the event loop, so the API server still answers the
    # webhook's own request (a synchronous call would wait until the webhook's timeout).
    hook = _hook(
        "callback.hooks.test",
        "/callback",
        ["configmaps"],
        cluster.ca_bundle,
        objectSelector={"matchLabels": {"hook": "callback"}},
        timeoutSeconds=8,
    )
    cluster.ok("POST", VWC, _config("ValidatingWebhookConfiguration", "callback", hook))
    try:
        code, made, warnings = cluster.call(
            "POST", CM.format("default"), _configmap("called-back", {"hook": "callback"}, {})
        )
    finally:
        cluster.ok("DELETE", f"{VWC}/callback")
    assert code == 201, made  # blocked, the webhook's own request would time out (5 s): 500
    assert any("the API server answered 200" in w for w in warnings), warnings
