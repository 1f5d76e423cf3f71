"""policy/v1 PodDisruptionBudget: validation, columns, and the eviction check.

An eviction of a Running pod that a budget selects is refused with 429 while the budget's
``status.disruptionsAllowed`` is 0 (``kubectl drain`` retries); otherwise the budget's
allowance is spent (``disruptionsAllowed`` - 1, the pod noted in ``disruptedPods``) before the
pod is deleted. ``controllers/disruption.py`` keeps the status current.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.metadata import now_rfc3339
from hyperpod.apiserver.resources import ALL_VERBS, ResourceType
from hyperpod.apiserver.selectors import label_selector_from_dict

if TYPE_CHECKING:
    from hyperpod.apiserver.registry import Registry

RESOURCE = "poddisruptionbudgets.policy"


def _int_or_percent_ok(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and value.endswith("%") and value[:-1].isdigit()


class PodDisruptionBudgetStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            "poddisruptionbudget",
            True,
            ["pdb"],
            [],
            list(ALL_VERBS),
            ["status"],
        )

    def prepare_for_create(self, obj: Obj) -> None:
        obj.pop("status", None)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes: list[Cause] = []
        has_min, has_max = "minAvailable" in spec, "maxUnavailable" in spec
        if has_min and has_max:
            causes.append(
                errors.cause(
                    "spec",
                    "Invalid value: minAvailable and maxUnavailable cannot be both set",
                )
            )
        for field in ("minAvailable", "maxUnavailable"):
            if field in spec and not _int_or_percent_ok(spec[field]):
                causes.append(
                    errors.cause(
                        f"spec.{field}",
                        f"Invalid value: {spec[field]!r}: must be a non-negative integer or a "
                        "percentage",
                    )
                )
        if spec.get("selector") is not None:
            try:
                label_selector_from_dict(spec["selector"])
            except ValueError as exc:
                causes.append(errors.cause("spec.selector", str(exc)))
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def spec_field(field: str) -> Any:
            return lambda o: str(cols.d(o.get("spec")).get(field, "N/A"))

        return cols.name_age_table(
            [
                ("Min Available", "string", spec_field("minAvailable")),
                ("Max Unavailable", "string", spec_field("maxUnavailable")),
                (
                    "Allowed Disruptions",
                    "integer",
                    lambda o: cols.d(o.get("status")).get("disruptionsAllowed", 0),
                ),
            ]
        )

    def admit_eviction(self, reg: Any, pod: Obj, dry_run: bool) -> None:
        admit_eviction(reg, pod, dry_run)


STRATEGY = PodDisruptionBudgetStrategy()


def admit_eviction(reg: Registry, pod: Obj, dry_run: bool) -> None:
    """Spend one disruption of every budget selecting ``pod``; 429 when one has none left."""
    if (pod.get("status") or {}).get("phase") != "Running":
        return  # pending or finished pods may always be evicted, as in Kubernetes
    md = pod.get("metadata") or {}
    labels = md.get("labels") or {}
    if reg.catalog.get(RESOURCE) is None:
        return
    budgets = [
        b
        for b in reg.list(RESOURCE, md.get("namespace"))
        if (b.get("spec") or {}).get("selector") is not None
        and label_selector_from_dict(b["spec"]["selector"]).matches(labels)
    ]
    if len(budgets) > 1:
        raise errors.InternalError(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource "
            "does not support."
        )
    for budget in budgets:
        status = budget.get("status") or {}
        if (
            int(status.get("observedGeneration") or 0)
            < int(budget["metadata"].get("generation") or 1)
            or int(status.get("disruptionsAllowed") or 0) <= 0
        ):
            raise errors.TooManyRequests(
                "Cannot evict pod as it would violate the pod's disruption budget.",
                causes=[
                    {
                        "reason": "DisruptionBudget",
                        "message": f"The disruption budget {budget['metadata']['name']} needs "
                        f"{status.get('desiredHealthy', 0)} healthy pods and has "
                        f"{status.get('currentHealthy', 0)} currently",
                    }
                ],
                retry_after=1,
            )
        if dry_run:
            continue
        status["disruptionsAllowed"] = int(status["disruptionsAllowed"]) - 1
        status.setdefault("disruptedPods", {})[str(md.get("name"))] = now_rfc3339()
        budget["status"] = status
        reg.update(f"{RESOURCE}/status", budget, md.get("namespace"))
