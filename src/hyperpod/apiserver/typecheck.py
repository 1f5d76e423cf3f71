"""Type checks every object passes before it is stored, so nothing stored is unreadable.

``metadata_causes`` checks the type of every ObjectMeta field the server and controllers read
(``ownerReferences`` entries with string ``apiVersion``/``kind``/``name``/``uid``, string-list
``finalizers``, string maps for labels and annotations, ...). ``builtin_type_causes`` checks a
built-in kind against its OpenAPI types, reporting the mismatches that break readers (an object
or list where the schema wants something else, or the other way round; a number or boolean
of the wrong kind). A number where a string is wanted is let through: quantities and
int-or-string fields are written as numbers by YAML users and Kubernetes accepts them.
``bounds_causes`` refuses integers outside int64 and keys that are not strings, which no
stored object may hold.
"""

from __future__ import annotations

from typing import Any

import orjson

from hyperpod.apiserver import errors, openapi, schema

Cause = dict[str, str]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
MAX_OWNER_REFERENCES = 256
MAX_FINALIZERS = 256

_STRING_FIELDS = (
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "selfLink",
    "creationTimestamp",
    "deletionTimestamp",
)
_INT_FIELDS = ("generation", "deletionGracePeriodSeconds")
_REF_STRINGS = ("apiVersion", "kind", "name", "uid")
_REF_BOOLS = ("controller", "blockOwnerDeletion")
# Scalars let through where the schema wants a string (quantities, int-or-string).
_LENIENT = ("integer", "number", "boolean")


def _bad(field: str, value: Any, want: str) -> Cause:
    got = schema.json_type(value)
    return errors.cause(field, f'Invalid value: "{got}": must be {want}')


def _string_map(field: str, value: Any) -> list[Cause]:
    if not isinstance(value, dict):
        return [_bad(field, value, "a map of string to string")]
    return [
        _bad(f"{field}[{k}]", v, "a string")
        for k, v in value.items()
        if not isinstance(k, str) or not isinstance(v, str)
    ]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def metadata_causes(obj: Any) -> list[Cause]:
    """Causes for every ObjectMeta field of the wrong type; [] when the metadata is sound."""
    if not isinstance(obj, dict):
        return [_bad("", obj, "an object")]
    md = obj.get("metadata")
    if md is None:
        return []
    if not isinstance(md, dict):
        return [_bad("metadata", md, "an object")]
    causes: list[Cause] = []
    for key in _STRING_FIELDS:
        if md.get(key) is not None and not isinstance(md[key], str):
            causes.append(_bad(f"metadata.{key}", md[key], "a string"))
    for key in _INT_FIELDS:
        if md.get(key) is not None and not _is_int(md[key]):
            causes.append(_bad(f"metadata.{key}", md[key], "an integer"))
    for key in ("labels", "annotations"):
        if md.get(key) is not None:
            causes.extend(_string_map(f"metadata.{key}", md[key]))
    fins = md.get("finalizers")
    if fins is not None:
        if not isinstance(fins, list):
            causes.append(_bad("metadata.finalizers", fins, "a list of strings"))
        else:
            if len(fins) > MAX_FINALIZERS:
                causes.append(
                    errors.cause(
                        "metadata.finalizers",
                        f"Too many: {len(fins)}: must have at most {MAX_FINALIZERS} items",
                        "FieldValueTooMany",
                    )
                )
            causes.extend(
                _bad(f"metadata.finalizers[{i}]", f, "a string")
                for i, f in enumerate(fins)
                if not isinstance(f, str)
            )
    refs = md.get("ownerReferences")
    if refs is not None:
        causes.extend(_owner_references(refs))
    managed = md.get("managedFields")
    if managed is not None:
        if not isinstance(managed, list):
            causes.append(_bad("metadata.managedFields", managed, "a list of objects"))
        else:
            causes.extend(
                _bad(f"metadata.managedFields[{i}]", m, "an object")
                for i, m in enumerate(managed)
                if not isinstance(m, dict)
            )
    return causes


def _owner_references(refs: Any) -> list[Cause]:
    if not isinstance(refs, list):
        return [_bad("metadata.ownerReferences", refs, "a list of objects")]
    if len(refs) > MAX_OWNER_REFERENCES:
        return [
            errors.cause(
                "metadata.ownerReferences",
                f"Too many: {len(refs)}: must have at most {MAX_OWNER_REFERENCES} items",
                "FieldValueTooMany",
            )
        ]
    causes: list[Cause] = []
    for i, ref in enumerate(refs):
        field = f"metadata.ownerReferences[{i}]"
        if not isinstance(ref, dict):
            causes.append(_bad(field, ref, "an object"))
            continue
        for key in _REF_STRINGS:
            value = ref.get(key)
            if value is None or value == "":
                causes.append(
                    errors.cause(f"{field}.{key}", "Required value", "FieldValueRequired")
                )
            elif not isinstance(value, str):
                causes.append(_bad(f"{field}.{key}", value, "a string"))
        for key in _REF_BOOLS:
            if ref.get(key) is not None and not isinstance(ref[key], bool):
                causes.append(_bad(f"{field}.{key}", ref[key], "a boolean"))
    return causes


