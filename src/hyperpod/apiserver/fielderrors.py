"""Field errors ("causes") in kube-apiserver's wording, and tolerant readers of object fields.

The builders return the ``{field, message, reason}`` dicts an Invalid Status carries; the
readers treat a malformed field as empty so validation can go on and report it.
"""

from __future__ import annotations

import json
from typing import Any

from hyperpod.apiserver.errors import cause

Cause = dict[str, str]
Obj = dict[str, Any]


def quote(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, dict | list) else f'"{type(value).__name__}"'


def invalid(field: str, value: Any, detail: str) -> Cause:
    return cause(field, f"Invalid value: {quote(value)}: {detail}")


def required(field: str, detail: str = "") -> Cause:
    return cause(field, "Required value" + (f": {detail}" if detail else ""), "FieldValueRequired")


def unsupported(field: str, value: Any, supported: list[str]) -> Cause:
    return cause(
        field,
        f"Unsupported value: {quote(value)}: supported values: "
        + ", ".join(f'"{s}"' for s in sorted(supported)),
        "FieldValueNotSupported",
    )


def forbidden(field: str, detail: str) -> Cause:
    return cause(field, f"Forbidden: {detail}", "FieldValueForbidden")


def duplicate(field: str, value: Any) -> Cause:
    return cause(field, f"Duplicate value: {quote(value)}", "FieldValueDuplicate")


def not_found(field: str, value: Any) -> Cause:
    return cause(field, f"Not found: {quote(value)}", "FieldValueNotFound")


def as_dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
