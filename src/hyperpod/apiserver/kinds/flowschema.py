"""flowcontrol.apiserver.k8s.io/v1 FlowSchema: which priority level a request goes to.

Served, defaulted (``matchingPrecedence`` 1000) and validated here; the API server classifies
every request by these objects (apiserver/flowcontrol.py).
"""

from __future__ import annotations

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.resources import ResourceType

GROUP = "flowcontrol.apiserver.k8s.io"
SUBJECT_KINDS = ("User", "Group", "ServiceAccount")
DISTINGUISHERS = ("ByUser", "ByNamespace")


class FlowSchemaStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            GROUP, "v1", "FlowSchema", "flowschemas", "flowschema", False, subresources=["status"]
        )

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict) and spec.get("matchingPrecedence") is None:
            spec["matchingPrecedence"] = 1000

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        out: list[Cause] = []
        prec = spec.get("matchingPrecedence")
        if isinstance(prec, bool) or not isinstance(prec, int) or not 1 <= prec <= 10000:
            out.append(
                errors.cause(
                    "spec.matchingPrecedence",
                    f"Invalid value: {prec!r}: must be between 1 and 10000, inclusive",
                )
            )
        if not cols.d(spec.get("priorityLevelConfiguration")).get("name"):
            out.append(
                errors.cause(
                    "spec.priorityLevelConfiguration.name", "Required value", "FieldValueRequired"
                )
            )
        dm = spec.get("distinguisherMethod")
        if dm is not None and cols.d(dm).get("type") not in DISTINGUISHERS:
            out.append(
                errors.cause(
                    "spec.distinguisherMethod.type",
                    f"Unsupported value: {cols.d(dm).get('type')!r}: supported values: "
                    '"ByNamespace", "ByUser"',
                    "FieldValueNotSupported",
                )
            )
        rules = spec.get("rules")
        if rules is not None and not isinstance(rules, list):
            return [*out, errors.cause("spec.rules", "Invalid value: must be a list")]
        for i, rule in enumerate(rules or []):
            out += _rule(f"spec.rules[{i}]", rule)
        return out

    def table(self) -> tuple[list[Obj], Row]:
        def spec(o: Obj) -> Obj:
            return cols.d(o.get("spec"))

        return cols.name_age_table(
            [
                (
                    "PriorityLevel",
                    "string",
                    lambda o: str(cols.d(spec(o).get("priorityLevelConfiguration")).get("name")),
                ),
                ("MatchingPrecedence", "string", lambda o: str(spec(o).get("matchingPrecedence"))),
                (
                    "DistinguisherMethod",
                    "string",
                    lambda o: str(
                        cols.d(spec(o).get("distinguisherMethod")).get("type") or "<none>"
                    ),
                ),
            ]
        )


def _rule(at: str, rule: object) -> list[Cause]:
    if not isinstance(rule, dict):
        return [errors.cause(at, "Invalid value: must be an object")]
    out: list[Cause] = []
    subjects = rule.get("subjects")
    if not isinstance(subjects, list) or not subjects:
        out.append(errors.cause(f"{at}.subjects", "Required value", "FieldValueRequired"))
    else:
        for j, s in enumerate(subjects):
            kind = cols.d(s).get("kind")
            if kind not in SUBJECT_KINDS:
                out.append(
                    errors.cause(
                        f"{at}.subjects[{j}].kind",
                        f'Unsupported value: {kind!r}: supported values: "Group", '
                        '"ServiceAccount", "User"',
                        "FieldValueNotSupported",
                    )
                )
    for key in ("resourceRules", "nonResourceRules"):
        value = rule.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(r, dict) for r in value)
        ):
            out.append(errors.cause(f"{at}.{key}", "Invalid value: must be a list of objects"))
    if not rule.get("resourceRules") and not rule.get("nonResourceRules"):
        out.append(
            errors.cause(
                at,
                "Required value: at least one of resourceRules and nonResourceRules has to be "
                "non-empty",
                "FieldValueRequired",
            )
        )
    return out


STRATEGY = FlowSchemaStrategy()
