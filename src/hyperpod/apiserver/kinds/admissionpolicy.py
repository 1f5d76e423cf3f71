"""admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy and its Binding: stored.

Both are type-checked against Kubernetes' schema, defaulted and validated as kube-apiserver
does for the fields below; the CEL expressions are stored but not evaluated (this server has
no CEL engine), which the policy's ``status`` says with a condition-free empty status.
"""

from __future__ import annotations

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.kinds.webhookconfiguration import GROUP
from hyperpod.apiserver.resources import ResourceType

ACTIONS = ("Deny", "Warn", "Audit")


class PolicyStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            GROUP,
            "v1",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicies",
            "validatingadmissionpolicy",
            False,
            subresources=["status"],
        )

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("failurePolicy", "Fail")
            rules = spec.get("matchConstraints")
            if isinstance(rules, dict):
                rules.setdefault("matchPolicy", "Equivalent")
                rules.setdefault("namespaceSelector", {})
                rules.setdefault("objectSelector", {})

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes: list[Cause] = []
        if spec.get("failurePolicy") not in ("Fail", "Ignore"):
            causes.append(
                errors.cause(
                    "spec.failurePolicy",
                    f'Unsupported value: "{spec.get("failurePolicy")}": supported values: '
                    '"Fail", "Ignore"',
                    "FieldValueNotSupported",
                )
            )
        if not spec.get("validations") and not spec.get("auditAnnotations"):
            causes.append(
                errors.cause(
                    "spec.validations",
                    "Required value: validations or auditAnnotations must contain at least one item",
                    "FieldValueRequired",
                )
            )
        for i, v in enumerate(spec.get("validations") or []):
            if not cols.d(v).get("expression"):
                causes.append(
                    errors.cause(
                        f"spec.validations[{i}].expression", "Required value", "FieldValueRequired"
                    )
                )
        return causes


class BindingStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            GROUP,
            "v1",
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings",
            "validatingadmissionpolicybinding",
            False,
        )

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes: list[Cause] = []
        if not spec.get("policyName"):
            causes.append(errors.cause("spec.policyName", "Required value", "FieldValueRequired"))
        actions = spec.get("validationActions") or []
        if not actions:
            causes.append(
                errors.cause("spec.validationActions", "Required value", "FieldValueRequired")
            )
        for i, a in enumerate(actions):
            if a not in ACTIONS:
                causes.append(
                    errors.cause(
                        f"spec.validationActions[{i}]",
                        f'Unsupported value: "{a}": supported values: "Audit", "Deny", "Warn"',
                        "FieldValueNotSupported",
                    )
                )
        if "Deny" in actions and "Warn" in actions:
            causes.append(
                errors.cause(
                    "spec.validationActions",
                    'Invalid value: ["Deny","Warn"]: must not contain both Deny and Warn',
                )
            )
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        return cols.name_age_table(
            [("PolicyName", "string", lambda o: str(cols.d(o.get("spec")).get("policyName", "")))]
        )


POLICY = PolicyStrategy()
BINDING = BindingStrategy()
