"""Binance's aggregate trades: the consecutive fills of one taker order at one price,
as one row. Pure code.

An aggregate is named by its first trade's id, so its id is stable (later trades never
change where an aggregate starts) and increasing, and ``fromId`` needs no table of its
own: the aggregates from id N are those whose first trade id is N or more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chalicelib.domain.stream_events import AggTradeEvent, TradeEvent


@dataclass(frozen=True, slots=True)
class AggTrade:
    agg_id: int
    price: int
    qty: int
    first_trade_id: int
    last_trade_id: int
    time_ms: int
    buyer_is_maker: bool

    def continued_by(self, trade: TradeEvent) -> bool:
        """Whether ``trade`` is the next fill of this aggregate's taker at its price."""
        return trade.trade_id == self.last_trade_id + 1 and trade.price == self.price \
            and trade.buyer_is_maker == self.buyer_is_maker and trade.time_ms == self.time_ms


def aggregate(trades: Iterable[TradeEvent]) -> list[AggTrade]:
    """The aggregates of one market's ``trades`` (ascending by id, without gaps)."""
    out: list[AggTrade] = []
    taker = 0
    for trade in trades:
        last = out[-1] if out else None
        if last is not None and trade.taker_order_id == taker and last.continued_by(trade):
            out[-1] = AggTrade(last.agg_id, last.price, last.qty + trade.qty,
                               last.first_trade_id, trade.trade_id, last.time_ms,
                               last.buyer_is_maker)
        else:
            out.append(AggTrade(trade.trade_id, trade.price, trade.qty, trade.trade_id,
                                trade.trade_id, trade.time_ms, trade.buyer_is_maker))
        taker = trade.taker_order_id
    return out


def agg_trade_events(market: str, trades: Sequence[TradeEvent]) -> list[AggTradeEvent]:
    """The aggregates of a batch's ``trades`` in one market, as events. A taker's fills
    all happen in one matcher command, hence in one batch: these are the aggregates
    ``/api/v3/aggTrades`` will show, with the same ids."""
    seqs = {trade.trade_id: trade.seq for trade in trades}
    return [AggTradeEvent(market=market, seq=seqs[agg.last_trade_id], agg_id=agg.agg_id,
                          time_ms=agg.time_ms, price=agg.price, qty=agg.qty,
                          first_trade_id=agg.first_trade_id,
                          last_trade_id=agg.last_trade_id,
                          buyer_is_maker=agg.buyer_is_maker)
            for agg in aggregate(trades)]
