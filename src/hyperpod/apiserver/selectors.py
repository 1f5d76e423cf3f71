"""Label and field selectors: parsing, canonical strings, matching, and selectable fields.

Label selectors accept the string syntax of ``labelSelector=`` (``a=b``, ``a==b``, ``a!=b``,
``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``, ``a>3``, ``a<3``; comma-separated) and the
``{matchLabels, matchExpressions}`` form of API objects. Field selectors accept ``f=v``, ``f==v``
and ``f!=v`` joined by commas (``\\,``, ``\\=`` and ``\\\\`` escape those characters in values).

Semantics follow Kubernetes: ``!=``/``notin`` match objects without the label; a ``None``
``LabelSelector`` dict matches nothing while ``{}`` matches everything; a field that an object
does not have reads as the empty string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from hyperpod.apiserver import kinds
from hyperpod.apiserver.errors import BadRequest
from hyperpod.apiserver.names import is_qualified_name, is_valid_label_value


class Operator(StrEnum):
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


@dataclass(frozen=True, order=True)
class Requirement:
    """One clause of a label selector: ``key op values``."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.matcher(labels)

    @cached_property
    def matcher(self) -> Callable[[Mapping[str, str]], bool]:
        """A compiled predicate (selectors run on every object of a list or watch)."""
        key, op, values = self.key, self.operator, self.values
        if op in (Operator.EQUALS, Operator.DOUBLE_EQUALS) and len(values) == 1:
            want = values[0]
            return lambda labels: labels.get(key) == want
        if op in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN):
            allowed = frozenset(values)
            return lambda labels: labels.get(key) in allowed
        if op in (Operator.NOT_EQUALS, Operator.NOT_IN):
            banned = frozenset(values)
            return lambda labels: labels.get(key) not in banned
        if op is Operator.EXISTS:
            return lambda labels: key in labels
        if op is Operator.DOES_NOT_EXIST:
            return lambda labels: key not in labels
        return self._compare

    def _compare(self, labels: Mapping[str, str]) -> bool:
        if self.key not in labels:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.operator is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        if op in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {op.value} ({','.join(self.values)})"
        if op is Operator.GREATER_THAN:
            return f"{self.key}>{self.values[0]}"
        if op is Operator.LESS_THAN:
            return f"{self.key}<{self.values[0]}"
        if op is Operator.NOT_EQUALS:
            return f"{self.key}!={self.values[0]}"
        return f"{self.key}={self.values[0]}"


def _requirement(key: str, op: Operator, values: Iterable[str]) -> Requirement:
    """A validated requirement; raises ``ValueError`` naming the key or value."""
    vals = tuple(values)
    key_errs = is_qualified_name(key)
    if key_errs:
        raise ValueError(f'key: Invalid value: "{key}": {"; ".join(key_errs)}')
    if op in (Operator.IN, Operator.NOT_IN) and not vals:
        raise ValueError(
            "values: Required value: for 'in', 'notin' operators, values set can't be empty"
        )
    if op in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS) and len(vals) != 1:
        raise ValueError(
            "values: Invalid value: exact-match compatibility requires one single value"
        )
    if op in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and vals:
        raise ValueError(
            "values: Forbidden: values set must be empty for exists and does not exist"
        )
    if op in (Operator.GREATER_THAN, Operator.LESS_THAN):
        if len(vals) != 1:
            raise ValueError(
                "values: Required value: for 'Gt', 'Lt' operators, exactly one value is required"
            )
        if not re.fullmatch(r"[+-]?[0-9]+", vals[0]):
            raise ValueError(
                f"values[0]: Invalid value: \"{vals[0]}\": for 'Gt', 'Lt' operators, the value must be an integer"
            )
    for i, v in enumerate(vals):
        if op in (Operator.GREATER_THAN, Operator.LESS_THAN):
            break
        errs = is_valid_label_value(v)
        if errs:
            raise ValueError(f'values[{i}][{key}]: Invalid value: "{v}": {"; ".join(errs)}')
    if op is Operator.DOUBLE_EQUALS:
        op = Operator.EQUALS
    if op in (Operator.IN, Operator.NOT_IN):
        vals = tuple(sorted(set(vals)))
    return Requirement(key, op, vals)


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements; no requirements matches everything."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = field(default=False)

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls(())

    @classmethod
    def match_nothing(cls) -> LabelSelector:
        return cls((), nothing=True)

    @property
    def empty(self) -> bool:
        """True when the selector places no constraint (it matches every object)."""
        return not self.requirements and not self.nothing

    @cached_property
    def _checks(self) -> tuple[Callable[[Mapping[str, str]], bool], ...]:
        return tuple(r.matcher for r in self.requirements)

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        have = labels or {}
        # A plain loop: faster than all() over a generator on this per-object path.
        for check in self._checks:  # noqa: SIM110
            if not check(have):
                return False
        return True

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _make_selector(reqs: Iterable[Requirement]) -> LabelSelector:
    return LabelSelector(
        tuple(sorted(set(reqs), key=lambda r: (r.key, r.operator.value, r.values)))
    )


