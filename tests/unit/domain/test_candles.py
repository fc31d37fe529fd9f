"""Candle alignment (every Binance interval, UTC) and folding trades into candles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.candles import (
    INTERVALS,
    Candle,
    Interval,
    Trade,
    close_time,
    fold,
    merge,
    next_open_time,
    open_time,
    touched_keys,
    with_quiet_intervals,
)


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * 1000


DAY = 86_400_000

# Friday 2024-03-15 13:47:23.456 UTC; 2024-03-15 is day 19797 since the epoch (19797 % 3 == 0).
FRIDAY = ms(2024, 3, 15, 13, 47, 23) + 456


@pytest.mark.parametrize(("interval", "expected_open"), [
    ("1m", ms(2024, 3, 15, 13, 47)),
    ("3m", ms(2024, 3, 15, 13, 45)),
    ("5m", ms(2024, 3, 15, 13, 45)),
    ("15m", ms(2024, 3, 15, 13, 45)),
    ("30m", ms(2024, 3, 15, 13, 30)),
    ("1h", ms(2024, 3, 15, 13)),
    ("2h", ms(2024, 3, 15, 12)),
    ("4h", ms(2024, 3, 15, 12)),
    ("6h", ms(2024, 3, 15, 12)),
    ("8h", ms(2024, 3, 15, 8)),
    ("12h", ms(2024, 3, 15, 12)),
    ("1d", ms(2024, 3, 15)),
    ("3d", ms(2024, 3, 15)),
    ("1w", ms(2024, 3, 11)),
    ("1M", ms(2024, 3, 1)),
])
def test_open_time_of_every_interval(interval: str, expected_open: int) -> None:
    assert open_time(Interval(interval), FRIDAY) == expected_open


def test_every_binance_interval_is_known() -> None:
    assert [i.value for i in INTERVALS] == ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h",
                                            "6h", "8h", "12h", "1d", "3d", "1w", "1M"]


@pytest.mark.parametrize(("interval", "open_ms", "expected_close"), [
    ("1m", ms(2024, 3, 15, 13, 47), ms(2024, 3, 15, 13, 47, 59) + 999),
    ("8h", ms(2024, 3, 15, 16), ms(2024, 3, 15, 23, 59, 59) + 999),
    ("1d", ms(2024, 3, 15), ms(2024, 3, 15, 23, 59, 59) + 999),
    ("3d", ms(2024, 3, 15), ms(2024, 3, 17, 23, 59, 59) + 999),
    ("1w", ms(2024, 3, 11), ms(2024, 3, 17, 23, 59, 59) + 999),
    ("1M", ms(2024, 2, 1), ms(2024, 2, 29, 23, 59, 59) + 999),  # leap year
    ("1M", ms(2023, 2, 1), ms(2023, 2, 28, 23, 59, 59) + 999),
    ("1M", ms(2024, 4, 1), ms(2024, 4, 30, 23, 59, 59) + 999),
    ("1M", ms(2024, 12, 1), ms(2024, 12, 31, 23, 59, 59) + 999),  # into the next year
])
def test_close_time_is_one_ms_before_the_next_open(interval: str, open_ms: int,
                                                   expected_close: int) -> None:
    assert close_time(Interval(interval), open_ms) == expected_close


def test_week_opens_on_monday_midnight_utc() -> None:
    monday = ms(2024, 4, 1)
    assert open_time(Interval.W1, monday) == monday
    assert open_time(Interval.W1, monday - 1) == ms(2024, 3, 25)  # Sunday 23:59:59.999
    assert open_time(Interval.W1, ms(2024, 4, 7, 23, 59, 59) + 999) == monday
    # The epoch (a Thursday) belongs to the week opened on Monday 1969-12-29.
    assert open_time(Interval.W1, 0) == ms(1969, 12, 29)


def test_month_opens_on_the_first_at_midnight_utc() -> None:
    assert open_time(Interval.MONTH1, ms(2024, 3, 1)) == ms(2024, 3, 1)
    assert open_time(Interval.MONTH1, ms(2024, 3, 1) - 1) == ms(2024, 2, 1)
    assert open_time(Interval.MONTH1, ms(2024, 12, 31, 23, 59, 59) + 999) == ms(2024, 12, 1)
    assert next_open_time(Interval.MONTH1, ms(2024, 12, 1)) == ms(2025, 1, 1)


def test_three_day_candles_open_on_epoch_days_divisible_by_three() -> None:
    # 2024-04-02 is day 19815 = 3 * 6605; the day before belongs to the candle of 03-30.
    assert open_time(Interval.D3, ms(2024, 4, 2)) == ms(2024, 4, 2)
    assert open_time(Interval.D3, ms(2024, 4, 2) - 1) == ms(2024, 3, 30)
    assert open_time(Interval.D3, ms(2024, 4, 4, 23, 59, 59) + 999) == ms(2024, 4, 2)
    assert open_time(Interval.D3, ms(2024, 4, 5)) == ms(2024, 4, 5)
    assert ms(2024, 3, 30) // DAY % 3 == 0
    # A 3d candle ignores month and week boundaries.
    assert open_time(Interval.D3, ms(2024, 4, 1, 12)) == ms(2024, 3, 30)


@given(time_ms=st.integers(min_value=0, max_value=ms(2100, 1, 1)),
       interval=st.sampled_from(INTERVALS))
def test_every_moment_lies_in_exactly_one_aligned_candle(time_ms: int,
                                                         interval: Interval) -> None:
    start = open_time(interval, time_ms)
    end = close_time(interval, start)
    assert start <= time_ms <= end
    assert open_time(interval, start) == start
    assert open_time(interval, end) == start
    assert open_time(interval, end + 1) == end + 1
    assert start % 60_000 == 0
    if interval in (Interval.D1, Interval.D3, Interval.W1, Interval.MONTH1):
        assert start % DAY == 0


def trade(trade_id: int, time_ms: int, price: int, qty: int,
          buyer_is_maker: bool = False) -> Trade:
    return Trade(trade_id=trade_id, time_ms=time_ms, price=price, qty=qty,
                 quote_qty=price * qty // 100, buyer_is_maker=buyer_is_maker)


MINUTE = ms(2024, 3, 15, 13, 47)


def test_fold_builds_ohlcv_in_trade_id_order() -> None:
    trades = [
        trade(3, MINUTE + 30_000, 101, 5, buyer_is_maker=True),
        trade(1, MINUTE + 1_000, 100, 2),
        trade(4, MINUTE + 59_999, 99, 1),
        trade(2, MINUTE + 20_000, 105, 3, buyer_is_maker=True),
        trade(5, MINUTE + 60_000, 110, 7),  # the next minute
    ]
    candles = {(c.interval, c.open_time): c for c in fold("BTCUSDT", trades)}
    assert candles[(Interval.M1, MINUTE)] == Candle(
        market="BTCUSDT", interval=Interval.M1, open_time=MINUTE, close_time=MINUTE + 59_999,
        open=100, high=105, low=99, close=99, volume=11,
        quote_volume=2 + 3 + 5 + 0, trade_count=4,
        taker_buy_volume=2 + 1, taker_buy_quote_volume=2 + 0,
        first_trade_id=1, last_trade_id=4)
    assert candles[(Interval.M1, MINUTE + 60_000)].trade_count == 1
    hour = candles[(Interval.H1, ms(2024, 3, 15, 13))]
    assert (hour.open, hour.high, hour.low, hour.close) == (100, 110, 99, 110)
    assert (hour.volume, hour.trade_count, hour.taker_buy_volume) == (18, 5, 10)
    assert (hour.first_trade_id, hour.last_trade_id) == (1, 5)
    # 13:48 opens a new 1m and a new 3m candle; every longer candle holds all five trades.
    split = sorted({i for i, _ in candles if sum(1 for j, _ in candles if j == i) == 2})
    assert split == [Interval.M1, Interval.M3]


def test_fold_returns_candles_by_interval_then_open_time() -> None:
    trades = [trade(1, MINUTE + 120_000, 100, 1), trade(2, MINUTE, 100, 1)]
    keys = [(c.interval, c.open_time) for c in fold("BTCUSDT", trades)]
    assert keys[:2] == [(Interval.M1, MINUTE), (Interval.M1, MINUTE + 120_000)]
    assert [k[0] for k in keys] == sorted((k[0] for k in keys), key=INTERVALS.index)


def test_fold_of_no_trades_is_empty() -> None:
    assert fold("BTCUSDT", []) == []


def test_touched_keys_are_the_folded_candles() -> None:
    trades = [trade(1, MINUTE, 100, 1), trade(2, ms(2024, 4, 1) - 1, 100, 1)]
    assert touched_keys("BTCUSDT", trades) == {c.key for c in fold("BTCUSDT", trades)}


trade_lists = st.lists(
    st.tuples(st.integers(0, 3 * DAY), st.integers(1, 10**12), st.integers(1, 10**9),
              st.booleans()),
    min_size=2, max_size=40)


@given(rows=trade_lists, split=st.integers(0, 40))
def test_merging_folds_of_two_parts_equals_folding_all(
        rows: list[tuple[int, int, int, bool]], split: int) -> None:
    base = ms(2024, 3, 30)
    trades = [trade(i + 1, base + offset, price, qty, maker)
              for i, (offset, price, qty, maker) in enumerate(rows)]
    whole = {c.key: c for c in fold("BTCUSDT", trades)}
    first = {c.key: c for c in fold("BTCUSDT", trades[:split])}
    second = {c.key: c for c in fold("BTCUSDT", trades[split:])}
    merged = dict(first)
    for key, candle in second.items():
        merged[key] = merge(merged[key], candle) if key in merged else candle
        # merge is symmetric: the stored candle may hold either part
        if key in first:
            assert merge(candle, first[key]) == merged[key]
    assert merged == whole


def quiet_test_candle(interval: Interval, open_ms: int, close: int, trade_id: int) -> Candle:
    return Candle("BTCUSDT", interval, open_ms, close_time(interval, open_ms), close, close,
                  close, close, 5, 5 * close, 1, 0, 0, trade_id, trade_id)


def test_quiet_intervals_between_trades_are_listed_flat_at_the_previous_close() -> None:
    minute = 60_000
    traded = [quiet_test_candle(Interval.M1, 0, 100, 1),
              quiet_test_candle(Interval.M1, 3 * minute, 130, 2)]

    series = with_quiet_intervals(traded, 10, newest=False)

    assert [c.open_time for c in series] == [0, minute, 2 * minute, 3 * minute]
    assert [(c.open, c.high, c.low, c.close, c.volume, c.trade_count) for c in series[1:3]] == [
        (100, 100, 100, 100, 0, 0)] * 2
    assert with_quiet_intervals(traded, 2, newest=False) == series[:2]
    assert with_quiet_intervals(traded, 2, newest=True) == series[2:]


def test_quiet_months_and_far_apart_trades_build_no_more_than_the_limit() -> None:
    jan, apr = 1_704_067_200_000, 1_711_929_600_000  # 2024-01-01, 2024-04-01 UTC
    months = with_quiet_intervals([quiet_test_candle(Interval.MONTH1, jan, 7, 1),
                                   quiet_test_candle(Interval.MONTH1, apr, 9, 2)], 10,
                                  newest=True)
    assert [c.close for c in months] == [7, 7, 7, 9]
    assert [c.open_time for c in months][1:3] == [1_706_745_600_000, 1_709_251_200_000]

    far = [quiet_test_candle(Interval.M1, 0, 100, 1),
           quiet_test_candle(Interval.M1, 10**12, 200, 2)]  # ~31 years of quiet minutes
    assert len(with_quiet_intervals(far, 1000, newest=True)) == 1000
    assert len(with_quiet_intervals(far, 1000, newest=False)) == 1000
