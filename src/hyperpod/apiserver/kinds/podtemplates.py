"""Rules shared by kinds that carry a pod template and a selector (workload controllers)."""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver import errors, podspec, selectors

Obj = dict[str, Any]
Cause = dict[str, str]


def _d(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def default_template(template: Any, restart_policy: str = "Always") -> None:
    """Kubernetes' defaults for a pod template's spec (as the apiserver stores them)."""
    if not isinstance(template, dict):
        return
    tmd = template.get("metadata")
    if isinstance(tmd, dict) and "creationTimestamp" in tmd and tmd["creationTimestamp"] is None:
        del tmd["creationTimestamp"]  # Go clients send the zero time as null; it is not stored
    spec = template.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                podspec.default_container_fields(c)


def validate_template(
    template: Any,
    selector: Any,
    field: str = "spec.template",
    restart_policies: tuple[str, ...] = ("Always",),
    *,
    selector_required: bool = True,
) -> list[Cause]:
    """The template must be a valid pod spec whose labels the selector matches."""
    causes: list[Cause] = []
    if not isinstance(template, dict):
        return [errors.cause(field, "Required value", "FieldValueRequired")]
    labels = _d(_d(template.get("metadata")).get("labels"))
    sel_field = field.rsplit(".", 1)[0] + ".selector"
    if selector is None:
        if selector_required:
            causes.append(errors.cause(sel_field, "Required value", "FieldValueRequired"))
    else:
        try:
            sel = selectors.label_selector_from_dict(selector)
        except ValueError as exc:
            causes.append(errors.cause(sel_field, str(exc)))
        else:
            if sel.empty:
                causes.append(
                    errors.cause(
                        sel_field, "Invalid value: empty selector is invalid for this kind"
                    )
                )
            elif not sel.matches({str(k): str(v) for k, v in labels.items()}):
                causes.append(
                    errors.cause(
                        f"{field}.metadata.labels",
                        f"Invalid value: {labels}: `selector` does not match template `labels`",
                    )
                )
    spec = template.get("spec")
    causes.extend(podspec.validate_pod_spec(spec, f"{field}.spec"))
    policy = _d(spec).get("restartPolicy")
    if policy not in restart_policies:
        causes.append(
            errors.cause(
                f"{field}.spec.restartPolicy",
                f'Unsupported value: "{policy}": supported values: '
                + ", ".join(f'"{p}"' for p in restart_policies),
                "FieldValueNotSupported",
            )
        )
    return causes


def non_negative(obj: Obj, *path: str) -> list[Cause]:
    """A cause when the integer at ``path`` is present and negative (or not an integer)."""
    cur: Any = obj
    for p in path:
        cur = _d(cur).get(p)
    if cur is None:
        return []
    if not isinstance(cur, int) or isinstance(cur, bool) or cur < 0:
        return [
            errors.cause(
                ".".join(path), f"Invalid value: {cur}: must be greater than or equal to 0"
            )
        ]
    return []


def immutable_selector(obj: Obj, old: Obj | None) -> list[Cause]:
    if old is None:
        return []
    new_sel = _d(obj.get("spec")).get("selector")
    old_sel = _d(old.get("spec")).get("selector")
    if new_sel != old_sel:
        return [errors.cause("spec.selector", "Invalid value: field is immutable")]
    return []
