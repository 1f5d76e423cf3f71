"""RBAC evaluation: Roles, ClusterRoles and their bindings, as kube-apiserver evaluates them.

A request is allowed when any rule of any role bound to the user (by name), to one of its
groups, or (for ServiceAccounts, whose user name is ``system:serviceaccount:<ns>:<name>``) to
the account, matches it. ``system:masters`` is allowed everything without looking. Rules
understand ``*`` wildcards, ``resource/subresource`` and ``*/subresource``, ``resourceNames``
and non-resource URLs with a trailing ``*``. Aggregated ClusterRoles (``aggregationRule``)
take the rules of every ClusterRole their label selectors match.

Speed: bindings are indexed by subject and each role's rules compiled once; the index is
rebuilt when a watch on the four RBAC kinds reports a change (checked, without blocking, at the
next request). The per-user answer list is cached until then too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hyperpod.apiserver import selectors

RBAC = "rbac.authorization.k8s.io"
MASTERS = "system:masters"
KINDS = ("roles", "rolebindings", "clusterroles", "clusterrolebindings")


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra}
        return out


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do (kube's authorizer.Attributes)."""

    verb: str
    resource_request: bool = True
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def full_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass(frozen=True)
class Rule:
    verbs: frozenset[str]
    groups: frozenset[str]
    resources: frozenset[str]
    names: frozenset[str]
    urls: tuple[str, ...]

    @classmethod
    def parse(cls, raw: Any) -> Rule | None:
        if not isinstance(raw, dict):
            return None

        def strs(key: str) -> list[str]:
            v = raw.get(key)
            return [str(x) for x in v] if isinstance(v, list) else []

        return cls(
            frozenset(strs("verbs")),
            frozenset(strs("apiGroups")),
            frozenset(strs("resources")),
            frozenset(strs("resourceNames")),
            tuple(strs("nonResourceURLs")),
        )

    def to_wire(self) -> dict[str, Any]:
        if self.urls:
            return {"verbs": sorted(self.verbs), "nonResourceURLs": list(self.urls)}
        out: dict[str, Any] = {
            "verbs": sorted(self.verbs),
            "apiGroups": sorted(self.groups),
            "resources": sorted(self.resources),
        }
        if self.names:
            out["resourceNames"] = sorted(self.names)
        return out

    def allows(self, a: Attributes) -> bool:
        if "*" not in self.verbs and a.verb not in self.verbs:
            return False
        if not a.resource_request:
            for url in self.urls:
                if (
                    url == "*"
                    or url == a.path
                    or (url.endswith("*") and a.path.startswith(url[:-1]))
                ):
                    return True
            return False
        if "*" not in self.groups and a.group not in self.groups:
            return False
        if not self._resource_ok(a):
            return False
        return not self.names or a.name in self.names

    def _resource_ok(self, a: Attributes) -> bool:
        if "*" in self.resources or a.full_resource in self.resources:
            return True
        return bool(a.subresource) and f"*/{a.subresource}" in self.resources


def compile_rules(raw: Any) -> tuple[Rule, ...]:
    out = []
    for r in raw if isinstance(raw, list) else []:
        rule = Rule.parse(r)
        if rule is not None:
            out.append(rule)
    return tuple(out)


def _selector_matches(sel: Any, labels: dict[str, str]) -> bool:
    if not isinstance(sel, dict):
        return False
    parts = [f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()]
    for expr in sel.get("matchExpressions") or []:
        if not isinstance(expr, dict):
            return False
        key, op, vals = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(vals)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(vals)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            return False
    if not parts:
        return False  # an empty aggregation selector matches nothing useful here
    try:
        return selectors.parse_label_selector(",".join(parts)).matches(labels)
    except Exception:  # a selector we cannot parse matches nothing
        return False