# --- label selector string parsing ------------------------------------------------------------

_TOKEN = re.compile(r"\s*(==|!=|=|!|\(|\)|,|>|<|[^\s=!(),<>]+)")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            break
        out.append(m.group(1))
        pos = m.end()
        if text[pos:].strip() == "":
            break
    return out


class _LabelParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def fail(self, msg: str) -> BadRequest:
        return BadRequest(f"unable to parse requirement: {msg}")

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str | None:
        tok = self.peek()
        self.i += 1
        return tok

    @staticmethod
    def is_ident(tok: str | None) -> bool:
        return tok is not None and tok not in {"==", "!=", "=", "!", "(", ")", ",", ">", "<"}

    def parse(self) -> LabelSelector:
        reqs: list[Requirement] = []
        if not self.toks:
            return LabelSelector.everything()
        while True:
            reqs.append(self.requirement())
            tok = self.take()
            if tok is None:
                break
            if tok != ",":
                raise self.fail(f"found '{tok}', expected: ',' or 'end of string'")
            if self.peek() is None:
                raise self.fail("found 'end of string', expected: identifier")
        return _make_selector(reqs)

    def requirement(self) -> Requirement:
        tok = self.take()
        negate = False
        if tok == "!":
            negate = True
            tok = self.take()
        if not self.is_ident(tok):
            found = "end of string" if tok is None else tok
            expected = "identifier after '!'" if negate else "!, identifier, or 'end of string'"
            raise self.fail(f"found '{found}', expected: {expected}")
        key = str(tok)
        if negate:
            if self.peek() not in (None, ","):
                raise self.fail(f"found '{self.peek()}', expected: ',' or 'end of string'")
            return self.build(key, Operator.DOES_NOT_EXIST, ())
        nxt = self.peek()
        if nxt in (None, ","):
            return self.build(key, Operator.EXISTS, ())
        op_tok = self.take()
        ops = {
            "=": Operator.EQUALS,
            "==": Operator.DOUBLE_EQUALS,
            "!=": Operator.NOT_EQUALS,
            "in": Operator.IN,
            "notin": Operator.NOT_IN,
            ">": Operator.GREATER_THAN,
            "<": Operator.LESS_THAN,
        }
        if op_tok not in ops:
            raise self.fail(f"found '{op_tok}', expected: in, notin, =, ==, !=, gt, lt")
        op = ops[str(op_tok)]
        if op in (Operator.IN, Operator.NOT_IN):
            return self.build(key, op, self.value_set())
        value_tok = self.peek()
        if value_tok in (None, ","):
            return self.build(key, op, ("",))
        if not self.is_ident(value_tok):
            raise self.fail(f"found '{value_tok}', expected: identifier")
        self.take()
        return self.build(key, op, (str(value_tok),))

    def value_set(self) -> list[str]:
        tok = self.take()
        if tok != "(":
            raise self.fail(f"found '{tok or 'end of string'}', expected: '('")
        values: list[str] = []
        expect_value = True
        while True:
            tok = self.take()
            if tok is None:
                raise self.fail("found 'end of string', expected: ')'")
            if tok == ")":
                if expect_value and values:
                    values.append("")
                break
            if tok == ",":
                if expect_value:
                    values.append("")
                expect_value = True
                continue
            if not self.is_ident(tok) or not expect_value:
                raise self.fail(f"found '{tok}', expected: ',', ')' or identifier")
            values.append(tok)
            expect_value = False
        return values

    def build(self, key: str, op: Operator, values: Iterable[str]) -> Requirement:
        try:
            return _requirement(key, op, values)
        except ValueError as exc:
            raise self.fail(str(exc)) from exc


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the ``labelSelector`` query syntax; raises ``BadRequest`` on bad input."""
    if text is None:
        return LabelSelector.everything()
    return _LabelParser(text).parse()


def label_selector_from_dict(sel: Mapping[str, Any] | None) -> LabelSelector:
    """The selector of a ``metav1.LabelSelector`` (``matchLabels`` + ``matchExpressions``).

    ``None`` selects nothing and ``{}`` selects everything, as in Kubernetes. Raises
    ``ValueError`` whose text names the offending field (``matchExpressions[0].operator: ...``).
    """
    if sel is None:
        return LabelSelector.match_nothing()
    if not isinstance(sel, Mapping):
        raise ValueError(
            "selector: Invalid value: must be an object with matchLabels and/or matchExpressions"
        )
    reqs: list[Requirement] = []
    match_labels = sel.get("matchLabels")
    match_labels = {} if match_labels is None else match_labels
    if not isinstance(match_labels, Mapping):
        raise ValueError("matchLabels: Invalid value: must be a map of strings")
    for key, value in match_labels.items():
        if not isinstance(value, str):
            raise ValueError(f"matchLabels[{key}]: Invalid value: must be a string")
        try:
            reqs.append(_requirement(str(key), Operator.EQUALS, (value,)))
        except ValueError as exc:
            raise ValueError(f"matchLabels: {exc}") from exc
    exprs = sel.get("matchExpressions")
    exprs = [] if exprs is None else exprs
    if not isinstance(exprs, list):
        raise ValueError("matchExpressions: Invalid value: must be a list")
    ops = {
        "In": Operator.IN,
        "NotIn": Operator.NOT_IN,
        "Exists": Operator.EXISTS,
        "DoesNotExist": Operator.DOES_NOT_EXIST,
    }
    for i, expr in enumerate(exprs):
        where = f"matchExpressions[{i}]"
        if not isinstance(expr, Mapping):
            raise ValueError(f"{where}: Invalid value: must be an object")
        op_name = expr.get("operator")
        if op_name not in ops:
            raise ValueError(
                f'{where}.operator: Unsupported value: "{op_name}": supported values: '
                '"In", "NotIn", "Exists", "DoesNotExist"'
            )
        values = expr.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"{where}.values: Invalid value: must be a list of strings")
        try:
            reqs.append(_requirement(str(expr.get("key", "")), ops[op_name], values))
        except ValueError as exc:
            raise ValueError(f"{where}.{exc}") from exc
    return _make_selector(reqs)


def selector_from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """Equality selector from a plain map (a Service's ``spec.selector``); ``{}``/None: everything."""
    return _make_selector(_requirement(k, Operator.EQUALS, (v,)) for k, v in (labels or {}).items())


# --- field selectors ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    negate: bool = False

    def matches(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.field, "") == self.value
        return not equal if self.negate else equal

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{'!=' if self.negate else '='}{escaped}"


@dataclass(frozen=True)
class FieldSelector:
    """A conjunction of field equalities/inequalities; no requirements matches everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        for r in self.requirements:  # noqa: SIM110 (hot path; see LabelSelector.matches)
            if (fields.get(r.field, "") == r.value) == r.negate:
                return False
        return True

    def fields(self) -> set[str]:
        """The field names the selector uses (to reject unsupported ones)."""
        return {r.field for r in self.requirements}

    def exact(self, name: str) -> str | None:
        """The value required by a ``name=value`` clause, if any (handy for index lookups)."""
        for r in self.requirements:
            if r.field == name and not r.negate:
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(value: str, whole: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=":
                raise BadRequest(
                    f"invalid field selector: '{whole}': invalid escape sequence in '{value}'"
                )
            out.append(value[i + 1])
            i += 2
            continue
        if ch in ",=":
            raise BadRequest(f"invalid field selector: '{whole}': unescaped '{ch}' in '{value}'")
        out.append(ch)
        i += 1
    return "".join(out)


def _find_operator(part: str) -> tuple[int, str] | None:
    i = 0
    while i < len(part):
        ch = part[i]
        if ch == "\\":
            i += 2
            continue
        for op in ("!=", "==", "="):
            if part.startswith(op, i):
                return i, op
        i += 1
    return None


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse the ``fieldSelector`` query syntax; raises ``BadRequest`` on bad input."""
    if text is None or text.strip() == "":
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    for part in _split_unescaped(text, ","):
        if part == "":
            continue
        found = _find_operator(part)
        if found is None:
            raise BadRequest(f"invalid selector: '{text}'; can't understand '{part}'")
        at, op = found
        name = part[:at].strip()
        if not name:
            raise BadRequest(f"invalid selector: '{text}'; can't understand '{part}'")
        value = _unescape(part[at + len(op) :], text)
        reqs.append(FieldRequirement(name, value, negate=op == "!="))
    return FieldSelector(tuple(reqs))


# --- selectable fields --------------------------------------------------------------------------


def _get(obj: Mapping[str, Any], *path: str) -> Any:
    cur: Any = obj
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


SELECTABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "Pod": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "Event": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "Node": ("spec.unschedulable",),
    "Secret": ("type",),
    "Namespace": ("status.phase",),
    "ReplicaSet": ("status.replicas",),
    "Job": ("status.successful",),
}


def object_fields(kind: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """The selectable fields of ``obj`` as strings (absent values read as ``""``)."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    fields = {
        "metadata.name": _text(meta.get("name")),
        "metadata.namespace": _text(meta.get("namespace")),
    }
    for name in SELECTABLE_FIELDS.get(kind, ()):
        if kind == "Event" and name == "source":
            fields[name] = _text(_get(obj, "source", "component"))
        elif kind == "Pod" and name == "spec.hostNetwork":
            fields[name] = _text(bool(_get(obj, "spec", "hostNetwork")))
        elif kind == "Node" and name == "spec.unschedulable":
            fields[name] = _text(bool(_get(obj, "spec", "unschedulable")))
        else:
            fields[name] = _text(_get(obj, *name.split(".")))
    if (strategy := kinds.strategy_for(kind)) is not None:
        for name, read in strategy.selectable_fields().items():
            fields[name] = read(dict(obj))
    return fields
