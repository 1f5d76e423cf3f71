"""admissionregistration.k8s.io/v1 Validating- and MutatingWebhookConfiguration.

Stored with kube-apiserver's defaults (failurePolicy Fail, matchPolicy Equivalent, empty
namespace/object selectors, timeoutSeconds 10, rule scope ``*``, service port 443,
reinvocationPolicy Never) and its main validation rules; ``apiserver/webhooks.py`` calls the
webhooks they describe when objects are written.
"""

from __future__ import annotations

import re
from typing import Any

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.resources import ResourceType

GROUP = "admissionregistration.k8s.io"
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT", "*")
SCOPES = ("Cluster", "Namespaced", "*")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?){2,}$")


def _unsupported(field: str, value: Any, allowed: tuple[str, ...]) -> Cause:
    shown = ", ".join(f'"{a}"' for a in allowed)
    return errors.cause(
        field, f'Unsupported value: "{value}": supported values: {shown}', "FieldValueNotSupported"
    )


def default_webhook(hook: Obj, mutating: bool) -> None:
    hook.setdefault("failurePolicy", "Fail")
    hook.setdefault("matchPolicy", "Equivalent")
    hook.setdefault("namespaceSelector", {})
    hook.setdefault("objectSelector", {})
    hook.setdefault("timeoutSeconds", 10)
    if mutating:
        hook.setdefault("reinvocationPolicy", "Never")
    for rule in hook.get("rules") or []:
        if isinstance(rule, dict):
            rule.setdefault("scope", "*")
    service = cols.d(cols.d(hook.get("clientConfig")).get("service"))
    if service:
        service.setdefault("port", 443)


def _client_causes(path: str, cc: Obj) -> list[Cause]:
    url, service = cc.get("url"), cc.get("service")
    if (url is None) == (service is None):
        return [errors.cause(path, "Required value: exactly one of url or service is required")]
    if url is not None:
        if not isinstance(url, str) or not url.startswith("https://"):
            return [
                errors.cause(
                    f"{path}.url",
                    f"Invalid value: \"{url}\": 'https' is the only allowed URL scheme",
                )
            ]
        return []
    svc = cols.d(service)
    out = [
        errors.cause(f"{path}.service.{f}", "Required value", "FieldValueRequired")
        for f in ("name", "namespace")
        if not svc.get(f)
    ]
    port = svc.get("port")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        out.append(
            errors.cause(
                f"{path}.service.port",
                f"Invalid value: {port}: port is not valid: must be between 1 and 65535",
            )
        )
    if svc.get("path") is not None and not str(svc["path"]).startswith("/"):
        out.append(
            errors.cause(
                f"{path}.service.path", f"Invalid value: \"{svc['path']}\": must start with a '/'"
            )
        )
    return out


def webhook_causes(hooks: Any, mutating: bool) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, raw in enumerate(hooks if isinstance(hooks, list) else []):
        hook = cols.d(raw)
        at = f"webhooks[{i}]"
        causes.extend(_name_causes(at, hook.get("name"), seen))
        causes.extend(_policy_causes(at, hook, mutating))
        causes.extend(_version_and_timeout_causes(at, hook))
        causes.extend(_client_causes(f"{at}.clientConfig", cols.d(hook.get("clientConfig"))))
        for j, rule in enumerate(hook.get("rules") or []):
            causes.extend(_rule_causes(f"{at}.rules[{j}]", cols.d(rule)))
    return causes


def _name_causes(at: str, name: Any, seen: set[str]) -> list[Cause]:
    """A webhook's name: a domain of three or more segments, unique in its configuration."""
    causes: list[Cause] = []
    if not name:
        causes.append(errors.cause(f"{at}.name", "Required value", "FieldValueRequired"))
    elif not _NAME.match(str(name)):
        causes.append(
            errors.cause(
                f"{at}.name",
                f'Invalid value: "{name}": should be a domain with at least three segments '
                "separated by dots",
            )
        )
    elif name in seen:
        causes.append(
            errors.cause(f"{at}.name", f'Duplicate value: "{name}"', "FieldValueDuplicate")
        )
    seen.add(str(name))
    return causes


