"""The API server's ``/metrics``: request counters and latency, in-flight requests, stored objects.

One :class:`ApiMetrics` per server owns its own ``CollectorRegistry`` (never the process-global
one), so two servers in one test process never share counts. Components add their own
collectors with :meth:`ApiMetrics.register`; every collector computes its samples when
Prometheus scrapes, so an idle cluster pays nothing between scrapes.

Names and labels follow kube-apiserver: ``apiserver_request_total{verb,group,version,resource,
subresource,scope,component,code}``, ``apiserver_request_duration_seconds`` (a histogram, long-
running requests excluded as upstream does), ``apiserver_current_inflight_requests{request_kind}``
and ``apiserver_storage_objects{resource}``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# kube-apiserver exposes no ``*_created`` series; neither do we (a process-wide switch).
disable_created_metrics()
CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()
Send = Callable[[dict[str, Any]], Awaitable[None]]
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
_LONG_RUNNING_SUBS = {"log", "exec", "attach", "portforward"}


def request_labels(
    method: str, path: str, query: Mapping[str, str], content_type: str = ""
) -> dict[str, str]:
    """kube-apiserver's labels of one request, read from its path alone (no catalog needed)."""
    parts = [p for p in path.split("/") if p]
    labels = {
        "verb": method,
        "group": "",
        "version": "",
        "resource": "",
        "subresource": "",
        "scope": "",
        "component": "apiserver",
    }
    if parts[:1] == ["api"] and len(parts) >= 2:
        labels["version"], rest = parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        labels["group"], labels["version"], rest = parts[1], parts[2], parts[3:]
    elif parts[:2] in (["dashboard", "stream"], ["dashboard", "logs"]):
        labels["verb"] = "WATCH"  # the dashboard's event streams are long-running, like watches
        return labels
    else:
        return labels  # a non-resource URL (/healthz, /metrics, /openapi/v3 ...)
    scope = "cluster"
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        rest = rest[2:]
        scope = "namespace"
    name = rest[1] if len(rest) > 1 else None
    labels["resource"] = rest[0] if rest else ""
    labels["subresource"] = rest[2] if len(rest) > 2 else ""
    labels["scope"] = "resource" if name is not None else scope
    verb = method
    if method == "GET":
        if name is None:
            verb = "WATCH" if query.get("watch") in ("true", "1") else "LIST"
    elif method == "DELETE" and name is None:
        verb = "DELETECOLLECTION"
    elif method == "PATCH" and "apply-patch" in content_type:
        verb = "APPLY"
    labels["verb"] = verb
    return labels


class _Tracked:
    """One request: wraps ``send`` to learn the status code, then records on :meth:`finish`."""

    __slots__ = ("_m", "_send", "code", "kind", "labels", "long_running", "started")

    def __init__(self, m: ApiMetrics, labels: dict[str, str], send: Send) -> None:
        self._m = m
        self._send = send
        self.labels = labels
        self.code = "0"
        self.started = time.perf_counter()
        self.long_running = labels["verb"] in ("WATCH", "CONNECT") or (
            labels["subresource"] in _LONG_RUNNING_SUBS
        )
        self.kind = "mutating" if labels["verb"] in _MUTATING else "readOnly"
        if not self.long_running:
            m.inflight.labels(self.kind).inc()

    async def send(self, message: dict[str, Any]) -> None:
        if message.get("type") == "http.response.start":
            self.code = str(message.get("status", 0))
        await self._send(message)

    def finish(self) -> None:
        m, labels = self._m, self.labels
        m.requests.labels(**labels, code=self.code).inc()
        if not self.long_running:
            m.inflight.labels(self.kind).dec()
            m.duration.labels(
                labels["verb"],
                labels["group"],
                labels["version"],
                labels["resource"],
                labels["subresource"],
                labels["scope"],
                labels["component"],
            ).observe(time.perf_counter() - self.started)


class _StorageObjects(Collector):
    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[Metric]:
        fam = GaugeMetricFamily(
            "apiserver_storage_objects",
            "Number of stored objects at the time of last check split by kind.",
            labels=["resource"],
        )
        for resource, n in sorted(self._counts().items()):
            fam.add_metric([resource], n)
        yield fam


class ApiMetrics:
    """The metrics of one API server; :meth:`render` is the body of ``GET /metrics``."""

    def __init__(self, storage_counts: Callable[[], Mapping[str, int]] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        common = ["verb", "group", "version", "resource", "subresource", "scope", "component"]
        self.requests = Counter(
            "apiserver_request",
            "Counter of apiserver requests broken out for each verb, group, version, resource, "
            "scope, component, and HTTP response code.",
            [*common, "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, group, version, resource, "
            "subresource, scope and component.",
            common,
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.inflight = Gauge(
            "apiserver_current_inflight_requests",
            "Maximal number of currently used inflight request limit of this apiserver per "
            "request kind in last second.",
            ["request_kind"],
            registry=self.registry,
        )
        for kind in ("readOnly", "mutating"):
            self.inflight.labels(kind).set(0)
        if storage_counts is not None:
            self.registry.register(_StorageObjects(storage_counts))

    def begin(self, req: Any, send: Send) -> _Tracked:
        """Start tracking ``req`` (the app's Request); call ``finish()`` once it is answered."""
        labels = request_labels(
            req.method, req.path, req.query, req.headers.get("content-type", "")
        )
        return _Tracked(self, labels, send)

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)

    def unregister(self, collector: Collector) -> None:
        self.registry.unregister(collector)

    def render(self) -> bytes:
        return render_text(self.registry)


_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}
_SKIP = ("_created", "_gsum", "_gcount")


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def render_text(registry: CollectorRegistry) -> bytes:
    """Prometheus text format 0.0.4, as ``generate_latest`` writes it, about 3x faster.

    prometheus-client re-validates and escapes every label name of every sample; ours are
    fixed identifiers, so only label values are escaped. Labels are sorted, as upstream.
    """
    out: list[str] = []
    append = out.append
    for fam in registry.collect():
        name, kind = fam.name, fam.type
        if kind == "counter":
            name += "_total"
        elif kind == "info":
            name += "_info"
        doc = fam.documentation.replace("\\", "\\\\").replace("\n", "\\n")
        append(f"# HELP {name} {doc}\n# TYPE {name} {_TYPES.get(kind, kind)}\n")
        skip = tuple(fam.name + s for s in _SKIP)
        for sample in fam.samples:
            if sample.name in skip:
                continue
            value = floatToGoString(sample.value)
            if sample.labels:
                labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(sample.labels.items()))
                append(f"{sample.name}{{{labels}}} {value}\n")
            else:
                append(f"{sample.name} {value}\n")
    return "".join(out).encode()
