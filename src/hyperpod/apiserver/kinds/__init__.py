"""Per-kind strategies: a built-in kind's rules in one small module, registered by one line.

A :class:`Strategy` names its :class:`ResourceType` and carries the kind's defaulting,
create/update preparation, validation, table columns and selectable fields. The generic code
(``resources.py``, ``validation.py``, ``tables.py``, ``selectors.py``, ``registry.py``) asks
:func:`strategy_for` and falls back to its own tables for kinds without one. Adding a kind:
write ``kinds/<kind>.py`` with a ``STRATEGY`` and add its dotted path to :data:`REGISTERED`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hyperpod.apiserver.resourcetype import ResourceType

Obj = dict[str, Any]
Cause = dict[str, str]
Row = Callable[[Obj, datetime], list[Any]]

# "module:attribute" of each registered Strategy, in discovery order.
REGISTERED: list[str] = [
    "hyperpod.apiserver.kinds.deployment:STRATEGY",
    "hyperpod.apiserver.kinds.replicaset:STRATEGY",
    "hyperpod.apiserver.kinds.controllerrevision:STRATEGY",
    "hyperpod.apiserver.kinds.job:STRATEGY",
    "hyperpod.apiserver.kinds.replicationcontroller:STRATEGY",
    "hyperpod.apiserver.kinds.daemonset:STRATEGY",
    "hyperpod.apiserver.kinds.statefulset:STRATEGY",
    "hyperpod.apiserver.kinds.poddisruptionbudget:STRATEGY",
    "hyperpod.apiserver.kinds.cronjob:STRATEGY",
    "hyperpod.apiserver.kinds.podtemplate:STRATEGY",
    "hyperpod.apiserver.kinds.persistentvolume:STRATEGY",
    "hyperpod.apiserver.kinds.persistentvolumeclaim:STRATEGY",
    "hyperpod.apiserver.kinds.storageclass:STRATEGY",
    "hyperpod.apiserver.kinds.csidriver:STRATEGY",
    "hyperpod.apiserver.kinds.csinode:STRATEGY",
    "hyperpod.apiserver.kinds.volumeattachment:STRATEGY",
    "hyperpod.apiserver.kinds.resourcequota:STRATEGY",
    "hyperpod.apiserver.kinds.limitrange:STRATEGY",
    "hyperpod.apiserver.kinds.ingress:STRATEGY",
    "hyperpod.apiserver.kinds.ingressclass:STRATEGY",
    "hyperpod.apiserver.kinds.networkpolicy:STRATEGY",
    "hyperpod.apiserver.kinds.horizontalpodautoscaler:STRATEGY",
    "hyperpod.apiserver.kinds.webhookconfiguration:VALIDATING",
    "hyperpod.apiserver.kinds.webhookconfiguration:MUTATING",
    "hyperpod.apiserver.kinds.admissionpolicy:POLICY",
    "hyperpod.apiserver.kinds.admissionpolicy:BINDING",
    "hyperpod.apiserver.kinds.pod:STRATEGY",
    "hyperpod.apiserver.kinds.namespace:STRATEGY",
    "hyperpod.apiserver.kinds.crd:STRATEGY",
    "hyperpod.apiserver.kinds.flowschema:STRATEGY",
    "hyperpod.apiserver.kinds.prioritylevelconfiguration:STRATEGY",
]


class Strategy:
    """The rules of one built-in kind; every hook defaults to doing nothing.

    A core kind whose :class:`ResourceType` the catalog's own table serves (Pod, Namespace,
    CustomResourceDefinition, so discovery keeps its order) sets :attr:`kind` instead of
    overriding :meth:`resource_type`.
    """

    kind: str = ""

    def resource_type(self) -> ResourceType:
        raise NotImplementedError

    def serves_type(self) -> bool:
        """Whether :meth:`resource_type` adds the kind to the catalog."""
        return not self.kind

    def kind_name(self) -> str:
        return self.kind or self.resource_type().kind

    def default(self, obj: Obj) -> None:
        """Fill absent fields in place (on every create and update)."""

    def prepare_for_create(self, obj: Obj) -> None:
        """Adjust a new object before validation (e.g. clear status)."""

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        """Adjust an update before validation (e.g. keep fields users may not change)."""

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        """Causes that make the (defaulted) object invalid; [] when it is fine."""
        return []

    def table(self) -> tuple[list[Obj], Row] | None:
        """kubectl's column definitions and row function, or None for NAME/AGE."""
        return None

    def selectable_fields(self) -> dict[str, Callable[[Obj], str]]:
        """Field selectors beyond metadata.name/namespace: field path -> value reader."""
        return {}

    def to_storage(self, obj: Obj, version: str) -> None:
        """Convert a body sent as served ``version`` to the storage version's shape, in place."""

    def from_storage(self, obj: Obj, version: str) -> None:
        """Convert a stored object to served ``version``'s shape, in place."""

    def admit_eviction(self, reg: Any, pod: Obj, dry_run: bool) -> None:
        """Eviction admission of ``pod`` (e.g. a disruption budget); raise to refuse it."""

    # Store hooks: the generic store (``registry.py``) calls these at fixed points.
    def validate_in(self, store: Any, obj: Obj, old: Obj | None) -> list[Cause]:
        """Validation that needs the store (e.g. a CRD must not shadow a built-in resource)."""
        return []

    def prepare_status(self, obj: Obj) -> None:
        """Set server-owned status on create and on updates of the main resource."""

    def after_commit(self, store: Any, obj: Obj, deleted: bool) -> None:
        """React to a committed write of this kind (e.g. serve a new CRD's resource)."""

    def lingers(self, obj: Obj) -> bool:
        """Whether an object being deleted stays after its last finalizer is gone."""
        return False

    def graceful_delete(self, obj: Obj, grace_period_seconds: int | None) -> tuple[bool, bool]:
        """Begin a graceful deletion of ``obj`` in place: (graceful, whether ``obj`` changed)."""
        return False, False

    def delete_pending(self, obj: Obj) -> bool:
        """Whether deletion waits on the kind's own finalization (``obj`` stays, updated)."""
        return False

    def create_subresource(
        self, store: Any, sub: str, body: Obj, namespace: str | None, dry_run: bool
    ) -> Obj | None:
        """The answer to a create on subresource ``sub`` (e.g. pods/binding); None: not served."""
        return None