def _policy_causes(at: str, hook: Obj, mutating: bool) -> list[Cause]:
    """failurePolicy, matchPolicy, sideEffects and (mutating only) reinvocationPolicy."""
    causes: list[Cause] = []
    if hook.get("failurePolicy") not in ("Fail", "Ignore"):
        causes.append(
            _unsupported(f"{at}.failurePolicy", hook.get("failurePolicy"), ("Fail", "Ignore"))
        )
    if hook.get("matchPolicy") not in ("Exact", "Equivalent"):
        causes.append(
            _unsupported(f"{at}.matchPolicy", hook.get("matchPolicy"), ("Equivalent", "Exact"))
        )
    if hook.get("sideEffects") not in ("None", "NoneOnDryRun"):
        causes.append(
            _unsupported(f"{at}.sideEffects", hook.get("sideEffects"), ("None", "NoneOnDryRun"))
        )
    if mutating and hook.get("reinvocationPolicy") not in ("Never", "IfNeeded"):
        causes.append(
            _unsupported(
                f"{at}.reinvocationPolicy",
                hook.get("reinvocationPolicy"),
                ("IfNeeded", "Never"),
            )
        )
    return causes


def _version_and_timeout_causes(at: str, hook: Obj) -> list[Cause]:
    causes: list[Cause] = []
    versions = hook.get("admissionReviewVersions")
    if not versions:
        causes.append(
            errors.cause(
                f"{at}.admissionReviewVersions",
                "Required value: must specify one of v1, v1beta1",
                "FieldValueRequired",
            )
        )
    elif "v1" not in versions:
        causes.append(
            errors.cause(
                f"{at}.admissionReviewVersions",
                f"Invalid value: {versions}: this server speaks AdmissionReview v1 only",
            )
        )
    timeout = hook.get("timeoutSeconds")
    if not isinstance(timeout, int) or not 1 <= timeout <= 30:
        causes.append(
            errors.cause(
                f"{at}.timeoutSeconds",
                f"Invalid value: {timeout}: the timeout value must be between 1 and 30 seconds",
            )
        )
    return causes


def _rule_causes(rat: str, rule: Obj) -> list[Cause]:
    causes: list[Cause] = []
    for field in ("operations", "apiGroups", "apiVersions", "resources"):
        if not rule.get(field):
            causes.append(errors.cause(f"{rat}.{field}", "Required value", "FieldValueRequired"))
    for k, op in enumerate(rule.get("operations") or []):
        if op not in OPERATIONS:
            causes.append(_unsupported(f"{rat}.operations[{k}]", op, OPERATIONS))
    if rule.get("scope") not in SCOPES:
        causes.append(_unsupported(f"{rat}.scope", rule.get("scope"), SCOPES))
    return causes


class _WebhookConfigurationStrategy(Strategy):
    mutating = False

    def resource_type(self) -> ResourceType:
        kind = ("Mutating" if self.mutating else "Validating") + "WebhookConfiguration"
        plural = kind.lower() + "s"
        return ResourceType(GROUP, "v1", kind, plural, kind.lower(), False)

    def default(self, obj: Obj) -> None:
        for hook in obj.get("webhooks") or []:
            if isinstance(hook, dict):
                default_webhook(hook, self.mutating)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        return webhook_causes(obj.get("webhooks"), self.mutating)

    def table(self) -> tuple[list[Obj], Row]:
        return cols.name_age_table(
            [("Webhooks", "integer", lambda o: len(o.get("webhooks") or []))]
        )


class ValidatingStrategy(_WebhookConfigurationStrategy):
    mutating = False


class MutatingStrategy(_WebhookConfigurationStrategy):
    mutating = True


VALIDATING = ValidatingStrategy()
MUTATING = MutatingStrategy()
