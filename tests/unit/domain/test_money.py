"""Decimal strings <-> integer smallest units: exact both ways, refusing what would round."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.money import MAX_SCALE, MAX_UNITS, format_units, parse_units

scales = st.integers(min_value=0, max_value=MAX_SCALE)


@pytest.mark.parametrize(("text", "scale", "units"), [
    ("1", 8, 100_000_000),
    ("0.001", 8, 100_000),
    ("0.00000001", 8, 1),
    ("12.5", 2, 1_250),
    ("0", 8, 0),
    ("0.0", 0, 0),
    ("7", 0, 7),
    ("1.50", 1, 15),
    ("1.000000000000", 8, 100_000_000),
    ("000123.4", 1, 1_234),
    ("99999999999999999999.999999999999999999", 18, MAX_UNITS),
])
def test_parses_decimal_strings_exactly(text: str, scale: int, units: int) -> None:
    assert parse_units(text, scale, param="quantity") == units


@pytest.mark.parametrize("text", [
    "", " 1", "1 ", "-1", "+1", "1e3", "1E-3", ".5", "5.", "1.2.3", "1,000", "0x10",
    "NaN", "inf", "\u0661", "1_000", "0" * 81,
])
def test_refuses_malformed_input(text: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_units(text, 8, param="quantity")

    assert raised.value.status == 400
    assert raised.value.code == ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED
    assert raised.value.msg == "Parameter 'quantity' was empty or malformed."


@pytest.mark.parametrize(("text", "scale"), [("0.000000001", 8), ("1.5", 0), ("0.123", 2)])
def test_refuses_more_precision_than_the_asset_has(text: str, scale: int) -> None:
    with pytest.raises(ApiError) as raised:
        parse_units(text, scale, param="price")

    assert raised.value.status == 400
    assert raised.value.code == ErrorCode.BAD_PRECISION
    assert raised.value.msg == "Parameter 'price' has too much precision."


def test_refuses_amounts_the_database_cannot_store() -> None:
    with pytest.raises(ApiError) as raised:
        parse_units("1" + "0" * 38, 0, param="amount")

    assert raised.value.code == ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED
    assert raised.value.msg == "Parameter 'amount' is too large."


@pytest.mark.parametrize(("units", "scale", "text"), [
    (100_000, 8, "0.00100000"),
    (100_000_000, 8, "1.00000000"),
    (0, 8, "0.00000000"),
    (1, 18, "0.000000000000000001"),
    (1_250, 2, "12.50"),
    (42, 0, "42"),
    (0, 0, "0"),
    (-100_000, 8, "-0.00100000"),
    (-5, 0, "-5"),
])
def test_formats_with_exactly_scale_decimals(units: int, scale: int, text: str) -> None:
    assert format_units(units, scale) == text


@pytest.mark.parametrize("scale", [-1, 19])
def test_a_scale_outside_0_to_18_is_a_programming_error(scale: int) -> None:
    with pytest.raises(ValueError, match="scale"):
        format_units(1, scale)
    with pytest.raises(ValueError, match="scale"):
        parse_units("1", scale, param="amount")


@given(units=st.integers(min_value=0, max_value=MAX_UNITS), scale=scales)
def test_format_then_parse_round_trips(units: int, scale: int) -> None:
    assert parse_units(format_units(units, scale), scale, param="amount") == units


@given(
    whole=st.integers(min_value=0, max_value=10**19),
    fraction=st.text(alphabet="0123456789", min_size=1, max_size=MAX_SCALE),
)
def test_parse_then_format_keeps_the_value(whole: int, fraction: str) -> None:
    scale = len(fraction)
    text = f"{whole}.{fraction}"

    assert format_units(parse_units(text, scale, param="amount"), scale) == text


@given(units=st.integers(min_value=-MAX_UNITS, max_value=MAX_UNITS), scale=scales)
def test_formatted_amounts_have_exactly_scale_decimals(units: int, scale: int) -> None:
    text = format_units(units, scale)

    decimals = text.partition(".")[2]
    assert len(decimals) == scale
    assert text.startswith("-") == (units < 0)
