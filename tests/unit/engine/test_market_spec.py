"""The shared order vocabulary: Binance names, integer-only market spec."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.orders import (
    DoneReason,
    MarketSpec,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

pytestmark = pytest.mark.unit

GOOD: dict[str, Any] = {
    "symbol": "BTCUSDT", "base_unit": 10**8, "tick_size": 10**4, "lot_size": 10**4,
    "min_qty": 10**4, "max_qty": 10**12, "min_notional": 10**6, "maker_fee_ppm": 1_000,
    "taker_fee_ppm": 1_000,
}


def test_enum_values_are_binance_names() -> None:
    assert [s.value for s in Side] == ["BUY", "SELL"]
    assert [t.value for t in OrderType] == ["LIMIT", "MARKET", "LIMIT_MAKER"]
    assert [t.value for t in TimeInForce] == ["GTC", "IOC", "FOK"]
    assert [m.value for m in SelfTradePrevention] == [
        "NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]
    assert "EXPIRED_IN_MATCH" in {s.value for s in OrderStatus}


def test_every_done_reason_has_a_binance_status() -> None:
    assert {r: r.status for r in DoneReason} == {
        DoneReason.FILLED: OrderStatus.FILLED,
        DoneReason.CANCELED: OrderStatus.CANCELED,
        DoneReason.EXPIRED_IOC: OrderStatus.EXPIRED,
        DoneReason.EXPIRED_FOK: OrderStatus.EXPIRED,
        DoneReason.EXPIRED_STP: OrderStatus.EXPIRED_IN_MATCH,
        DoneReason.REJECTED_POST_ONLY: OrderStatus.REJECTED,
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


def test_spec_is_immutable() -> None:
    spec = MarketSpec(**GOOD)
    with pytest.raises(AttributeError):
        spec.tick_size = 1  # type: ignore[misc]
