"""The matcher's time marks: one as each candle holding a quiet market's last trade
ends (1s, then 1m, ... up to 1M), none while it keeps trading, none after the month."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.candles import next_candle_end
from chalicelib.domain.stream_events import TimeMarkEvent
from matching_cluster.service.time_marks import CandleEnds

# Tuesday 2024-04-30 23:59:57.250 UTC: the next ends are those of its second, then
# 23:59:58 is not one (no candle holds both), then the minute's end is midnight, where
# every interval up to the month ends at once but the 3d (05-02, epoch day 19845 =
# 3 * 6615) and the 1w (Monday 05-06).
TRADED = int(datetime(2024, 4, 30, 23, 59, 57, 250_000, tzinfo=UTC).timestamp() * 1000)
MIDNIGHT = int(datetime(2024, 5, 1, tzinfo=UTC).timestamp() * 1000)
THREE_DAYS = int(datetime(2024, 5, 2, tzinfo=UTC).timestamp() * 1000)
NEXT_MONDAY = int(datetime(2024, 5, 6, tzinfo=UTC).timestamp() * 1000)
LAST_TRADE = {"BTCUSDT": 1, "ETHUSDT": 11}


def mark(market: str, time_ms: int) -> TimeMarkEvent:
    return TimeMarkEvent(market=market, time_ms=time_ms, last_trade_id=LAST_TRADE[market])


def test_the_candles_holding_a_trade_end_at_their_next_open_times() -> None:
    assert next_candle_end(TRADED, TRADED) == TRADED + 750
    assert next_candle_end(TRADED, TRADED + 750) == MIDNIGHT
    assert next_candle_end(TRADED, MIDNIGHT) == THREE_DAYS
    assert next_candle_end(TRADED, THREE_DAYS) == NEXT_MONDAY
    assert next_candle_end(TRADED, NEXT_MONDAY) is None


def test_a_quiet_market_is_marked_once_per_candle_end_until_all_have_ended() -> None:
    ends = CandleEnds()
    ends.trade("BTCUSDT", 0, TRADED, 1)
    assert ends.due(TRADED + 749) == []
    assert ends.due(TRADED + 760) == [mark("BTCUSDT", TRADED + 760)]
    assert ends.due(TRADED + 900) == []
    assert ends.due(MIDNIGHT + 5) == [mark("BTCUSDT", MIDNIGHT + 5)]
    assert ends.due(NEXT_MONDAY - 1) == [
        mark("BTCUSDT", NEXT_MONDAY - 1)]  # the 3d candle's end
    assert ends.due(NEXT_MONDAY) == [mark("BTCUSDT", NEXT_MONDAY)]
    assert ends.due(NEXT_MONDAY + 10**10) == []


def test_a_trading_market_is_marked_only_once_its_last_trades_second_is_over() -> None:
    ends = CandleEnds()
    ends.trade("BTCUSDT", 0, TRADED, 1)
    ends.trade("ETHUSDT", 1, TRADED, 11)
    ends.trade("BTCUSDT", 0, TRADED + 1000, 2)  # a later trade of BTCUSDT
    assert ends.due(TRADED + 800) == [mark("ETHUSDT", TRADED + 800)]
    assert ends.due(TRADED + 1750) == [
        TimeMarkEvent(market="BTCUSDT", time_ms=TRADED + 1750, last_trade_id=2)]


def test_a_revoked_partitions_markets_are_left_to_their_new_owner() -> None:
    ends = CandleEnds()
    ends.trade("BTCUSDT", 0, TRADED, 1)
    ends.trade("ETHUSDT", 1, TRADED, 11)
    ends.drop_partition(0)
    assert ends.due(TRADED + 1000) == [mark("ETHUSDT", TRADED + 1000)]
