"""Klines in a time zone: merged from finer stored candles on the zone's boundaries."""

from __future__ import annotations

import pytest

from chalicelib.domain.candles import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Candle,
    Interval,
    close_time,
    with_quiet_intervals,
)
from chalicelib.domain.kline_zones import (
    merged_into,
    shifted,
    source_interval,
    steps_back,
    steps_forward,
)

DAY = 20_000 * DAY_MS  # a UTC midnight (2024-10-04)
PLUS_8 = 8 * HOUR_MS


def hour(start: int, price: int, trade_id: int) -> Candle:
    """An hourly candle of one trade."""
    return Candle("BTCUSDT", Interval.H1, start, close_time(Interval.H1, start), price, price,
                  price, price, 10, 10 * price, 1, 0, 0, trade_id, trade_id)


@pytest.mark.parametrize(("interval", "offset", "source"), [
    (Interval.D1, 0, None), (Interval.H1, PLUS_8, None), (Interval.M1, 345 * MINUTE_MS, None),
    (Interval.D1, PLUS_8, Interval.H1), (Interval.D1, 345 * MINUTE_MS, Interval.M15),
    (Interval.H1, 345 * MINUTE_MS, Interval.M15), (Interval.H4, -210 * MINUTE_MS, Interval.M30),
    (Interval.W1, HOUR_MS, Interval.H1), (Interval.MONTH1, -HOUR_MS, Interval.H1),
    (Interval.H2, 7 * MINUTE_MS, Interval.M1), (Interval.W1, 0, None),
])
def test_the_source_is_the_coarsest_stored_interval_on_both_grids(
        interval: Interval, offset: int, source: Interval | None) -> None:
    assert source_interval(interval, offset) == source


def test_hours_merge_into_the_days_of_the_zone() -> None:
    # 15:00 UTC is 23:00 at +08:00, the last hour of one local day; 16:00 and 17:00 UTC
    # open the next one.
    hours = [hour(DAY + 15 * HOUR_MS, 100, 1), hour(DAY + 16 * HOUR_MS, 120, 2),
             hour(DAY + 17 * HOUR_MS, 90, 3)]

    days = shifted(merged_into(shifted(hours, PLUS_8), Interval.D1), -PLUS_8)

    assert [(d.open_time, d.close_time) for d in days] == [
        (DAY - PLUS_8, DAY + DAY_MS - PLUS_8 - 1),
        (DAY + DAY_MS - PLUS_8, DAY + 2 * DAY_MS - PLUS_8 - 1)]
    assert [(d.open, d.high, d.low, d.close, d.volume, d.trade_count) for d in days] == [
        (100, 100, 100, 100, 10, 1), (120, 120, 90, 90, 20, 2)]
    assert all(d.interval is Interval.D1 for d in days)


def test_quiet_days_of_the_zone_are_filled_between_traded_ones() -> None:
    hours = [hour(DAY + 15 * HOUR_MS, 100, 1), hour(DAY + 2 * DAY_MS + 16 * HOUR_MS, 120, 2)]
    local = merged_into(shifted(hours, PLUS_8), Interval.D1)

    days = shifted(with_quiet_intervals(local, 10, newest=True), -PLUS_8)

    assert [d.open_time + PLUS_8 for d in days] == [DAY, DAY + DAY_MS, DAY + 2 * DAY_MS,
                                                     DAY + 3 * DAY_MS]
    assert [d.volume for d in days] == [10, 0, 0, 10]


@pytest.mark.parametrize("interval", [Interval.H4, Interval.W1, Interval.MONTH1])
def test_steps_back_and_forward_meet(interval: Interval) -> None:
    start = DAY - DAY % (7 * DAY_MS) + 4 * DAY_MS if interval is Interval.W1 else DAY
    if interval is Interval.MONTH1:
        start = 1_727_740_800_000  # 2024-10-01
    assert steps_back(interval, steps_forward(interval, start, 13), 13) == start