def effective_rules(cluster_roles: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """Name -> rules of every ClusterRole, aggregation applied until nothing changes.

    An aggregated role takes the rules of every other ClusterRole whose labels match one of
    its ``aggregationRule.clusterRoleSelectors`` (so ``admin`` picks up ``edit``, which picks up
    ``view``). Roles without an aggregation rule keep their own rules.
    """
    roles = sorted(
        (r for r in cluster_roles if isinstance(r, dict)),
        key=lambda r: str((r.get("metadata") or {}).get("name", "")),
    )
    rules: dict[str, list[Any]] = {}
    sels: dict[str, list[Any]] = {}
    labels: dict[str, dict[str, str]] = {}
    for r in roles:
        md = r.get("metadata") or {}
        name = str(md.get("name", ""))
        labels[name] = md.get("labels") or {}
        agg = r.get("aggregationRule")
        chosen = agg.get("clusterRoleSelectors") if isinstance(agg, dict) else None
        if isinstance(chosen, list):
            sels[name] = chosen
            rules[name] = []
        else:
            own = r.get("rules")
            rules[name] = list(own) if isinstance(own, list) else []
    for _ in range(len(sels) + 1):
        changed = False
        for name, selectors_ in sels.items():
            merged: list[Any] = []
            for other, other_labels in labels.items():
                if other == name or not any(_selector_matches(s, other_labels) for s in selectors_):
                    continue
                for rule in rules[other]:
                    if rule not in merged:
                        merged.append(rule)
            if merged != rules[name]:
                rules[name] = merged
                changed = True
        if not changed:
            break
    return rules


@dataclass
class Grant:
    """One binding's effect for a subject: its rules, cluster-wide or in one namespace."""

    namespace: str | None  # None: everywhere (ClusterRoleBinding)
    rules: tuple[Rule, ...]
    source: str  # for "allowed by" reasons


@dataclass
class Policy:
    """The compiled RBAC state: subject key -> grants."""

    by_subject: dict[str, list[Grant]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        roles: Sequence[dict[str, Any]],
        role_bindings: Sequence[dict[str, Any]],
        cluster_roles: Sequence[dict[str, Any]],
        cluster_role_bindings: Sequence[dict[str, Any]],
    ) -> Policy:
        croles = {name: compile_rules(r) for name, r in effective_rules(cluster_roles).items()}
        nroles: dict[tuple[str, str], tuple[Rule, ...]] = {}
        for r in roles:
            md = r.get("metadata") or {}
            nroles[(md.get("namespace", ""), md.get("name", ""))] = compile_rules(r.get("rules"))
        policy = cls()
        for b in cluster_role_bindings:
            ref = b.get("roleRef") or {}
            if ref.get("kind") != "ClusterRole" or ref.get("name") not in croles:
                continue
            src = f'ClusterRoleBinding "{(b.get("metadata") or {}).get("name", "")}"'
            policy._add(b, None, croles[ref["name"]], src)
        for b in role_bindings:
            md = b.get("metadata") or {}
            ns = md.get("namespace", "")
            ref = b.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole":
                rules = croles.get(ref.get("name", ""))
            elif ref.get("kind") == "Role":
                rules = nroles.get((ns, ref.get("name", "")))
            else:
                rules = None
            if rules is None:
                continue
            policy._add(b, ns, rules, f'RoleBinding "{md.get("name", "")}/{ns}"')
        return policy

    def _add(
        self, binding: dict[str, Any], ns: str | None, rules: tuple[Rule, ...], src: str
    ) -> None:
        for s in binding.get("subjects") or []:
            if not isinstance(s, dict):
                continue
            key = subject_key(s, ns)
            if key is not None:
                self.by_subject.setdefault(key, []).append(Grant(ns, rules, src))

    def grants(self, user: UserInfo) -> list[Grant]:
        out = list(self.by_subject.get("u:" + user.name, ()))
        for g in user.groups:
            out.extend(self.by_subject.get("g:" + g, ()))
        return out


def subject_key(s: dict[str, Any], binding_ns: str | None) -> str | None:
    kind = s.get("kind")
    name = str(s.get("name", ""))
    if kind == "User":
        return "u:" + name
    if kind == "Group":
        return "g:" + name
    if kind == "ServiceAccount":
        ns = s.get("namespace") or binding_ns or ""
        return f"u:system:serviceaccount:{ns}:{name}"
    return None


def decide(grants: Iterable[Grant], a: Attributes) -> str | None:
    """The source of the first grant whose rules allow ``a``, or None (denied)."""
    for g in grants:
        if g.namespace is not None and (not a.resource_request or g.namespace != a.namespace):
            continue
        for rule in g.rules:
            if rule.allows(a):
                return g.source
    return None


def forbidden_message(user: UserInfo, a: Attributes) -> str:
    """The 403 message kube-apiserver writes for a denied request."""
    who = f'User "{user.name}"'
    if not a.resource_request:
        return f'forbidden: {who} cannot {a.verb} path "{a.path}"'
    res = a.full_resource
    qualified = f"{a.resource}.{a.group}" if a.group else a.resource
    head = f'{qualified} "{a.name}" is forbidden' if a.name else f"{qualified} is forbidden"
    scope = f' in the namespace "{a.namespace}"' if a.namespace else " at the cluster scope"
    return f'{head}: {who} cannot {a.verb} resource "{res}" in API group "{a.group}"{scope}'
