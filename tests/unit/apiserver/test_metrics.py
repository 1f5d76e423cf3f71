"""/metrics of the API server: kube-apiserver's request labels, counts, latency, in-flight."""

from __future__ import annotations

import asyncio
from typing import Any

from hyperpod.apiserver.metrics import ApiMetrics, request_labels


class Req:
    def __init__(self, method: str, path: str, query: dict[str, str] | None = None) -> None:
        self.method, self.path, self.query = method, path, query or {}
        self.headers: dict[str, str] = {}


def test_request_labels_name_verb_resource_and_scope_like_kube_apiserver() -> None:
    assert request_labels("GET", "/api/v1/namespaces/default/pods", {}) == {
        "verb": "LIST",
        "group": "",
        "version": "v1",
        "resource": "pods",
        "subresource": "",
        "scope": "namespace",
        "component": "apiserver",
    }
    watch = request_labels("GET", "/apis/kubeflow.org/v1/pytorchjobs", {"watch": "true"})
    assert (watch["verb"], watch["group"], watch["scope"]) == ("WATCH", "kubeflow.org", "cluster")
    one = request_labels("PUT", "/api/v1/namespaces/a/pods/p/status", {})
    assert (one["verb"], one["resource"], one["subresource"], one["scope"]) == (
        "PUT",
        "pods",
        "status",
        "resource",
    )
    assert request_labels("DELETE", "/api/v1/namespaces/a/pods", {})["verb"] == "DELETECOLLECTION"
    apply = request_labels("PATCH", "/api/v1/nodes/n", {}, "application/apply-patch+yaml")
    assert apply["verb"] == "APPLY"
    assert request_labels("GET", "/healthz", {})["resource"] == ""


def test_a_finished_request_is_counted_with_its_code_and_timed() -> None:
    m = ApiMetrics(lambda: {"pods": 3})
    sent: list[dict[str, Any]] = []

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    async def run() -> None:
        t = m.begin(Req("GET", "/api/v1/namespaces/default/pods/x"), send)
        assert 'apiserver_current_inflight_requests{request_kind="readOnly"} 1.0' in (
            m.render().decode()
        )
        await t.send({"type": "http.response.start", "status": 404, "headers": []})
        t.finish()

    asyncio.run(run())
    text = m.render().decode()
    assert (
        'apiserver_request_total{code="404",component="apiserver",group="",resource="pods",'
        'scope="resource",subresource="",verb="GET",version="v1"} 1.0'
    ) in text
    assert "apiserver_request_duration_seconds_count{" in text
    assert 'apiserver_current_inflight_requests{request_kind="readOnly"} 0.0' in text
    assert 'apiserver_storage_objects{resource="pods"} 3.0' in text
    assert "_created" not in text


def test_watches_are_counted_but_neither_timed_nor_in_flight() -> None:
    m = ApiMetrics()

    async def send(msg: dict[str, Any]) -> None:
        return None

    async def run() -> None:
        t = m.begin(Req("GET", "/api/v1/pods", {"watch": "1"}), send)
        await t.send({"type": "http.response.start", "status": 200, "headers": []})
        t.finish()

    asyncio.run(run())
    text = m.render().decode()
    assert 'verb="WATCH"' in text
    assert "apiserver_request_duration_seconds_count{" not in text


def test_each_server_has_its_own_registry() -> None:
    a, b = ApiMetrics(), ApiMetrics()
    assert a.registry is not b.registry


def test_the_lean_renderer_writes_exactly_what_prometheus_client_writes() -> None:
    from prometheus_client import Counter, Gauge, Histogram
    from prometheus_client.exposition import generate_latest

    m = ApiMetrics(lambda: {"pods": 2, "nodes": 1})
    g = Gauge("odd_values", 'help with "quotes" and \\ and\nnewline', ["v"], registry=m.registry)
    g.labels('a"b\\c\nd').set(float("inf"))
    g.labels("plain").set(-0.5)
    Counter("plain_events", "a counter", registry=m.registry).inc(3)
    Histogram("waits_seconds", "a histogram", registry=m.registry).observe(0.3)
    assert m.render() == generate_latest(m.registry)