def bounds_causes(obj: Any, path: str = "", limit: int = 64) -> list[Cause]:
    """Integers outside int64 anywhere in ``obj`` (at most ``limit`` causes)."""
    causes: list[Cause] = []
    stack: list[tuple[Any, str]] = [(obj, path)]
    while stack and len(causes) < limit:
        value, where = stack.pop()
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):  # YAML allows any key; JSON objects do not
                    causes.append(
                        errors.cause(where, f"Invalid value: {k!r}: keys must be strings")
                    )
                stack.append((v, f"{where}.{k}" if where else str(k)))
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(value))
        elif _is_int(value) and not INT64_MIN <= value <= INT64_MAX:
            causes.append(
                errors.cause(where, f"Invalid value: {value}: must fit in a 64-bit integer")
            )
    return causes


def _structural(cause: Cause) -> bool:
    """Whether a schema cause is a type mismatch that breaks readers (see the docstring)."""
    msg = cause.get("message", "")
    if "must be of type" not in msg:
        return False
    return not any(f'must be of type string: "{got}"' in msg for got in _LENIENT)


def builtin_type_causes(
    kind: str,
    obj: dict[str, Any],
    unknown: list[str] | None = None,
    old: dict[str, Any] | None = None,
) -> list[Cause]:
    """Type mismatches of a built-in ``kind`` against its OpenAPI schema; the paths of fields
    the kind does not have are appended to ``unknown`` (``obj`` itself is not changed).
    Parts unchanged from ``old`` (the stored object of an update) are not checked again."""
    sch = openapi.builtin_schema(kind)
    if sch is None:
        return []
    body = orjson.loads(orjson.dumps(obj))
    causes, extra = schema.apply_schema(body, sch, prune=True, old=old)
    if unknown is not None:
        unknown.extend(extra)
    return [c for c in causes if _structural(c)]


def precheck(
    kind: str,
    obj: dict[str, Any],
    *,
    builtin: bool,
    unknown: list[str] | None = None,
    old: dict[str, Any] | None = None,
) -> list[Cause]:
    """Everything above for one object about to be admitted; [] when its types are sound.

    For built-in kinds the unknown fields found on the way are appended to ``unknown``.
    ``old`` is the stored object of an update: the schema walk skips what is unchanged."""
    causes = metadata_causes(obj) + bounds_causes(obj)
    if causes:
        return causes
    for key in ("spec", "status"):
        if obj.get(key) is not None and not isinstance(obj[key], dict):
            causes.append(_bad(key, obj[key], "an object"))
    if causes:
        return causes
    if not builtin:
        return pod_template_causes(obj, old=old)
    return builtin_type_causes(kind, obj, unknown, old)


def pod_template_causes(obj: Any, limit: int = 64, old: Any = None) -> list[Cause]:
    """Type mismatches in the pod templates embedded in a custom resource.

    Any ``template`` object with a ``spec.containers`` (a PyTorchJob's replica templates, a
    Workload's pod sets) is checked like a Pod, since controllers turn it into pods.
    """
    causes: list[Cause] = []
    stack: list[tuple[Any, str, Any]] = [(obj, "", old)]
    while stack and len(causes) < limit:
        value, where, prior = stack.pop()
        if isinstance(value, list):
            priors = prior if isinstance(prior, list) else []
            stack.extend(
                (v, f"{where}[{i}]", priors[i] if i < len(priors) else None)
                for i, v in enumerate(value)
                if not (i < len(priors) and schema.same_json(v, priors[i]))
            )
            continue
        if not isinstance(value, dict):
            continue
        priors_map = prior if isinstance(prior, dict) else {}
        for key, child in value.items():
            if key in priors_map and schema.same_json(child, priors_map[key]):
                continue  # unchanged since it was stored (and checked)
            path = f"{where}.{key}" if where else str(key)
            spec = child.get("spec") if key == "template" and isinstance(child, dict) else None
            if isinstance(spec, dict) and "containers" in spec:
                found = metadata_causes({"metadata": child.get("metadata")})
                found += builtin_type_causes("Pod", {"spec": spec})
                for c in found:
                    causes.append({**c, "field": f"{path}.{c['field']}"})
            else:
                stack.append((child, path, priors_map.get(key)))
    return causes


WARM_KINDS = (
    "Pod",
    "Service",
    "Event",
    "ConfigMap",
    "Secret",
    "Node",
    "Namespace",
    "Lease",
    "PriorityClass",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
)


def warm_up(kinds: tuple[str, ...] = WARM_KINDS) -> None:
    """Build the schemas of the common kinds ahead of use (it imports the client's models, a
    second or more of work that would otherwise stall the event loop on the first write).
    Meant for a background thread: the interpreter switches threads every few milliseconds."""
    for kind in kinds:
        openapi.builtin_schema(kind)
