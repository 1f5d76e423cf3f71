"""The resource metrics API ``metrics.k8s.io/v1beta1`` (NodeMetrics, PodMetrics): ``kubectl top``.

Served like metrics-server serves it: ``get`` and ``list`` only, answered from live usage and
never stored. The figures come from a provider the observability component puts at
``services["resource_metrics"]`` (see controlplane/node_metrics.py); without it the API
answers 503, as kube-apiserver does when metrics-server is down.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from hyperpod.apiserver.errors import MethodNotAllowed, NotFound, ServiceUnavailable
from hyperpod.apiserver.resources import ResourceType
from hyperpod.apiserver.selectors import LabelSelector, parse_label_selector

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
Obj = dict[str, Any]


class ContainerUsage(Protocol):
    namespace: str
    pod: str
    container: str
    node: str
    cpu_cores: float
    memory_bytes: int
    window: float
    timestamp: float


class Provider(Protocol):
    def containers(self) -> list[Any]: ...

    def nodes(self, figures: list[Any] | None = None) -> list[tuple[str, float, int, float]]: ...


def resource_types() -> list[ResourceType]:
    """NodeMetrics and PodMetrics for the catalog (discovery lists them; get/list only)."""
    common = {"verbs": ["get", "list"], "virtual": True}
    return [
        ResourceType(GROUP, VERSION, "NodeMetrics", "nodes", "", False, **common),  # type: ignore[arg-type]
        ResourceType(GROUP, VERSION, "PodMetrics", "pods", "", True, **common),  # type: ignore[arg-type]
    ]


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cpu(cores: float) -> str:
    return f"{max(0, round(cores * 1e9))}n"


def _mem(n: int) -> str:
    return f"{max(0, n) // 1024}Ki"


def _window(seconds: float) -> str:
    return f"{max(1.0, seconds):.3f}s".replace(".000s", "s")


def _meta(name: str, namespace: str | None, labels: Mapping[str, str]) -> Obj:
    meta: Obj = {"name": name, "creationTimestamp": _ts(datetime.now(UTC).timestamp())}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    return meta


def answer(
    services: Mapping[str, Any],
    rt: ResourceType,
    namespace: str | None,
    name: str | None,
    method: str,
    query: Mapping[str, str],
) -> Obj:
    """The body of one metrics.k8s.io request (raises ApiError to refuse it)."""
    if method != "GET":
        raise MethodNotAllowed(f"{method} is not allowed on {rt.plural}.{GROUP}: it is read-only")
    if query.get("watch") in ("true", "1"):
        raise MethodNotAllowed(f"watch is not supported on {rt.plural}.{GROUP}")
    provider: Provider | None = services.get("resource_metrics")
    api = services.get("api")
    reg = getattr(api, "reg", None)
    if provider is None or reg is None:
        raise ServiceUnavailable("the metrics API is not running in this control plane")
    selector = parse_label_selector(query.get("labelSelector") or None)
    figures = provider.containers()
    if rt.kind == "NodeMetrics":
        return _nodes(reg, provider, figures, name, selector)
    return _pods(reg, figures, namespace, name, selector)


def _nodes(
    reg: Any, provider: Provider, figures: list[Any], name: str | None, selector: LabelSelector
) -> Obj:
    nodes = {n["metadata"]["name"]: n for n in reg.list("nodes")}
    if name is not None and name not in nodes:
        raise NotFound(f'nodemetrics.metrics.k8s.io "{name}" not found')
    now = datetime.now(UTC).timestamp()
    items = []
    for node, cores, mem, window in provider.nodes(figures):
        if node not in nodes or (name is not None and node != name):
            continue
        labels = nodes[node]["metadata"].get("labels") or {}
        if name is None and not selector.matches(labels):
            continue
        items.append(
            {
                "kind": "NodeMetrics",
                "apiVersion": API_VERSION,
                "metadata": _meta(node, None, labels),
                "timestamp": _ts(now),
                "window": _window(window),
                "usage": {"cpu": _cpu(cores), "memory": _mem(mem)},
            }
        )
    if name is not None:
        return items[0]
    return {"kind": "NodeMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": items}


def _pods(
    reg: Any, figures: list[Any], namespace: str | None, name: str | None, selector: LabelSelector
) -> Obj:
    pods = {
        (p["metadata"].get("namespace"), p["metadata"]["name"]): p
        for p in reg.list("pods", namespace)
    }
    grouped: dict[tuple[str, str], list[Any]] = {}
    for f in figures:
        if (f.namespace, f.pod) in pods:
            grouped.setdefault((f.namespace, f.pod), []).append(f)
    if name is not None and (namespace, name) not in grouped:
        raise NotFound(f'podmetrics.metrics.k8s.io "{name}" not found')
    items = []
    for (ns, pod), figs in sorted(grouped.items()):
        if name is not None and pod != name:
            continue
        labels = pods[(ns, pod)]["metadata"].get("labels") or {}
        if name is None and not selector.matches(labels):
            continue
        items.append(
            {
                "kind": "PodMetrics",
                "apiVersion": API_VERSION,
                "metadata": _meta(pod, ns, labels),
                "timestamp": _ts(figs[0].timestamp),
                "window": _window(figs[0].window),
                "containers": [
                    {
                        "name": f.container,
                        "usage": {"cpu": _cpu(f.cpu_cores), "memory": _mem(f.memory_bytes)},
                    }
                    for f in figs
                ],
            }
        )
    if name is not None:
        return items[0]
    return {"kind": "PodMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": items}
