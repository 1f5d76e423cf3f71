"""Kubernetes resource quantities (``500m``, ``2Gi``, ``1e3``) as exact decimals.

Shared by the API server (validation), the scheduler, queueing and the kubelet. Parsing follows
``k8s.io/apimachinery/pkg/api/resource``: a signed decimal number followed by a binary suffix
(Ki..Ei), a decimal suffix (n, u, m, "", k, M, G, T, P, E) or an exponent (``e3``, ``E-2``).
Values are kept exact (Kubernetes rounds up to nano units; we only round when converting to
integers with :func:`cpu_millis` and :func:`bytes_of`, which round up like ``MilliValue``).
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT = f"quantities must match the regular expression '{QUANTITY_PATTERN}'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")
_SPLIT = re.compile(r"^([+-]?[0-9.]+)(.*)$")
_EXPONENT = re.compile(r"^[eE]([+-]?[0-9]+)$")

BINARY_SUFFIXES: dict[str, int] = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
DECIMAL_SUFFIXES: dict[str, int] = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_DECIMAL_BY_EXP = {exp: suffix for suffix, exp in DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXP = sorted(((exp, s) for s, exp in BINARY_SUFFIXES.items()), reverse=True)


def parse_quantity(text: str | int | float | Decimal) -> Decimal:
    """The exact value of a quantity string; raises ``ValueError`` with Kubernetes' message."""
    if isinstance(text, bool):
        raise ValueError(ERR_FORMAT)
    if isinstance(text, int | Decimal):
        return Decimal(text)
    if isinstance(text, float):
        return Decimal(repr(text))
    if not isinstance(text, str):
        raise ValueError(ERR_FORMAT)
    s = text.strip()
    match = _SPLIT.match(s)
    if not s or match is None or not re.match(QUANTITY_PATTERN, s):
        raise ValueError(ERR_FORMAT)
    number, suffix = match.group(1), match.group(2)
    if not _NUMBER.match(number):
        raise ValueError(ERR_NUMERIC)
    try:
        value = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regex already rules this out
        raise ValueError(ERR_NUMERIC) from exc
    if suffix in BINARY_SUFFIXES:
        return value * (Decimal(2) ** BINARY_SUFFIXES[suffix])
    if suffix in DECIMAL_SUFFIXES:
        return value.scaleb(DECIMAL_SUFFIXES[suffix])
    exponent = _EXPONENT.match(suffix)
    if exponent is None:
        raise ValueError(ERR_SUFFIX)
    return value.scaleb(int(exponent.group(1)))


def is_quantity(text: object) -> bool:
    """Whether ``text`` parses as a quantity."""
    try:
        parse_quantity(text)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def format_quantity(value: Decimal | int | str, binary: bool = False) -> str:
    """The canonical string for ``value``.

    Decimal form uses the largest SI suffix that keeps an integer mantissa (``1500m``, ``2k``);
    binary form (memory) uses the largest power-of-1024 suffix dividing the value (``1536Mi``)
    and falls back to decimal form for values that are not whole multiples of 1024.
    """
    v = parse_quantity(value) if isinstance(value, str) else Decimal(value)
    if v == 0:
        return "0"
    sign = "-" if v < 0 else ""
    v = abs(v)
    if binary and v == v.to_integral_value():
        n = int(v)
        for exp, suffix in _BINARY_BY_EXP:
            if n % (1 << exp) == 0:
                return f"{sign}{n >> exp}{suffix}"
        if n < 1024:
            return f"{sign}{n}"
    # Round up to nano units like Kubernetes, then pick the largest exponent (multiple of 3,
    # at most 18) that leaves an integer mantissa.
    nanos = int((v * Decimal(10) ** 9).to_integral_value(rounding=ROUND_CEILING))
    exp = -9
    while exp < 18 and nanos % 1000 == 0:
        nanos //= 1000
        exp += 3
    return f"{sign}{nanos}{_DECIMAL_BY_EXP[exp]}"


def cpu_millis(q: str | int | float | Decimal) -> int:
    """Milli-units of a quantity, rounded up (``"1.5"`` -> 1500, ``"100m"`` -> 100)."""
    return int((parse_quantity(q) * 1000).to_integral_value(rounding=ROUND_CEILING))


def bytes_of(q: str | int | float | Decimal) -> int:
    """Whole units of a quantity, rounded up (``"1Gi"`` -> 1073741824)."""
    return int(parse_quantity(q).to_integral_value(rounding=ROUND_CEILING))
