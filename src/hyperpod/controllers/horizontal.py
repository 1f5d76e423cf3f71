"""The horizontal pod autoscaler: scales Deployments, ReplicaSets, StatefulSets and
ReplicationControllers on their pods' cpu and memory, as read from ``metrics.k8s.io``.

Every sync period (15 s; ``horizontalPodAutoscaler.syncPeriodSeconds`` in the control-plane
config) each HorizontalPodAutoscaler reads its target's scale subresource, the pods the target
selects and their PodMetrics (the same answer ``kubectl top pods`` gets), computes a replica
count with upstream's algorithm (``horizontal_rules.py``) and writes it through the target's
``/scale`` subresource. Status carries ``currentMetrics``, ``currentReplicas``,
``desiredReplicas``, ``lastScaleTime`` and the AbleToScale / ScalingActive / ScalingLimited
conditions; each rescale is a ``SuccessfulRescale`` Event.

Only ``Resource`` metrics (cpu, memory; Utilization or AverageValue) have a source here: the
cluster serves no custom or external metrics API, so ``Pods``, ``Object``, ``External`` and
``ContainerResource`` metrics report ScalingActive=False with a message saying so. Without the
metrics API (observability component off) every metric reports FailedGetResourceMetric and
the target is left alone. Recommendations and scale events (for ``spec.behavior``) live in
memory, as upstream's do: a control-plane restart forgets them.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from hyperpod.api.controlplane_config import HorizontalPodAutoscalerConfig
from hyperpod.api.meta import epoch_of, rfc3339
from hyperpod.apiserver import metrics_api
from hyperpod.apiserver.errors import ApiError
from hyperpod.apiserver.quantity import parse_quantity
from hyperpod.apiserver.registry import Registry
from hyperpod.apiserver.selectors import (
    LabelSelector,
    label_selector_from_dict,
    selector_from_set,
)
from hyperpod.controllers import horizontal_rules as rules
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import (
    Controller,
    Informer,
    record_event,
    set_condition,
    split_key,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "horizontal-pod-autoscaler"
RESOURCE = "horizontalpodautoscalers.autoscaling"
SCALABLE = {
    "Deployment": "deployments.apps",
    "StatefulSet": "statefulsets.apps",
    "ReplicaSet": "replicasets.apps",
    "ReplicationController": "replicationcontrollers",
}
NO_SOURCE = {
    "Pods": "FailedGetPodsMetric",
    "Object": "FailedGetObjectMetric",
    "External": "FailedGetExternalMetric",
    "ContainerResource": "FailedGetContainerResourceMetric",
}


@dataclass
class Settings:
    sync: float = 15.0
    downscale_window: float = 300.0
    timing: rules.Timing = field(default_factory=rules.Timing)

    @classmethod
    def of(cls, cfg: HorizontalPodAutoscalerConfig) -> Settings:
        return cls(
            cfg.sync_period_seconds,
            cfg.downscale_stabilization_seconds,
            rules.Timing(
                cfg.tolerance,
                cfg.cpu_initialization_period_seconds,
                cfg.initial_readiness_delay_seconds,
            ),
        )


@dataclass
class _Memory:
    recommendations: list[rules.Recommendation] = field(default_factory=list)
    events: list[rules.ScaleEvent] = field(default_factory=list)


@dataclass
class _Pass:
    """One reconcile of one autoscaler: what its steps share."""

    key: str
    ns: str | None
    hpa: Obj
    spec: Obj
    status: Obj
    conds: list[Obj]
    resource: str
    scale: Obj
    current: int
    now: float
    memory: _Memory


def _selector(target: Obj, kind: str) -> LabelSelector | None:
    sel = (target.get("spec") or {}).get("selector")
    if not isinstance(sel, dict) or not sel:
        return None
    if kind == "ReplicationController":
        return selector_from_set(sel)
    return label_selector_from_dict(sel)


def quantity(value: Any) -> float:
    try:
        return float(parse_quantity(value))
    except (ValueError, TypeError, ArithmeticError):
        return 0.0


def _window(text: Any) -> float:
    try:
        return float(str(text).rstrip("s"))
    except ValueError:
        return 0.0


def pod_figures(pods: list[Obj], metrics: dict[str, Obj], resource: str) -> list[rules.PodFigure]:
    """What the replica calculator needs of each pod: phase, readiness, requests, usage."""
    out: list[rules.PodFigure] = []
    for pod in pods:
        md, spec, st = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        request: float | None = 0.0
        missing: str | None = None
        for c in spec.get("containers") or []:
            asked = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if asked is None:
                request, missing = None, f"container {c.get('name')}"
                break
            request = (request or 0.0) + quantity(asked)
        ready_cond = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
        sample = metrics.get(md["name"])
        usage = (
            sum(quantity((c.get("usage") or {}).get(resource, 0)) for c in sample["containers"])
            if sample is not None
            else None
        )
        out.append(
            rules.PodFigure(
                name=md["name"],
                phase=str(st.get("phase") or "Pending"),
                deleting=bool(md.get("deletionTimestamp")),
                ready=None if ready_cond is None else ready_cond.get("status") == "True",
                start_time=epoch_of(st.get("startTime")),
                ready_since=epoch_of((ready_cond or {}).get("lastTransitionTime")),
                request=request,
                missing_request=missing,
                usage=usage,
                sample_time=(epoch_of(sample.get("timestamp")) or 0.0) if sample else 0.0,
                window=_window(sample.get("window")) if sample else 0.0,
            )
        )
    return out


class HorizontalController:
    def __init__(self, reg: Registry, services: dict[str, Any], settings: Settings) -> None:
        self.reg = reg
        self.services = services
        self.settings = settings
        self.controller = Controller(COMPONENT, self.reconcile)
        self.hpas = Informer(reg, RESOURCE)
        self.hpas.add_handler(self._on_hpa)
        self.memory: dict[str, _Memory] = {}
        self._pod_metrics = metrics_api.resource_types()[1]

    def _on_hpa(self, typ: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        key = f"{md.get('namespace')}/{md.get('name')}"
        if typ == "DELETED":
            self.memory.pop(key, None)
            return
        if typ == "MODIFIED" and old is not None and obj.get("spec") == old.get("spec"):
            return  # our own status write: the next periodic sync comes soon enough
        self.controller.enqueue(key)

    async def run(self, stopping: asyncio.Event) -> None:
        self.hpas.start()
        worker = asyncio.get_running_loop().create_task(self.controller.run(stopping))
        try:
            # One sync of every autoscaler per period (the queue folds repeats of a key).
            while not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), self.settings.sync)
                for h in self.hpas.list():
                    md = h.get("metadata") or {}
                    self.controller.enqueue(f"{md.get('namespace')}/{md.get('name')}")
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            await self.hpas.stop()

    def _metrics(self, ns: str, selector: LabelSelector) -> dict[str, Obj]:
        """PodMetrics of ``ns`` by pod name, as metrics.k8s.io answers them."""
        body = metrics_api.answer(
            self.services,
            self._pod_metrics,
            ns,
            None,
            "GET",
            {"labelSelector": str(selector)} if str(selector) else {},
        )
        return {m["metadata"]["name"]: m for m in body.get("items") or []}

    def _one_metric(
        self, metric: Obj, current: int, pods: list[Obj], samples: dict[str, Obj] | None, now: float
    ) -> tuple[int, Obj, str]:
        """(proposal, the status entry, the metric's name); raises MetricError."""
        typ = str(metric.get("type"))
        if typ != "Resource":
            raise rules.MetricError(
                f"{NO_SOURCE.get(typ, 'FailedGetResourceMetric')}: no {typ} metrics API "
                "(custom.metrics.k8s.io / external.metrics.k8s.io) is served by this cluster"
            )
        res = metric.get("resource") or {}
        name, target = str(res.get("name")), res.get("target") or {}
        if samples is None:
            raise rules.MetricError(
                f"FailedGetResourceMetric: failed to get {name} utilization: unable to get "
                f"metrics for resource {name}: no metrics returned from resource metrics API"
            )
        figures = pod_figures(pods, samples, name)
        timing = self.settings.timing
        try:
            if target.get("type") == "Utilization":
                p = rules.utilization_replicas(
                    current, figures, name, int(target.get("averageUtilization") or 0), now, timing
                )
            else:
                p = rules.average_value_replicas(
                    current, figures, name, quantity(target.get("averageValue", 0)), now, timing
                )
        except rules.MetricError as exc:
            kind = "utilization" if target.get("type") == "Utilization" else "usage"
            raise rules.MetricError(
                f"FailedGetResourceMetric: failed to get {name} {kind}: {exc}"
            ) from None
        current_value: Obj = {"averageValue": _quantity_text(name, p.average)}
        if p.utilization is not None:
            current_value["averageUtilization"] = p.utilization
        entry = {"type": "Resource", "resource": {"name": name, "current": current_value}}
        return p.replicas, entry, name

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        hpa = self.reg.try_get(RESOURCE, name, ns)
        if hpa is None or hpa["metadata"].get("deletionTimestamp"):
            self.memory.pop(key, None)
            return None
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        kind = str(ref.get("kind"))
        status: Obj = copy.deepcopy(hpa.get("status") or {})
        status["observedGeneration"] = hpa["metadata"].get("generation", 1)
        conds = status.setdefault("conditions", [])
        resource = SCALABLE.get(kind)
        target = self.reg.try_get(resource, str(ref.get("name")), ns) if resource else None
        if target is None or resource is None:
            plural = (resource or kind.lower() + "s").split(".")[0]
            set_condition(
                conds,
                "AbleToScale",
                "False",
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: "
                f'{plural} "{ref.get("name")}" not found',
            )
            self._write(hpa, status)
            return None
        scale = self.reg.get(f"{resource}/scale", str(ref.get("name")), ns)
        status["currentReplicas"] = int((scale.get("status") or {}).get("replicas") or 0)
        set_condition(
            conds,
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        )
        p = _Pass(
            key=key,
            ns=ns,
            hpa=hpa,
            spec=spec,
            status=status,
            conds=conds,
            resource=resource,
            scale=scale,
            current=int((scale.get("spec") or {}).get("replicas") or 0),
            now=time.time(),
            memory=self.memory.setdefault(key, _Memory()),
        )
        decided = self._desired(p, target, kind)
        if decided is None:
            return None
        desired, reason = decided
        if desired != p.current and not self._rescale(p, desired, reason):
            return None
        status["desiredReplicas"] = desired
        self._write(hpa, status)
        return None

    def _desired(self, p: _Pass, target: Obj, kind: str) -> tuple[int, str] | None:
        """(replicas wanted, why); None when the metrics failed and the status is written."""
        low, high = int(p.spec.get("minReplicas") or 1), int(p.spec.get("maxReplicas") or 1)
        current, conds = p.current, p.conds
        if current == 0 and low != 0:
            set_condition(
                conds,
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            )
            return current, ""
        if current > high:
            return high, "Current number of replicas above Spec.MaxReplicas"
        if current < low:
            return low, "Current number of replicas below Spec.MinReplicas"
        outcome = self._compute(p.hpa, target, kind, p.ns or "default", current, p.now)
        if isinstance(outcome, str):
            why, _, message = outcome.partition(": ")
            set_condition(
                conds,
                "ScalingActive",
                "False",
                why,
                f"the HPA was unable to compute the replica count: {message}",
            )
            p.status["desiredReplicas"] = current
            self._write(p.hpa, p.status)
            return None
        proposal, metric_name, statuses, valid = outcome
        p.status["currentMetrics"] = statuses
        set_condition(conds, "ScalingActive", "True", "ValidMetricFound", valid)
        reason = ""
        if proposal > current:
            reason = f"{metric_name} above target"
        elif proposal < current:
            reason = "All metrics below target"
        limits = self._limits(p, proposal, low, high)
        set_condition(conds, "AbleToScale", "True", *limits.able_reason)
        set_condition(
            conds,
            "ScalingLimited",
            "True" if limits.limited else "False",
            *limits.limited_reason,
        )
        return limits.replicas, reason

    def _limits(self, p: _Pass, proposal: int, low: int, high: int) -> rules.Limits:
        """The proposal after min/max, stabilization and (with spec.behavior) rate policies."""
        memory = p.memory
        if p.spec.get("behavior") is None:
            return rules.normalize(
                p.current,
                proposal,
                low,
                high,
                memory.recommendations,
                p.now,
                self.settings.downscale_window,
            )
        return rules.normalize_with_behavior(
            p.current,
            proposal,
            low,
            high,
            p.spec.get("behavior"),
            memory.recommendations,
            memory.events,
            p.now,
            self.settings.downscale_window,
        )

    def _rescale(self, p: _Pass, desired: int, reason: str) -> bool:
        """Write ``desired`` through the target's /scale; False when it failed (status written)."""
        ref_name = (p.spec.get("scaleTargetRef") or {}).get("name")
        try:
            self.reg.update(
                f"{p.resource}/scale",
                {
                    "kind": "Scale",
                    "apiVersion": "autoscaling/v1",
                    "metadata": {
                        "name": ref_name,
                        "namespace": p.ns,
                        "resourceVersion": p.scale["metadata"].get("resourceVersion"),
                    },
                    "spec": {"replicas": desired},
                },
                p.ns,
            )
        except ApiError as exc:
            set_condition(
                p.conds,
                "AbleToScale",
                "False",
                "FailedUpdateScale",
                f"the HPA controller was unable to update the target scale: {exc}",
            )
            p.status["desiredReplicas"] = p.current
            self._write(p.hpa, p.status)
            return False
        set_condition(
            p.conds,
            "AbleToScale",
            "True",
            "SucceededRescale",
            f"the HPA controller was able to update the target scale to {desired}",
        )
        if p.spec.get("behavior") is not None:
            p.memory.events.append(rules.ScaleEvent(desired - p.current, p.now))
        p.status["lastScaleTime"] = rfc3339(p.now)
        record_event(
            self.reg,
            {**p.hpa, "kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2"},
            "Normal",
            "SuccessfulRescale",
            f"New size: {desired}; reason: {reason}",
            COMPONENT,
        )
        log.info("%s: %d -> %d (%s)", p.key, p.current, desired, reason)
        return True

    def _compute(
        self, hpa: Obj, target: Obj, kind: str, ns: str, current: int, now: float
    ) -> tuple[int, str, list[Obj], str] | str:
        """(proposal, metric name, currentMetrics, ValidMetricFound message) or 'Reason: why'."""
        selector = _selector(target, kind)
        if selector is None:
            return "InvalidSelector: the HPA target's scale is missing a selector"
        pods = [
            p
            for p in self.reg.list("pods", ns)
            if selector.matches(p["metadata"].get("labels") or {})
        ]
        try:
            samples: dict[str, Obj] | None = self._metrics(ns, selector)
        except ApiError:
            samples = None
        best, best_name, valid = -1, "", ""
        statuses: list[Obj] = []
        errors: list[str] = []
        metrics = (hpa.get("spec") or {}).get("metrics") or []
        for metric in metrics:
            try:
                replicas, entry, name = self._one_metric(metric, current, pods, samples, now)
            except rules.MetricError as exc:
                errors.append(str(exc))
                statuses.append({"type": metric.get("type")})
                continue
            statuses.append(entry)
            if replicas > best:
                utilization = ((metric.get("resource") or {}).get("target") or {}).get(
                    "type"
                ) == "Utilization"
                best = replicas
                best_name = (
                    f"{name} resource utilization (percentage of request)"
                    if utilization
                    else f"{name} resource"
                )
                valid = (
                    f"the HPA was able to successfully calculate a replica count from {best_name}"
                )
        if errors and (best < 0 or best < current):
            return errors[0]
        return best, best_name, statuses, valid

    def _write(self, hpa: Obj, status: Obj) -> None:
        if status != hpa.get("status"):
            hpa["status"] = status
            with contextlib.suppress(ApiError):
                self.reg.update(f"{RESOURCE}/status", hpa, hpa["metadata"].get("namespace"))


def _quantity_text(resource: str, value: float) -> str:
    if resource == "cpu":
        return f"{round(value * 1000)}m"
    return f"{max(0, int(value)) // 1024}Ki"  # as metrics.k8s.io writes memory


async def _start(ctx: ControlPlaneContext) -> None:
    settings = Settings.of(ctx.config.horizontal_pod_autoscaler)  # checked when config is read
    await HorizontalController(ctx.reg, ctx.services, settings).run(ctx.stopping)


def component() -> Component:
    return Component(name=COMPONENT, start=_start)
