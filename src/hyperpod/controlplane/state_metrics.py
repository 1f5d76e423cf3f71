"""Scrape-time gauges read from the stored objects: kube-state-metrics, Kueue, work queues, jobs.

Each collector lists what it needs from the registry when Prometheus scrapes and yields
families with the upstream names and labels (kube-state-metrics ``kube_pod_status_phase``,
``kube_node_status_condition``, ``kube_node_labels``, ``kube_node_spec_taint``,
``kube_pod_container_status_restarts_total``; the health agent's verdicts as
``hyperpod_node_health_status``, ``hyperpod_node_deep_health_check_status`` and
``hyperpod_node_unhealthy_gpus``;
Kueue ``kueue_pending_workloads``, ``kueue_admitted_active_workloads``,
``kueue_cluster_queue_nominal_quota|borrowing_limit|resource_usage``; client-go
``workqueue_depth``; kubeflow's ``training_operator_jobs_*`` gauges are in event_metrics) plus
``hyperpod_job_progress_*`` for training progress.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hyperpod.api import health, job_progress
from hyperpod.apiserver.quantity import parse_quantity
from hyperpod.apiserver.registry import Registry

Obj = dict[str, Any]
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
WORKLOADS = "workloads.kueue.x-k8s.io"
CLUSTER_QUEUES = "clusterqueues.kueue.x-k8s.io"
LOCAL_QUEUES = "localqueues.kueue.x-k8s.io"
PYTORCHJOBS = "pytorchjobs.kubeflow.org"
HPJOBS = "hyperpodpytorchjobs.sagemaker.amazonaws.com"
_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def label_name(key: str) -> str:
    """kube-state-metrics' label sanitising: ``kubernetes.io/hostname`` -> ``label_kubernetes_io_hostname``."""
    return "label_" + _LABEL_CHARS.sub("_", key)


def quantity(value: Any) -> float:
    return _quantity(value) if isinstance(value, str) else _parse(value)


@functools.lru_cache(maxsize=4096)
def _quantity(text: str) -> float:  # capacities and requests repeat across objects
    return _parse(text)


def _parse(value: Any) -> float:
    try:
        return float(parse_quantity(value))
    except (ValueError, TypeError, ArithmeticError):
        return 0.0


class Snapshot:
    """The registry's lists, decoded once per scrape: collectors reading the same kind share them.

    A list is reused for ``ttl`` seconds (one scrape runs every collector in well under that),
    so pods and nodes are decoded once per scrape rather than once per collector.
    """

    def __init__(self, reg: Registry, ttl: float = 1.0) -> None:
        self.reg = reg
        self.catalog = reg.catalog
        self.ttl = ttl
        self._cache: dict[str, tuple[float, list[Obj]]] = {}

    def list(self, resource: str) -> list[Obj]:
        now = time.monotonic()
        hit = self._cache.get(resource)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        items = self.reg.list(resource)
        self._cache[resource] = (now, items)
        return items