_BY_KIND: dict[str, Strategy] | None = None


def _load() -> dict[str, Strategy]:
    global _BY_KIND
    if _BY_KIND is None:
        out: dict[str, Strategy] = {}
        for ref in REGISTERED:
            module, _, attr = ref.partition(":")
            strategy = getattr(importlib.import_module(module), attr)
            out[strategy.kind_name()] = strategy
        _BY_KIND = out
    return _BY_KIND


def strategy_for(kind: str) -> Strategy | None:
    """The strategy of built-in ``kind``, or None when the generic code handles it alone."""
    return _load().get(kind)


def resource_types() -> list[ResourceType]:
    """The resource types of every registered kind."""
    return [s.resource_type() for s in _load().values() if s.serves_type()]


def prepare(kind: str, obj: Obj, old: Obj | None) -> None:
    """Run the kind's prepare-for-create (``old`` None) or prepare-for-update hook."""
    strategy = strategy_for(kind)
    if strategy is None:
        return
    if old is None:
        strategy.prepare_for_create(obj)
    else:
        strategy.prepare_for_update(obj, old)


def admit_eviction(reg: Any, pod: Obj, dry_run: bool) -> None:
    """Eviction admission: every kind may refuse (PodDisruptionBudgets selecting ``pod``)."""
    for strategy in _load().values():
        strategy.admit_eviction(reg, pod, dry_run)


def to_storage(kind: str, obj: Obj, version: str) -> None:
    """Conversion hook for writes of a kind served in several versions (``version``: v1...)."""
    strategy = strategy_for(kind)
    if strategy is not None:
        strategy.to_storage(obj, version)


def from_storage(kind: str, obj: Obj, version: str) -> None:
    """Conversion hook for reads of a kind served in several versions."""
    strategy = strategy_for(kind)
    if strategy is not None:
        strategy.from_storage(obj, version)


def selectable_field_names(kind: str) -> tuple[str, ...]:
    strategy = strategy_for(kind)
    return tuple(strategy.selectable_fields()) if strategy is not None else ()
