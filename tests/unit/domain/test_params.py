"""Integer parameters: ASCII digits only, bounded before they reach PostgreSQL."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import ApiError
from chalicelib.domain.params import MAX_BIGINT, has_nul, parse_count


@pytest.mark.parametrize(("text", "value"), [
    ("0", 0), ("7", 7), ("0042", 42), (str(MAX_BIGINT), MAX_BIGINT),
])
def test_ascii_digits_within_bigint_are_counts(text: str, value: int) -> None:
    assert parse_count(text, "orderId") == value


@pytest.mark.parametrize("text", [
    "²", "٣", "\uff11\uff12", "12²", "-1", "+1", " 1", "1 ", "1.0", "1e3", "0x10", "1_000", "abc",
    "9" * 20,
])
def test_anything_but_ascii_digits_is_illegal_characters(text: str) -> None:
    with pytest.raises(ApiError) as refused:
        parse_count(text, "orderId")

    assert (refused.value.status, int(refused.value.code)) == (400, -1100)
    assert "'orderId'" in refused.value.msg


def test_an_empty_parameter_is_named_empty() -> None:
    with pytest.raises(ApiError) as refused:
        parse_count("", "limit")

    assert int(refused.value.code) == -1105


@pytest.mark.parametrize(("text", "minimum", "maximum"), [
    (str(MAX_BIGINT + 1), 0, MAX_BIGINT), ("0", 1, 1000), ("1001", 1, 1000),
])
def test_counts_outside_their_range_are_malformed(text: str, minimum: int,
                                                  maximum: int) -> None:
    with pytest.raises(ApiError) as refused:
        parse_count(text, "limit", minimum=minimum, maximum=maximum)

    assert (refused.value.status, int(refused.value.code)) == (400, -1102)
    assert refused.value.body() == {
        "code": -1102, "msg": f"Parameter 'limit' must be between {minimum} and {maximum}."}


def test_nul_is_found_anywhere_in_a_text() -> None:
    assert has_nul("BTC\x00USDT")
    assert has_nul("\x00")
    assert not has_nul("BTCUSDT")
