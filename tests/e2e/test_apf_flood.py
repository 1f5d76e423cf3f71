"""API Priority and Fairness on a real control plane: a ServiceAccount (workload-low) that holds
every seat of its level gets 429 + Retry-After while the admin (exempt) keeps being served,
and the level's configuration, changed with kubectl, is what decides how many seats it has.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")]
REVIEW = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
BODY = json.dumps(
    {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}},
    }
)


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("apf"))
    yield plane
    plane.stop()


def request(
    cp: RunningControlPlane, token: str, method: str, path: str, body: str | None = None
) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPSConnection("127.0.0.1", cp.port, context=cp.ssl_context(), timeout=10)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}


def drip(cp: RunningControlPlane, token: str) -> ssl.SSLSocket:
    """A request whose body never finishes: it holds its seat until the socket closes."""
    raw = socket.create_connection(("127.0.0.1", cp.port), timeout=10)
    sock = cp.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1")
    head = (
        f"POST {REVIEW} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(BODY) + 100}\r\n\r\n"
    )
    sock.sendall(head.encode() + BODY.encode())
    return sock


def uid(cp: RunningControlPlane, kind: str, name: str) -> str:
    out = cp.kubectl("get", kind, name, "-o", "jsonpath={.metadata.uid}").stdout
    return out.strip()


def test_a_flood_from_a_service_account_is_refused_while_admin_is_served(
    cp: RunningControlPlane,
) -> None:
    cp.kubectl("create", "namespace", "flood")
    cp.kubectl("create", "serviceaccount", "bot", "-n", "flood")
    token = cp.kubectl("create", "token", "bot", "-n", "flood").stdout.strip()
    low = uid(cp, "prioritylevelconfiguration", "workload-low")
    status, headers = request(cp, token, "POST", REVIEW, BODY)
    assert status == 201
    assert headers["x-kubernetes-pf-prioritylevel-uid"] == low
    assert headers["x-kubernetes-pf-flowschema-uid"] == uid(cp, "flowschema", "service-accounts")
    # workload-low down to 1 share of 146 (5 of the 600 seats) and a queue of one request.
    patch = {
        "metadata": {"annotations": {"apf.kubernetes.io/autoupdate-spec": "false"}},
        "spec": {
            "limited": {
                "nominalConcurrencyShares": 1,
                "limitResponse": {
                    "type": "Queuing",
                    "queuing": {"queues": 1, "handSize": 1, "queueLengthLimit": 1},
                },
            }
        },
    }
    cp.kubectl(
        "patch",
        "prioritylevelconfiguration",
        "workload-low",
        "--type=merge",
        "-p",
        json.dumps(patch),
    )
    socks = [drip(cp, token) for _ in range(4)]
    try:
        time.sleep(0.5)
        assert request(cp, token, "POST", REVIEW, BODY)[0] == 201  # the 5th seat is free
        socks.append(drip(cp, token))  # now all 5 are held
        socks.append(drip(cp, token))  # and the queue is full
        deadline = time.monotonic() + 10
        while True:  # until the server has taken in the last two drips (a loaded machine)
            refused, headers = request(cp, token, "POST", REVIEW, BODY)
            if refused == 429 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert refused == 429
        assert headers["retry-after"] == "1"
        assert headers["x-kubernetes-pf-prioritylevel-uid"] == low
        # The admin is exempt and keeps being served meanwhile, reads and writes alike.
        ok, headers = request(cp, cp.token, "GET", "/api/v1/namespaces/flood/configmaps")
        assert ok == 200
        assert headers["x-kubernetes-pf-prioritylevel-uid"] == uid(
            cp, "prioritylevelconfiguration", "exempt"
        )
        cm = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
        assert request(cp, cp.token, "POST", "/api/v1/namespaces/flood/configmaps", cm)[0] == 201
        assert cp.get("/readyz")[0] == 200
    finally:
        for s in socks:
            s.close()
    deadline = time.monotonic() + 10
    while request(cp, token, "POST", REVIEW, BODY)[0] != 201:
        assert time.monotonic() < deadline, "the seats were not given back"
        time.sleep(0.2)
    tables = cp.kubectl("get", "prioritylevelconfigurations").stdout
    assert "workload-low" in tables and "NOMINALCONCURRENCYSHARES" in tables
    assert "service-accounts" in cp.kubectl("get", "flowschemas").stdout