def _cond(obj: Obj, type_: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def _is_true(obj: Obj, type_: str) -> bool:
    c = _cond(obj, type_)
    return c is not None and c.get("status") == "True"


def _one_hot(fam: GaugeMetricFamily, node: str, value: str | None, known: Iterable[str]) -> None:
    """kube-state style: one series per known status, 1 for the current one; none when unset."""
    if not value:
        return
    for status in dict.fromkeys((*known, value)):
        fam.add_metric([node, status], 1.0 if status == value else 0.0)


def _count_json(obj: Obj, annotation: str) -> float:
    text = (obj["metadata"].get("annotations") or {}).get(annotation)
    try:
        items = json.loads(text) if text else []
    except ValueError:
        return 0.0
    return float(len(items)) if isinstance(items, list) else 0.0


class KubeStateCollector(Collector):
    """Pods, nodes and PyTorchJobs as kube-state-metrics shows them."""

    def __init__(self, reg: Snapshot) -> None:
        self.reg = reg

    def collect(self) -> Iterable[Metric]:
        phase = GaugeMetricFamily(
            "kube_pod_status_phase",
            "The pods current phase.",
            labels=["namespace", "pod", "uid", "phase"],
        )
        restarts = CounterMetricFamily(
            "kube_pod_container_status_restarts_total",
            "The number of container restarts per container.",
            labels=["namespace", "pod", "uid", "container"],
        )
        info = GaugeMetricFamily(
            "kube_pod_info",
            "Information about pod.",
            labels=["namespace", "pod", "uid", "node", "priority_class"],
        )
        for pod in self.reg.list("pods"):
            meta = pod["metadata"]
            ns, name, uid = meta.get("namespace", ""), meta["name"], meta.get("uid", "")
            current = (pod.get("status") or {}).get("phase") or "Pending"
            for p in PHASES:
                phase.add_metric([ns, name, uid, p], 1.0 if p == current else 0.0)
            spec = pod.get("spec") or {}
            info.add_metric(
                [ns, name, uid, spec.get("nodeName") or "", spec.get("priorityClassName") or ""], 1
            )
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                restarts.add_metric([ns, name, uid, cs.get("name", "")], cs.get("restartCount", 0))
        yield phase
        yield restarts
        yield info
        yield from self._nodes()
        yield from self._jobs()

    def _nodes(self) -> Iterable[Metric]:
        cond = GaugeMetricFamily(
            "kube_node_status_condition",
            "The condition of a cluster node.",
            labels=["node", "condition", "status"],
        )
        capacity = GaugeMetricFamily(
            "kube_node_status_capacity",
            "The capacity for different resources of a node.",
            labels=["node", "resource", "unit"],
        )
        allocatable = GaugeMetricFamily(
            "kube_node_status_allocatable",
            "The allocatable for different resources of a node that are available for scheduling.",
            labels=["node", "resource", "unit"],
        )
        unschedulable = GaugeMetricFamily(
            "kube_node_spec_unschedulable",
            "Whether a node can schedule new pods.",
            labels=["node"],
        )
        taints = GaugeMetricFamily(
            "kube_node_spec_taint",
            "The taint of a cluster node.",
            labels=["node", "key", "value", "effect"],
        )
        status_of = GaugeMetricFamily(
            "hyperpod_node_health_status",
            "The health monitoring agent's verdict on a node "
            "(label sagemaker.amazonaws.com/node-health-status): 1 for the current status.",
            labels=["node", "status"],
        )
        deep = GaugeMetricFamily(
            "hyperpod_node_deep_health_check_status",
            "The node's deep health check (label sagemaker.amazonaws.com/deep-health-check-status):"
            " 1 for the current status.",
            labels=["node", "status"],
        )
        bad_gpus = GaugeMetricFamily(
            "hyperpod_node_unhealthy_gpus",
            "GPUs of the node the health agent marked unhealthy (no longer allocatable).",
            labels=["node"],
        )
        nodes = self.reg.list("nodes")
        keys = sorted({k for n in nodes for k in (n["metadata"].get("labels") or {})})
        label_names = ["node", *dict.fromkeys(label_name(k) for k in keys)]
        labels = GaugeMetricFamily(
            "kube_node_labels",
            "Kubernetes labels converted to Prometheus labels.",
            labels=label_names,
        )
        for node in nodes:
            name = node["metadata"]["name"]
            found = {
                c.get("type"): c.get("status")
                for c in (node.get("status") or {}).get("conditions") or []
            }
            for type_ in sorted(set(NODE_CONDITIONS) | set(found)):
                if type_ not in found:
                    continue
                for s in ("true", "false", "unknown"):
                    cond.add_metric(
                        [name, type_, s], 1.0 if (found[type_] or "").lower() == s else 0.0
                    )
            st = node.get("status") or {}
            for fam, src in ((capacity, st.get("capacity")), (allocatable, st.get("allocatable"))):
                for res, val in (src or {}).items():
                    unit = {"cpu": "core", "memory": "byte"}.get(res, "integer")
                    fam.add_metric(
                        [name, res.replace(".", "_").replace("/", "_"), unit], quantity(val)
                    )
            unschedulable.add_metric(
                [name], 1.0 if (node.get("spec") or {}).get("unschedulable") else 0.0
            )
            for taint in (node.get("spec") or {}).get("taints") or []:
                taints.add_metric(
                    [name, taint.get("key", ""), taint.get("value") or "", taint.get("effect", "")],
                    1.0,
                )
            own = node["metadata"].get("labels") or {}
            _one_hot(status_of, name, own.get(health.HEALTH_LABEL), health.STATUSES)
            deep_statuses = (health.DEEP_IN_PROGRESS, health.DEEP_PASSED, health.DEEP_FAILED)
            _one_hot(deep, name, own.get(health.DEEP_HEALTH_LABEL), deep_statuses)
            bad_gpus.add_metric([name], _count_json(node, health.UNHEALTHY_DEVICES_ANNOTATION))
            by_name = {label_name(k): v for k, v in own.items()}
            labels.add_metric([name, *(by_name.get(n, "") for n in label_names[1:])], 1)
        yield from (cond, capacity, allocatable, unschedulable, taints, labels)
        yield from (status_of, deep, bad_gpus)

    def _jobs(self) -> Iterable[Metric]:
        if self.reg.catalog.get(PYTORCHJOBS) is None:
            return
        cond = GaugeMetricFamily(
            "kube_pytorchjob_status_condition",
            "The current conditions of a PyTorchJob (kube-state-metrics custom-resource style).",
            labels=["namespace", "pytorchjob", "condition", "status"],
        )
        percent = GaugeMetricFamily(
            "hyperpod_job_progress_percent",
            "Training progress reported by the job's rank-0 container, in percent.",
            labels=["namespace", "job_name", "kind"],
        )
        step = GaugeMetricFamily(
            "hyperpod_job_progress_step",
            "The last training step the job reported.",
            labels=["namespace", "job_name", "kind"],
        )
        eta = GaugeMetricFamily(
            "hyperpod_job_eta_seconds",
            "Estimated seconds until the job's last step, from its reported progress.",
            labels=["namespace", "job_name", "kind"],
        )
        for job in self.reg.list(PYTORCHJOBS):
            meta = job["metadata"]
            ns, name = meta.get("namespace", ""), meta["name"]
            status = job.get("status") or {}
            for c in status.get("conditions") or []:
                cond.add_metric([ns, name, c.get("type", ""), str(c.get("status", "")).lower()], 1)
        hpjobs = self.reg.list(HPJOBS) if self.reg.catalog.get(HPJOBS) is not None else []
        for kind, jobs in (
            ("PyTorchJob", self.reg.list(PYTORCHJOBS)),
            ("HyperPodPyTorchJob", hpjobs),
        ):
            for job in jobs:
                meta = job["metadata"]
                ns, name = meta.get("namespace", ""), meta["name"]
                prog = job_progress.read(job)
                if "percent" in prog:
                    percent.add_metric([ns, name, kind], float(prog["percent"]))
                    step.add_metric([ns, name, kind], float(prog.get("step", 0)))
                    if prog.get("etaSeconds") is not None:
                        eta.add_metric([ns, name, kind], float(prog["etaSeconds"]))
        yield from (cond, percent, step, eta)


class KueueCollector(Collector):
    """Kueue's gauges from ClusterQueues, LocalQueues and Workloads."""

    def __init__(self, reg: Snapshot) -> None:
        self.reg = reg

    def collect(self) -> Iterable[Metric]:
        if self.reg.catalog.get(CLUSTER_QUEUES) is None:
            return
        pending = GaugeMetricFamily(
            "kueue_pending_workloads",
            "The number of pending workloads, per 'cluster_queue' and 'status' (active: waiting "
            "its turn; inadmissible: tried and did not fit).",
            labels=["cluster_queue", "status"],
        )
        active = GaugeMetricFamily(
            "kueue_admitted_active_workloads",
            "The number of admitted workloads that are active (unsuspended and not finished), "
            "per 'cluster_queue'.",
            labels=["cluster_queue"],
        )
        lq_pending = GaugeMetricFamily(
            "kueue_local_queue_pending_workloads",
            "The number of pending workloads, per 'local_queue' and 'status'.",
            labels=["name", "namespace", "status"],
        )
        quota = GaugeMetricFamily(
            "kueue_cluster_queue_nominal_quota",
            "Reports the cluster_queue's resource nominal quota within all the flavors.",
            labels=["cohort", "cluster_queue", "flavor", "resource"],
        )
        borrowing = GaugeMetricFamily(
            "kueue_cluster_queue_borrowing_limit",
            "Reports the cluster_queue's resource borrowing limit within all the flavors.",
            labels=["cohort", "cluster_queue", "flavor", "resource"],
        )
        usage = GaugeMetricFamily(
            "kueue_cluster_queue_resource_usage",
            "Reports the cluster_queue's total resource usage within all the flavors.",
            labels=["cohort", "cluster_queue", "flavor", "resource"],
        )
        status_gauge = GaugeMetricFamily(
            "kueue_cluster_queue_status",
            "Reports 'cluster_queue' with its 'status' (pending, active or terminated).",
            labels=["cluster_queue", "status"],
        )
        cqs = self.reg.list(CLUSTER_QUEUES)
        lq_to_cq = {
            f"{lq['metadata'].get('namespace')}/{lq['metadata']['name']}": (
                lq.get("spec") or {}
            ).get("clusterQueue", "")
            for lq in self.reg.list(LOCAL_QUEUES)
        }
        counts: dict[tuple[str, str], int] = {}
        lq_counts: dict[tuple[str, str, str], int] = {}
        for wl in self.reg.list(WORKLOADS):
            if _is_true(wl, "QuotaReserved") or _is_true(wl, "Finished"):
                continue
            ns = wl["metadata"].get("namespace", "")
            lq = (wl.get("spec") or {}).get("queueName", "")
            cq = lq_to_cq.get(f"{ns}/{lq}")
            if not cq:
                continue
            state = "inadmissible" if _cond(wl, "QuotaReserved") is not None else "active"
            counts[(cq, state)] = counts.get((cq, state), 0) + 1
            lq_counts[(lq, ns, state)] = lq_counts.get((lq, ns, state), 0) + 1
        for cq in cqs:
            name = cq["metadata"]["name"]
            spec, st = cq.get("spec") or {}, cq.get("status") or {}
            cohort = spec.get("cohort") or ""
            for state in ("active", "inadmissible"):
                pending.add_metric([name, state], counts.get((name, state), 0))
            active.add_metric([name], st.get("admittedWorkloads", 0))
            now = "terminated" if cq["metadata"].get("deletionTimestamp") else "pending"
            if now == "pending" and _is_true(cq, "Active"):
                now = "active"
            for s in ("pending", "active", "terminated"):
                status_gauge.add_metric([name, s], 1.0 if s == now else 0.0)
            for group in spec.get("resourceGroups") or []:
                for flavor in group.get("flavors") or []:
                    for res in flavor.get("resources") or []:
                        labels = [cohort, name, flavor.get("name", ""), res.get("name", "")]
                        quota.add_metric(labels, quantity(res.get("nominalQuota", 0)))
                        if res.get("borrowingLimit") is not None:
                            borrowing.add_metric(labels, quantity(res["borrowingLimit"]))
            for flavor in st.get("flavorsUsage") or []:
                for res in flavor.get("resources") or []:
                    labels = [cohort, name, flavor.get("name", ""), res.get("name", "")]
                    usage.add_metric(labels, quantity(res.get("total", 0)))
        for (lq, ns, state), n in sorted(lq_counts.items()):
            lq_pending.add_metric([lq, ns, state], n)
        yield from (pending, active, lq_pending, quota, borrowing, usage, status_gauge)


class WorkqueueCollector(Collector):
    """client-go's ``workqueue_depth{name}`` for every controller work queue of this process."""

    def __init__(self, queues: Callable[[], Iterable[tuple[str, int, int]]]) -> None:
        self._queues = queues

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily("workqueue_depth", "Current depth of workqueue", labels=["name"])
        adds = CounterMetricFamily(
            "workqueue_adds", "Total number of adds handled by workqueue", labels=["name"]
        )
        adds_values: dict[str, int] = {}
        depth_values: dict[str, int] = {}
        for name, d, a in self._queues():
            depth_values[name] = depth_values.get(name, 0) + d
            adds_values[name] = adds_values.get(name, 0) + a
        for name in sorted(depth_values):
            depth.add_metric([name], depth_values[name])
            adds.add_metric([name], adds_values[name])
        yield depth
        yield adds
