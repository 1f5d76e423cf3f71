"""The ClusterQueue reconciler: quota configuration into the snapshot.

ResourceFlavors, Cohorts, ClusterQueues, priority classes and Namespaces (whose labels
ClusterQueue namespace selectors match) mark the snapshot stale; the next admission step
rebuilds it from the informer caches with the admitted workloads' usage added back. The
HyperPod cluster policy ConfigMap switches fair sharing on or off.
"""

from __future__ import annotations

import logging
from typing import Any

from hyperpod.apiserver.selectors import label_selector_from_dict
from hyperpod.controllers.kueue.snapshot import (
    NOTHING,
    Snapshot,
    cluster_queue_from,
    cohort_args,
    flavor_from,
)
from hyperpod.controllers.kueue.state import (
    CLUSTER_QUEUES,
    COHORTS,
    FLAVORS,
    KueueState,
    Obj,
)
from hyperpod.storage.watchcache import DELETED

log = logging.getLogger(__name__)

POLICY_NAMESPACE = "kube-system"  # where `hyp create cluster-policy` writes its ConfigMap
POLICY_CONFIGMAP = "hyperpod-cluster-policy"


class ClusterQueueReconciler:
    """Flavor, cohort, ClusterQueue, priority-class and namespace events into the snapshot."""

    def __init__(self, state: KueueState) -> None:
        self.s = state

    def on_config_change(self, typ: str, obj: Obj, old: Obj | None) -> None:
        s = self.s
        if obj.get("kind") in ("WorkloadPriorityClass", "PriorityClass"):
            s.retry_priorities = True
        s.stale = True
        s.status_dirty = True
        s.wake()

    def on_policy(self, typ: str, obj: Obj, old: Obj | None) -> None:
        """The HyperPod cluster policy ConfigMap switches fair sharing on or off."""
        s = self.s
        value = (obj.get("data") or {}).get("fairSharing") if typ != DELETED else None
        if value is None:
            s.fair_sharing = s.fair_sharing_default
        else:
            s.fair_sharing = value.lower() in ("enabled", "true", "on")
        s.status_dirty = True
        s.queues.requeue_inadmissible(None)
        s.wake()

    def rebuild(self) -> None:
        """A new snapshot from the informer caches (after queues, flavors or cohorts change)."""
        s = self.s
        snap = Snapshot()
        for obj in s.informers[FLAVORS].cache.values():
            snap.add_flavor(flavor_from(obj))
        for obj in s.informers[COHORTS].list():
            name, parent, quotas, weight = cohort_args(obj)
            snap.add_cohort(name, parent, quotas, weight)
        names = {f.name for f in snap.flavors.values()}
        for obj in s.informers[CLUSTER_QUEUES].list():
            sel_spec = (obj.get("spec") or {}).get("namespaceSelector", {})
            try:
                selector: Any = (
                    label_selector_from_dict(sel_spec) if sel_spec is not None else NOTHING
                )
            except ValueError:
                selector = NOTHING
            try:
                cq = cluster_queue_from(obj, names, selector)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("ClusterQueue %s unusable: %s", obj["metadata"]["name"], exc)
                continue
            snap.add_cluster_queue(cq)
            s.queues.set_strategy(cq.name, cq.strategy)
        for obj in s.informers["namespaces"].list():
            md = obj.get("metadata") or {}
            labels = dict(md.get("labels") or {})
            # Kubernetes labels every namespace with its own name; selectors rely on it.
            labels.setdefault("kubernetes.io/metadata.name", md.get("name", ""))
            snap.namespaces[md.get("name", "")] = labels
        for info in s.admitted.values():
            snap.add_workload(info)
        s.snapshot = snap
        s.stale = False
        s.queues.requeue_inadmissible(None)
