"""Structural schemas of custom resources: checking them, defaulting, pruning and validating.

This is the OpenAPI v3 subset Kubernetes calls a structural schema. ``apply_schema`` works in
the apiserver's order: ``null`` values of non-nullable fields are dropped, unknown fields are
pruned (recorded so the caller can honour ``fieldValidation``), ``default`` values fill absent
fields (recursively, in array items and ``additionalProperties`` too), then the object is
validated. Messages follow kube-apiserver's wording.

Intentionally simplified: ``allOf``/``anyOf``/``oneOf``/``not`` and CEL rules
(``x-kubernetes-validations``) are not evaluated; ``x-kubernetes-list-type`` is only used for
uniqueness (``set`` items, ``map`` keys); formats other than int32, int64, date-time, date and
byte are accepted as plain strings.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from hyperpod.apiserver import errors

Cause = dict[str, str]
Seg = str | int

TYPES = {"object", "array", "string", "integer", "number", "boolean"}
OBJECT_META_FIELDS = {
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
}
_ROOT_KEEP = {"apiVersion", "kind", "metadata"}
_ABSENT: Any = object()


def same_json(value: Any, prior: Any) -> bool:
    """Whether an object or list is the same JSON as ``prior``; False for scalars."""
    return _unchanged(value, prior)


def _unchanged(value: Any, prior: Any) -> bool:
    """Whether an object or list is the same JSON as the stored one (exact types: ``True`` is
    not ``1``; a different key order counts as changed, which only costs a walk)."""
    if prior is _ABSENT or type(value) is not type(prior) or not isinstance(value, dict | list):
        return False
    try:
        return orjson.dumps(value) == orjson.dumps(prior)
    except (orjson.JSONEncodeError, TypeError):
        return False


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return f'"{json_type(value)}"'
    return json.dumps(value)


def field_path(segs: list[Seg] | tuple[Seg, ...]) -> str:
    """``spec.items[0].name`` from path segments."""
    out = ""
    for s in segs:
        if isinstance(s, int):
            out += f"[{s}]"
        else:
            out += ("." if out else "") + s
    return out


def _type_ok(value: Any, want: str) -> bool:
    if want == "object":
        return isinstance(value, dict)
    if want == "array":
        return isinstance(value, list)
    if want == "string":
        return isinstance(value, str)
    if want == "boolean":
        return isinstance(value, bool)
    if want == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if want == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _date_time_ok(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in value or "t" in value or " " in value


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class _Walker:
    def __init__(self, prune: bool) -> None:
        self.prune = prune
        self.causes: list[Cause] = []
        self.unknown: list[str] = []

    def cause(self, segs: list[Seg], message: str, reason: str = "FieldValueInvalid") -> None:
        self.causes.append(errors.cause(field_path(segs), message, reason))

    def invalid(self, segs: list[Seg], value: Any, text: str) -> None:
        path = field_path(segs)
        self.cause(segs, f"Invalid value: {_show(value)}: {path} in body {text}")

    # -- structural passes --------------------------------------------------------------

    def visit(
        self,
        value: Any,
        schema: dict[str, Any],
        segs: list[Seg],
        root: bool = False,
        old: Any = _ABSENT,
    ) -> None:
        if not isinstance(schema, dict):
            return
        if isinstance(value, dict):
            self.visit_object(value, schema, segs, root, old if isinstance(old, dict) else None)
        elif isinstance(value, list):
            items = schema.get("items")
            if isinstance(items, dict):
                olds = old if isinstance(old, list) else []
                for i, item in enumerate(value):
                    prior = olds[i] if i < len(olds) else _ABSENT
                    if _unchanged(item, prior):
                        continue
                    self.visit(item, items, [*segs, i], old=prior)
        self.validate(value, schema, segs)

    def visit_object(
        self,
        obj: dict[str, Any],
        schema: dict[str, Any],
        segs: list[Seg],
        root: bool,
        old: dict[str, Any] | None = None,
    ) -> None:
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        additional = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields")) or additional is True
        embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        keep_meta = root or embedded
        # Nulls of non-nullable fields are dropped before defaulting.
        for key in list(obj):
            if obj[key] is not None:
                continue
            sub = props.get(key) if key in props else additional
            if isinstance(sub, dict) and not sub.get("nullable"):
                del obj[key]
        # Pruning.
        for key in list(obj):
            if key in props:
                continue
            if isinstance(additional, dict):
                continue
            if keep_meta and key in _ROOT_KEEP:
                continue
            if preserve:
                continue
            self.unknown.append("." + field_path([*segs, key]))
            if self.prune:
                del obj[key]
        if keep_meta and isinstance(obj.get("metadata"), dict):
            meta = obj["metadata"]
            for key in list(meta):
                if key not in OBJECT_META_FIELDS:
                    self.unknown.append("." + field_path([*segs, "metadata", key]))
                    if self.prune:
                        del meta[key]
        # Defaulting.
        for key, sub in props.items():
            if key not in obj and isinstance(sub, dict) and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
        # Recurse.
        for key, value in list(obj.items()):
            if key in props:
                sub = props[key]
            elif isinstance(additional, dict):
                sub = additional
            else:
                continue
            if value is None:
                continue
            if keep_meta and key == "metadata":
                continue
            # Ratcheting, as Kubernetes does for custom resources: an object or list that is
            # the same as in the stored object was checked when it was written.
            prior = old.get(key, _ABSENT) if old is not None else _ABSENT
            if _unchanged(value, prior):
                continue
            self.visit(value, sub, [*segs, key], old=prior)
        if embedded:
            for key in ("apiVersion", "kind"):
                if not obj.get(key):
                    self.cause([*segs, key], "Required value", "FieldValueRequired")

    # -- validation ----------------------------------------------------------------------

    def validate(self, value: Any, schema: dict[str, Any], segs: list[Seg]) -> None:
        if value is None:
            if schema.get("nullable"):
                return
            want = (
                "integer or string"
                if schema.get("x-kubernetes-int-or-string")
                else schema.get("type")
            )
            if want:
                self.invalid(segs, value, f'must be of type {want}: "null"')
            return
        if schema.get("x-kubernetes-int-or-string"):
            if not (_type_ok(value, "integer") or isinstance(value, str)):
                self.invalid(
                    segs,
                    json_type(value),
                    f'must be of type integer or string: "{json_type(value)}"',
                )
                return
        else:
            want = schema.get("type")
            if isinstance(want, str) and want and not _type_ok(value, want):
                got = json_type(value)
                self.cause(
                    segs,
                    f'Invalid value: "{got}": {field_path(segs)} in body must be of type {want}: "{got}"',
                )
                return
        enum = schema.get("enum")
        if isinstance(enum, list) and value not in enum:
            supported = ", ".join(_show(e) for e in enum)
            self.cause(
                segs,
                f"Unsupported value: {_show(value)}: supported values: {supported}",
                "FieldValueNotSupported",
            )
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.validate_number(value, schema, segs)
        elif isinstance(value, str):
            self.validate_string(value, schema, segs)
        elif isinstance(value, list):
            self.validate_array(value, schema, segs)
        elif isinstance(value, dict):
            self.validate_map(value, schema, segs)

    def validate_number(self, value: float, schema: dict[str, Any], segs: list[Seg]) -> None:
        minimum, maximum = schema.get("minimum"), schema.get("maximum")
        if isinstance(minimum, int | float):
            if schema.get("exclusiveMinimum") is True and value <= minimum:
                self.invalid(segs, value, f"should be greater than {minimum}")
            elif value < minimum:
                self.invalid(segs, value, f"should be greater than or equal to {minimum}")
        if isinstance(maximum, int | float):
            if schema.get("exclusiveMaximum") is True and value >= maximum:
                self.invalid(segs, value, f"should be less than {maximum}")
            elif value > maximum:
                self.invalid(segs, value, f"should be less than or equal to {maximum}")
        multiple = schema.get("multipleOf")
        if isinstance(multiple, int | float) and multiple > 0 and value % multiple != 0:
            self.invalid(segs, value, f"should be a multiple of {multiple}")
        fmt = schema.get("format")
        if fmt in ("int32", "int64") and _type_ok(value, "integer"):
            bits = 31 if fmt == "int32" else 63
            if not -(2**bits) <= int(value) < 2**bits:
                self.invalid(segs, value, f'must be of type {fmt}: "{int(value)}"')

    def validate_string(self, value: str, schema: dict[str, Any], segs: list[Seg]) -> None:
        min_len, max_len = schema.get("minLength"), schema.get("maxLength")
        if isinstance(min_len, int) and len(value) < min_len:
            self.invalid(segs, value, f"should be at least {min_len} chars long")
        if isinstance(max_len, int) and len(value) > max_len:
            self.cause(segs, f"Too long: may not be more than {max_len} bytes", "FieldValueTooLong")
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            rx = _regex(pattern)
            if rx is not None and rx.search(value) is None:
                self.invalid(segs, value, f"should match '{pattern}'")
        fmt = schema.get("format")
        bad = False
        if fmt == "date-time":
            bad = not _date_time_ok(value)
        elif fmt == "date":
            bad = re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is None
        elif fmt == "byte":
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                bad = True
        elif fmt in ("int32", "int64") and schema.get("x-kubernetes-int-or-string"):
            bad = False
        if bad:
            self.invalid(segs, value, f'must be of type {fmt}: "{value}"')

    def validate_array(self, value: list[Any], schema: dict[str, Any], segs: list[Seg]) -> None:
        min_items, max_items = schema.get("minItems"), schema.get("maxItems")
        if isinstance(min_items, int) and len(value) < min_items:
            self.invalid(segs, len(value), f"should have at least {min_items} items")
        if isinstance(max_items, int) and len(value) > max_items:
            self.cause(
                segs,
                f"Too many: {len(value)}: must have at most {max_items} items",
                "FieldValueTooMany",
            )
        map_keys = schema.get("x-kubernetes-list-map-keys")
        if schema.get("x-kubernetes-list-type") == "map" and isinstance(map_keys, list):
            seen_keys: set[str] = set()
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    continue
                ident = {k: item.get(k) for k in map_keys}
                key = _canonical(ident)
                if key in seen_keys:
                    self.cause(
                        [*segs, i],
                        f"Duplicate value: {json.dumps(ident, separators=(',', ':'))}",
                        "FieldValueDuplicate",
                    )
                seen_keys.add(key)
        if schema.get("uniqueItems") or schema.get("x-kubernetes-list-type") == "set":
            seen: set[str] = set()
            for i, item in enumerate(value):
                key = _canonical(item)
                if key in seen:
                    self.cause([*segs, i], f"Duplicate value: {_show(item)}", "FieldValueDuplicate")
                seen.add(key)

    def validate_map(self, value: dict[str, Any], schema: dict[str, Any], segs: list[Seg]) -> None:
        required = schema.get("required")
        if isinstance(required, list):
            for name in required:
                if isinstance(name, str) and name not in value:
                    self.cause([*segs, name], "Required value", "FieldValueRequired")
        min_props, max_props = schema.get("minProperties"), schema.get("maxProperties")
        if isinstance(min_props, int) and len(value) < min_props:
            self.invalid(segs, len(value), f"should have at least {min_props} properties")
        if isinstance(max_props, int) and len(value) > max_props:
            self.cause(
                segs,
                f"Too many: {len(value)}: must have at most {max_props} items",
                "FieldValueTooMany",
            )


def apply_schema(
    obj: dict[str, Any],
    schema: dict[str, Any],
    *,
    prune: bool = True,
    old: dict[str, Any] | None = None,
) -> tuple[list[Cause], list[str]]:
    """Default, prune and validate ``obj`` in place against a structural schema.

    Returns ``(causes, unknown_field_paths)``: causes name fields like ``spec.replicas``;
    unknown paths look like ``.spec.foo`` (pruned only when ``prune``). With ``old`` (the
    stored object of an update), objects and lists below the root that are unchanged from it
    are not walked again.
    """
    walker = _Walker(prune)
    walker.visit(obj, schema, [], root=True, old=_ABSENT if old is None else old)
    return walker.causes, walker.unknown


# --- structural-schema checks --------------------------------------------------------------


def check_structural(schema: Any, path: str) -> list[Cause]:
    """Causes that make ``schema`` (a CRD version's openAPIV3Schema) unusable; [] when fine."""
    causes: list[Cause] = []
    if not isinstance(schema, dict):
        return [
            errors.cause(path, "Required value: an OpenAPI v3 schema object", "FieldValueRequired")
        ]
    if schema.get("type") != "object":
        causes.append(
            errors.cause(
                f"{path}.type",
                f'Unsupported value: {json.dumps(schema.get("type", ""))}: supported values: "object"'
                if schema.get("type")
                else "Required value: must be object at the root",
                "FieldValueNotSupported" if schema.get("type") else "FieldValueRequired",
            )
        )
    meta = (
        (schema.get("properties") or {}).get("metadata")
        if isinstance(schema.get("properties"), dict)
        else None
    )
    if isinstance(meta, dict) and (
        set(meta) - {"type", "properties", "description"}
        or set(meta.get("properties") or {}) - {"name", "generateName"}
    ):
        causes.append(
            errors.cause(
                f"{path}.properties[metadata]",
                "Forbidden: must not specify anything other than name and generateName, but "
                "metadata is implicitly specified",
                "FieldValueForbidden",
            )
        )
    _check_node(schema, path, causes, root=True)
    return causes


def _check_node(node: Any, path: str, causes: list[Cause], root: bool = False) -> None:
    if not isinstance(node, dict):
        causes.append(errors.cause(path, "Invalid value: must be a schema object"))
        return
    typ = _check_type(node, path, causes, root)
    _check_children(node, typ, path, causes)
    _check_constraints(node, typ, path, causes)


def _check_type(node: dict[str, Any], path: str, causes: list[Cause], root: bool) -> Any:
    """``type`` (with x-kubernetes-int-or-string and preserve-unknown-fields); returns it."""
    typ = node.get("type")
    int_or_string = bool(node.get("x-kubernetes-int-or-string"))
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    if typ is not None and (not isinstance(typ, str) or typ not in TYPES):
        causes.append(
            errors.cause(
                f"{path}.type",
                f"Unsupported value: {json.dumps(typ)}: supported values: "
                + ", ".join(f'"{t}"' for t in sorted(TYPES)),
                "FieldValueNotSupported",
            )
        )
    if int_or_string and typ is not None:
        causes.append(
            errors.cause(
                f"{path}.type",
                "Invalid value: must be empty if x-kubernetes-int-or-string is true",
            )
        )
    if not typ and not int_or_string and not preserve and not root:
        causes.append(
            errors.cause(
                f"{path}.type",
                "Required value: must not be empty for specified object fields",
                "FieldValueRequired",
            )
        )
    return typ


def _check_children(node: dict[str, Any], typ: Any, path: str, causes: list[Cause]) -> None:
    """properties, additionalProperties and items, each checked as a schema in turn."""
    props = node.get("properties")
    additional = node.get("additionalProperties")
    if props is not None:
        if not isinstance(props, dict):
            causes.append(errors.cause(f"{path}.properties", "Invalid value: must be a map"))
        else:
            if typ not in (None, "object"):
                causes.append(
                    errors.cause(
                        f"{path}.type",
                        f'Invalid value: "{typ}": must be object when properties are set',
                    )
                )
            for name, sub in props.items():
                _check_node(sub, f"{path}.properties[{name}]", causes)
    if isinstance(additional, dict):
        if isinstance(props, dict) and props:
            causes.append(
                errors.cause(
                    f"{path}.additionalProperties",
                    "Forbidden: additionalProperties and properties are mutual exclusive",
                    "FieldValueForbidden",
                )
            )
        _check_node(additional, f"{path}.additionalProperties", causes)
    items = node.get("items")
    if items is not None:
        if not isinstance(items, dict):
            causes.append(
                errors.cause(
                    f"{path}.items", "Forbidden: items must be a schema object and not an array"
                )
            )
        else:
            _check_node(items, f"{path}.items", causes)
    elif typ == "array":
        causes.append(
            errors.cause(f"{path}.items", "Required value: must be specified", "FieldValueRequired")
        )


def _check_constraints(node: dict[str, Any], typ: Any, path: str, causes: list[Cause]) -> None:
    """Numeric bounds, ``pattern`` and ``default``."""
    for key in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
        if key in node and not _type_ok(node[key], "number"):
            causes.append(errors.cause(f"{path}.{key}", "Invalid value: must be a number"))
    pattern = node.get("pattern")
    if pattern is not None and (not isinstance(pattern, str) or _regex(pattern) is None):
        causes.append(
            errors.cause(
                f"{path}.pattern",
                f"Invalid value: {json.dumps(pattern)}: must be a valid regular expression",
            )
        )
    if (
        "default" in node
        and node["default"] is not None
        and typ
        and not _type_ok(node["default"], typ)
    ):
        causes.append(
            errors.cause(
                f"{path}.default",
                f"Invalid value: {_show(node['default'])}: must be of type {typ}",
            )
        )
