"""Binance's symbol filters, one rule each, and the errors a client is told."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.domain.errors import ErrorCode
from chalicelib.domain.market_rules import (
    limit_problem,
    lot_problem,
    market_problem,
    notional_problem,
    price_problem,
    qty_problem,
    rejection,
)
from chalicelib.domain.money import MAX_UNITS
from chalicelib.domain.orders import MarketFilters, MarketSpec, RejectReason, filters_problem

# Price per 10 base units on a tick of 5; lots of 10 from 30 to 1000; notional >= 50.
SPEC = MarketSpec(symbol="TESTUSD", base_unit=10, tick_size=5, lot_size=10, min_qty=30,
                  max_qty=1_000, min_notional=50)
FILTERS = SPEC.filters


@pytest.mark.parametrize(("price", "reason"), [
    (5, None), (100, None),
    (0, RejectReason.INVALID_PRICE), (-5, RejectReason.INVALID_PRICE),
    (5.0, RejectReason.INVALID_PRICE), ("5", RejectReason.INVALID_PRICE),
    (7, RejectReason.PRICE_OFF_TICK),
])
def test_price_filter(price: object, reason: RejectReason | None) -> None:
    assert price_problem(SPEC, price) is reason


@pytest.mark.parametrize(("qty", "reason"), [
    (10, None), (30, None),
    (0, RejectReason.INVALID_QUANTITY), (True, RejectReason.INVALID_QUANTITY),
    (15, RejectReason.QTY_OFF_LOT),
])
def test_lot_step(qty: object, reason: RejectReason | None) -> None:
    assert lot_problem(SPEC, qty) is reason


@pytest.mark.parametrize(("qty", "reason"), [
    (30, None), (1_000, None),
    (-10, RejectReason.INVALID_QUANTITY), (35, RejectReason.QTY_OFF_LOT),
    (20, RejectReason.QTY_TOO_SMALL), (1_010, RejectReason.QTY_TOO_LARGE),
])
def test_lot_size_filter(qty: object, reason: RejectReason | None) -> None:
    assert qty_problem(SPEC, qty) is reason


def test_notional_filter_has_an_inclusive_minimum_and_zero_disables_it() -> None:
    assert notional_problem(SPEC, 49) is RejectReason.NOTIONAL_TOO_SMALL
    assert notional_problem(SPEC, 50) is None
    assert notional_problem(replace(SPEC, min_notional=0), 0) is None


@pytest.mark.parametrize(("price", "qty", "reason"), [
    (20, 30, None),  # notional 20 * 30 / 10 = 60
    (7, 15, RejectReason.PRICE_OFF_TICK),  # the price is checked first
    (20, 15, RejectReason.QTY_OFF_LOT),
    (15, 30, RejectReason.NOTIONAL_TOO_SMALL),  # 45
])
def test_a_limit_order_passes_price_then_quantity_then_notional(
    price: object, qty: object, reason: RejectReason | None
) -> None:
    assert limit_problem(SPEC, price, qty) is reason


def test_a_limit_notional_the_ledger_cannot_lock_is_refused() -> None:
    assert limit_problem(SPEC, 10**38, 100) is RejectReason.NOTIONAL_TOO_LARGE
    assert limit_problem(SPEC, 5 * 10**36, 100) is None


@pytest.mark.parametrize(("qty", "quote_qty", "reason"), [
    (30, 0, None), (20, 0, RejectReason.QTY_TOO_SMALL),
    (0, 50, None), (0, 49, RejectReason.NOTIONAL_TOO_SMALL),
    (0, 0, RejectReason.INVALID_QUANTITY), (0, -50, RejectReason.INVALID_QUANTITY),
])
def test_a_market_order_is_sized_by_quantity_or_else_by_quote_amount(
    qty: int, quote_qty: int, reason: RejectReason | None
) -> None:
    assert market_problem(SPEC, qty, quote_qty) is reason


@pytest.mark.parametrize(("reason", "code", "msg"), [
    (RejectReason.PRICE_OFF_TICK, ErrorCode.FILTER_FAILURE, "Filter failure: PRICE_FILTER"),
    (RejectReason.QTY_TOO_LARGE, ErrorCode.FILTER_FAILURE, "Filter failure: LOT_SIZE"),
    (RejectReason.NOTIONAL_TOO_LARGE, ErrorCode.FILTER_FAILURE, "Filter failure: NOTIONAL"),
    (RejectReason.DUPLICATE_ORDER_ID, ErrorCode.NEW_ORDER_REJECTED, "Duplicate order sent."),
    (RejectReason.UNKNOWN_ORDER, ErrorCode.CANCEL_REJECTED, "Unknown order sent."),
])
def test_each_reason_is_a_binance_error(reason: RejectReason, code: ErrorCode,
                                        msg: str) -> None:
    error = rejection(reason)

    assert (error.status, error.code, error.msg) == (400, code, msg)


def test_every_reason_has_a_binance_error() -> None:
    assert all(rejection(reason).code < 0 and rejection(reason).msg for reason in RejectReason)


@pytest.mark.parametrize(("changes", "setting", "requirement"), [
    ({"tick_size": 0}, "tick_size", "must be at least 1"),
    ({"lot_size": -10}, "lot_size", "must be at least 1"),
    ({"max_qty": 20}, "max_qty", "must be at least 30"),
    ({"max_qty": MAX_UNITS + 1}, "max_qty", "is too large"),
    ({"min_notional": -1}, "min_notional", "must be at least 0"),
    ({"taker_fee_ppm": 1_000_001}, "taker_fee_ppm", "must be between 0 and 1000000"),
    ({"min_qty": 35}, "min_qty", "must be a multiple of lot_size"),
])
def test_filters_a_market_cannot_work_with_are_named(
    changes: dict[str, int], setting: str, requirement: str
) -> None:
    problem = filters_problem(replace(FILTERS, **changes), base_unit=10)

    assert problem is not None
    assert (problem.setting, problem.requirement) == (setting, requirement)


def test_every_notional_on_the_grids_must_be_exact() -> None:
    problem = filters_problem(FILTERS, base_unit=100)

    assert str(problem) == ("tick_size times lot_size must be a multiple of 100"
                            " (one whole base unit), so that every notional is exact")


def test_the_fee_ceiling_is_the_callers() -> None:
    fees = replace(FILTERS, maker_fee_ppm=100_001)

    assert filters_problem(fees, base_unit=10) is None
    assert str(filters_problem(fees, base_unit=10, max_fee_ppm=100_000)) == (
        "maker_fee_ppm must be between 0 and 100000")


def test_good_filters_have_no_problem() -> None:
    assert filters_problem(MarketFilters(5, 10, 10, 10, 0, 0, 0), base_unit=10) is None
