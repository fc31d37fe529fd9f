"""The market spec: integers only, and only settings under which every notional is exact."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.orders import MarketSpec

pytestmark = pytest.mark.unit

GOOD: dict[str, Any] = {
    "symbol": "BTCUSDT", "base_unit": 10**8, "tick_size": 10**4, "lot_size": 10**4,
    "min_qty": 10**4, "max_qty": 10**12, "min_notional": 10**6, "maker_fee_ppm": 1_000,
    "taker_fee_ppm": 1_000,
}


def test_good_spec() -> None:
    spec = MarketSpec(**GOOD)
    assert spec.problem() is None
    assert spec.notional(30_000 * 10**6, 10**8) == 30_000 * 10**6  # one BTC at 30,000 USDT


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tick_size": 10**4 + 0.5}, "int"),
        ({"maker_fee_ppm": 0.001}, "int"),
        ({"lot_size": 0}, "lot_size must be at least 1"),
        ({"min_qty": 0}, "min_qty must be at least 1"),
        ({"lot_size": 10**3}, "every notional is exact"),
        ({"min_qty": 15_000}, "multiple of lot_size"),
        ({"max_qty": 10**12 + 1}, "multiple of lot_size"),
        ({"max_qty": 0}, "max_qty must be at least"),
        ({"min_notional": -1}, "min_notional"),
        ({"taker_fee_ppm": 1_000_001}, "between 0 and 1000000"),
        ({"maker_fee_ppm": -1}, "between 0 and 1000000"),
    ],
)
def test_bad_specs_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MarketSpec(**{**GOOD, **changes})

