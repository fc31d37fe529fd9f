"""What a committed batch reports: metrics and one log line per batch.

The log line lists the batch's correlation ids and the orders its commands name, so
that ``exchange logs --order ID`` finds the batch that settled an order; one line per
batch, never one per command, keeps logging off the matcher's hot path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from chalicelib.domain.metric_catalogue import ORDER_END_TO_END_SECONDS, TRADES

from .batch import MarketResult
from .metrics import Metrics
from .traces import CommandHeaders, command_order_ids

log = logging.getLogger(__name__)


def record_settled(
    metrics: Metrics, results: Sequence[MarketResult], traces: Mapping[int, CommandHeaders],
    *, committed_ms: int, offsets: Mapping[int, tuple[int, int]], size: int,
) -> None:
    """After a commit: each market's trades and book gauges, the end-to-end latency of
    every command the API said it accepted, and the batch's log line."""
    correlation_ids: dict[str, None] = {}  # in order, once each
    order_ids: list[int] = []
    trades = 0
    for result in results:
        market = result.entry.info.symbol
        if result.settlement.trades:
            trades += len(result.settlement.trades)
            metrics.inc(TRADES, len(result.settlement.trades), market=market)
        metrics.record_book(market, result.entry.book)
        for command in result.commands:
            order_ids += command_order_ids(command)
            headers = traces.get(command.command_id)
            if headers is None:
                continue
            correlation_ids[headers.correlation_id] = None
            if headers.accepted_at_ms is not None:
                metrics.observe(ORDER_END_TO_END_SECONDS,
                                max(committed_ms - headers.accepted_at_ms, 0) / 1000)
    log.info("batch settled", extra={
        "partitions": list(offsets), "offsets": list(offsets.values()), "size": size,
        "trades": trades, "correlation_ids": list(correlation_ids), "order_ids": order_ids})
