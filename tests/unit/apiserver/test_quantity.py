"""Resource quantities parse and format like Kubernetes'."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperpod.apiserver.quantity import (
    ERR_FORMAT,
    ERR_SUFFIX,
    bytes_of,
    cpu_millis,
    format_quantity,
    is_quantity,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Decimal(1)),
        ("500m", Decimal("0.5")),
        ("0.5", Decimal("0.5")),
        ("+2", Decimal(2)),
        ("-3k", Decimal(-3000)),
        ("1Ki", Decimal(1024)),
        ("2Mi", Decimal(2 * 1024**2)),
        ("1Gi", Decimal(1024**3)),
        ("1Ti", Decimal(1024**4)),
        ("1Pi", Decimal(1024**5)),
        ("1Ei", Decimal(1024**6)),
        ("10n", Decimal("0.00000001")),
        ("7u", Decimal("0.000007")),
        ("1M", Decimal(10**6)),
        ("1G", Decimal(10**9)),
        ("1T", Decimal(10**12)),
        ("1P", Decimal(10**15)),
        ("1E", Decimal(10**18)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("15e-1", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("1.", Decimal(1)),
    ],
)
def test_quantities_parse_to_their_exact_value(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1 Gi", "Gi", "1.5.5", ".", "1gi", "--1"])
def test_malformed_quantities_are_rejected_with_a_message(text: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_quantity(text)
    assert "quantit" in str(excinfo.value)
    assert not is_quantity(text)


def test_an_unknown_suffix_is_named_as_such() -> None:
    with pytest.raises(ValueError, match="suffix"):
        parse_quantity("1m3")
    assert ERR_SUFFIX in "unable to parse quantity's suffix"


def test_the_format_error_quotes_the_kubernetes_regular_expression() -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_quantity("x")
    assert str(excinfo.value) == ERR_FORMAT
    assert "[eEinumkKMGTP]" in ERR_FORMAT


def test_numbers_are_accepted_as_quantities() -> None:
    assert parse_quantity(4) == 4
    assert parse_quantity(0.25) == Decimal("0.25")
    assert parse_quantity(Decimal("1.5")) == Decimal("1.5")
    with pytest.raises(ValueError):
        parse_quantity(True)


@pytest.mark.parametrize(
    ("q", "millis"), [("1", 1000), ("100m", 100), ("1.5", 1500), ("1n", 1), ("2", 2000), (3, 3000)]
)
def test_cpu_millis_rounds_up(q: str, millis: int) -> None:
    assert cpu_millis(q) == millis


@pytest.mark.parametrize(("q", "n"), [("1Gi", 1024**3), ("1k", 1000), ("500m", 1), ("0", 0)])
def test_bytes_of_rounds_up_to_whole_units(q: str, n: int) -> None:
    assert bytes_of(q) == n


@pytest.mark.parametrize(
    ("value", "binary", "text"),
    [
        (Decimal("0.5"), False, "500m"),
        (Decimal("1.5"), False, "1500m"),
        (Decimal(1000), False, "1k"),
        (Decimal(1500), False, "1500"),
        (Decimal(2), False, "2"),
        (Decimal(0), False, "0"),
        (Decimal(-2000), False, "-2k"),
        (Decimal(1024**3), True, "1Gi"),
        (Decimal(1536 * 1024**2), True, "1536Mi"),
        (Decimal(512), True, "512"),
        (Decimal(1500), True, "1500"),
        (Decimal("0.5"), True, "500m"),
        ("2048Ki", True, "2Mi"),
    ],
)
def test_quantities_format_canonically(value: Decimal | str, binary: bool, text: str) -> None:
    assert format_quantity(value, binary=binary) == text


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from([-9, -6, -3, 0, 3]))
def test_decimal_formatting_round_trips(mantissa: int, exp: int) -> None:
    value = Decimal(mantissa).scaleb(exp)
    assert parse_quantity(format_quantity(value)) == value


@given(st.integers(min_value=0, max_value=2**62))
def test_binary_formatting_round_trips(n: int) -> None:
    assert parse_quantity(format_quantity(n, binary=True)) == n
