"""The dashboard's HTTP contract on a real control plane: login links, sessions, live streams."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from hyperpod.cli.main import cli
from support import RunningControlPlane


def request(
    cp: RunningControlPlane,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", cp.port, context=cp.ssl_context(), timeout=10)
    try:
        conn.request(method, path, body=b"" if method == "POST" else None, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def mint(cp: RunningControlPlane) -> str:
    code, _, body = request(
        cp, "POST", "/dashboard/login-links", {"Authorization": f"Bearer {cp.token}"}
    )
    assert code == 201, body
    return str(json.loads(body)["path"])


def login(cp: RunningControlPlane) -> str:
    code, headers, _ = request(cp, "GET", mint(cp))
    assert code == 200
    return headers["set-cookie"].split(";")[0]


@pytest.fixture
def cookie(cluster: RunningControlPlane) -> str:
    return login(cluster)


def test_pages_without_a_session_say_to_use_hyp_get_monitoring(
    cluster: RunningControlPlane,
) -> None:
    for path in ("/dashboard/", "/dashboard/jobs", "/dashboard/queues"):
        code, headers, body = request(cluster, "GET", path)
        assert code == 401
        assert headers["content-type"].startswith("text/html")
        assert b"hyp get-monitoring" in body
    code, _, _ = request(cluster, "GET", "/dashboard/stream?page=jobs")
    assert code == 401
    code, _, _ = request(cluster, "GET", "/dashboard/", {"Cookie": "hyperpod_dashboard=forged"})
    assert code == 401


def test_login_links_need_the_clusters_bearer_token(cluster: RunningControlPlane) -> None:
    assert request(cluster, "POST", "/dashboard/login-links")[0] == 401
    bad = {"Authorization": "Bearer wrong"}
    assert request(cluster, "POST", "/dashboard/login-links", bad)[0] == 401


def test_a_login_link_sets_a_strict_session_cookie_and_works_only_once(
    cluster: RunningControlPlane,
) -> None:
    path = mint(cluster)
    code, headers, body = request(cluster, "GET", path)
    assert code == 200 and b"url=/dashboard/" in body
    attrs = [a.strip() for a in headers["set-cookie"].split(";")]
    assert attrs[0].startswith("hyperpod_dashboard=") and len(attrs[0]) > 40
    assert {"HttpOnly", "Secure", "SameSite=Strict", "Path=/dashboard"} <= set(attrs)
    assert headers["referrer-policy"] == "no-referrer"
    code, headers, body = request(cluster, "GET", path)
    assert code == 401 and "set-cookie" not in headers
    assert b"used up or expired" in body
    assert request(cluster, "GET", "/dashboard/login?token=made-up")[0] == 401


def test_a_session_reads_the_pages(cluster: RunningControlPlane, cookie: str) -> None:
    for page in ("", "nodes", "queues", "jobs"):
        code, headers, body = request(cluster, "GET", f"/dashboard/{page}", {"Cookie": cookie})
        assert code == 200, page
        assert "default-src 'self'" in headers["content-security-policy"]
        assert b'<main id=live data-page="' + page.encode() + b'" data-stamp="' in body
    assert request(cluster, "GET", "/dashboard/nope", {"Cookie": cookie})[0] == 404
    assert (
        request(cluster, "GET", "/dashboard/jobs/pytorchjob/default/none", {"Cookie": cookie})[0]
        == 404
    )
    assert request(cluster, "POST", "/dashboard/jobs", {"Cookie": cookie})[0] == 405
    code, headers, body = request(cluster, "GET", "/dashboard/static/dashboard.js")
    assert code == 200 and headers["content-type"].startswith("text/javascript")
    assert b"EventSource" in body
    assert request(cluster, "GET", "/dashboard/static/../token")[0] == 404


class Events:
    """A Server-Sent Events reader over one HTTPS connection."""

    def __init__(self, cp: RunningControlPlane, path: str, cookie: str) -> None:
        self.conn = http.client.HTTPSConnection(
            "127.0.0.1", cp.port, context=cp.ssl_context(), timeout=30
        )
        self.conn.request("GET", path, headers={"Cookie": cookie})
        self.resp = self.conn.getresponse()

    def next(self) -> tuple[str, str]:
        name, data = "", []
        while True:
            line = self.resp.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and name:
                return name, "\n".join(data)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def events(cluster: RunningControlPlane, cookie: str) -> Iterator[Events]:
    ev = Events(cluster, "/dashboard/stream?page=queues", cookie)
    yield ev
    ev.close()


def test_the_stream_sends_the_page_when_an_object_changes(
    cluster: RunningControlPlane, events: Events
) -> None:
    assert events.resp.status == 200
    assert events.resp.getheader("content-type", "").startswith("text/event-stream")
    name, first = events.next()
    assert name == "main" and "Team queues" in first and "team-stream" not in first
    cq = {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "ClusterQueue",
        "metadata": {"name": "team-stream"},
        "spec": {"namespaceSelector": {}, "resourceGroups": []},
    }
    t0 = time.monotonic()
    cluster.kubectl("apply", "-f", "-", input=json.dumps(cq))
    while True:
        name, html = events.next()
        if name == "main" and "team-stream" in html:
            break
        assert time.monotonic() - t0 < 30
    cluster.kubectl("delete", "clusterqueue", "team-stream")
    while True:
        name, html = events.next()
        if name == "main" and "team-stream" not in html:
            break


def test_hyp_get_monitoring_prints_a_working_login_link(cluster: RunningControlPlane) -> None:
    res = CliRunner().invoke(cli, ["--kubeconfig", str(cluster.kubeconfig), "get-monitoring"])
    assert res.exit_code == 0, res.output
    assert f"{cluster.url}/dashboard/" in res.output
    link = next(w for w in res.output.split() if "/dashboard/login?token=" in w)
    u = urlsplit(link)
    code, headers, _ = request(cluster, "GET", f"{u.path}?{u.query}")
    assert code == 200 and "hyperpod_dashboard=" in headers["set-cookie"]


def test_logging_out_ends_the_session(cluster: RunningControlPlane, cookie: str) -> None:
    assert request(cluster, "GET", "/dashboard/", {"Cookie": cookie})[0] == 200
    code, headers, _ = request(cluster, "GET", "/dashboard/logout", {"Cookie": cookie})
    assert code == 200 and "Max-Age=0" in headers["set-cookie"]
    assert request(cluster, "GET", "/dashboard/", {"Cookie": cookie})[0] == 401


def test_a_stream_opened_with_the_pages_stamp_sends_no_copy_of_an_unchanged_page(
    cluster: RunningControlPlane, cookie: str
) -> None:
    _, _, body = request(cluster, "GET", "/dashboard/queues", {"Cookie": cookie})
    stamp = body.split(b'data-stamp="')[1].split(b'"')[0].decode()
    same = Events(cluster, f"/dashboard/stream?page=queues&stamp={stamp}", cookie)
    stale = Events(cluster, "/dashboard/stream?page=queues&stamp=old", cookie)
    try:
        assert same.next()[0] == "same"
        name, html = stale.next()
        assert name == "main" and "Team queues" in html
    finally:
        same.close()
        stale.close()
