"""Time marks: what closes the candles of a quiet market on time.

Binance sends a kline final (``x: true``) when its interval ends. The candles function
folds trades and cannot see time pass in a market that stopped trading, so the matcher,
which runs all the time and stamps every trade with its clock, tells it: once a candle
holding a market's last trade has ended (the 1s one within a second, then the minute's,
and so on up to the month's), it publishes a ``TimeMarkEvent`` with its clock's time on
``market-events``, after the market's earlier events (same key, same producer, commit
order). Every later trade is stamped at that time or after, so the candles function can
send final every candle that ended before the mark without a trade ever landing in it
afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.domain.candles import next_candle_end
from chalicelib.domain.stream_events import TimeMarkEvent

from .batch import MarketResult


@dataclass(slots=True)
class _Running:
    partition: int
    traded_ms: int  # the time of the market's last trade
    trade_id: int  # its id
    ends_ms: int  # when the next of the candles holding it ends


class CandleEnds:
    """The markets whose last trade's candles are still running, and when they end."""

    def __init__(self) -> None:
        self._running: dict[str, _Running] = {}

    def traded(self, results: Iterable[MarketResult]) -> None:
        """Note the markets a committed batch traded in (at the batch's time)."""
        for result in results:
            if result.settlement.trades:
                self.trade(result.entry.info.symbol, result.entry.partition, result.time_ms,
                           result.settlement.trades[-1].trade_id)

    def trade(self, market: str, partition: int, time_ms: int, trade_id: int) -> None:
        ends = next_candle_end(time_ms, time_ms)
        assert ends is not None  # the 1s candle holding a trade ends after it
        self._running[market] = _Running(partition, time_ms, trade_id, ends)

    def due(self, now_ms: int) -> list[TimeMarkEvent]:
        """A mark at ``now_ms`` for each market one of whose candles ended by then."""
        marks = []
        for market, running in list(self._running.items()):
            if running.ends_ms > now_ms:
                continue
            marks.append(TimeMarkEvent(market=market, time_ms=now_ms,
                                       last_trade_id=running.trade_id))
            ends = next_candle_end(running.traded_ms, now_ms)
            if ends is None:
                del self._running[market]
            else:
                running.ends_ms = ends
        return marks

    def drop_partition(self, partition: int) -> None:
        """Forget a revoked partition's markets: their new owner marks them (a mark from
        here would not be ordered after the new owner's trades)."""
        for market in [m for m, r in self._running.items() if r.partition == partition]:
            del self._running[market]
