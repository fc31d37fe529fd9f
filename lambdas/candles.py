"""The candles function: folds the trades on ``market-events`` into OHLCV candles.

MSK invokes ``handler`` with batches of ``market-events`` records (key = market). Trade
events are folded into every Binance interval's candle in PostgreSQL (one transaction
per invocation, idempotent by trade id: see ``chalicelib.adapters.candles_store``);
after the commit the touched candles are written to Redis and produced back to
``market-events`` as ``{"type": "kline", ...}`` events for the WebSocket fan-out; a
candle that a later one of its interval has begun after is sent final (``closed``:
Binance's ``x: true``). 1s candles are not stored (the API builds them from the trades)
but sent too, from every trade of the seconds the batch touched. Other events (depth,
kline, ...) are acknowledged and ignored.

Closing on time. In a quiet market no later trade comes, so the matcher publishes a
time mark (``{"type": "time", ...}``, its clock, which stamps the trades) once a candle
holding the market's last trade has ended (``matching_cluster.service.time_marks``);
it follows the market's earlier trades in its partition, and no later trade is older.
After the batch's trades are folded (with those up to the mark's last trade that
never came as events, read from the table), each market's newest mark sends final every
candle still open that ended before it (``CandleRepository.ended``, with the market's
progress row locked, so two closers take turns). A candle is sent final once: every
final goes out only if it ended at or after the market's ``klines_final`` time in Redis
(``ClosedKlines``), which moves forward to the mark (or the batch's last trade) once the
broker has the events; a redelivery finds it moved and sends nothing older again.
A function killed after the broker took its finals but before that time moved sends
them again on redelivery, built from the same committed rows: identical. The
matcher runs in AWS and locally alike, so do the marks: no schedule is needed.

Failures and ordering. A market's candles are folded in trade id order and progress
is one ``last_trade_id`` per market, so folding a trade acknowledges every earlier one.
Trades missing from a batch (an event the matcher never published, or a record that
can never be read) are read from the ``trades`` table, so a record that can never be
read is logged, counted and skipped rather than retried forever, which would stop its
partition for good. Any other failure of a record fails, with it, every later record
of its partition (a market's records share one, key = market): they are reported in
``batchItemFailures`` without being folded. Lambda (and ``lambdas.msk_runner`` locally) then
redelivers the partition from its first failed offset: the records after it come again
and are folded in order once the failure clears. A failure after decoding (PostgreSQL,
Redis, Kafka) raises, and the whole batch is redelivered; the transaction either
committed all of it, and the redelivery skips its trades while rewriting Redis and the
kline events from the committed rows, or none of it.

    python -m lambdas.msk_runner lambdas.candles.handler --topic market-events --group candles
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import redis
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.base import FailureResponse, SuccessResponse
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from chalicelib.adapters.candles_store import FoldResult
from chalicelib.adapters.metrics import metrics_for
from chalicelib.adapters.secrets import get_settings
from chalicelib.bootstrap import CandleServices, bootstrap_candles
from chalicelib.domain.candles import Candle, Trade
from chalicelib.domain.metric_catalogue import (
    FUNCTION_BATCH_FAILURES,
    FUNCTION_RECORDS,
    FUNCTION_UNREADABLE_RECORDS,
    REDIS_PUBLISH_FAILURES,
    Role,
)
from chalicelib.domain.stream_events import (
    CandleInput,
    TimeMarkEvent,
    TradeEvent,
    decode_candle_input,
)
from chalicelib.settings import Settings
from lambdas.record_traces import BatchTraces

SERVICE: Role = "candles"
"""The service of its logs, and the role and ``function`` label of its metrics."""

logger = Logger(service=SERVICE, use_rfc3339=True)
metrics = metrics_for(SERVICE)
tracer = Tracer(service=SERVICE)


class EarlierRecordFailedError(Exception):
    """A record of the same partition before this one failed, so this one cannot apply."""


class PartitionOrderedProcessor(BatchProcessor):
    """Powertools' Kafka batch processor for records that apply in offset order.

    Once a record of a topic-partition fails, the later records of that partition fail
    too (reported in ``batchItemFailures`` without being handled), so the redelivery
    from the first failed offset brings them back in order. Lambda lists each
    partition's records in offset order.
    """

    def __init__(self) -> None:
        super().__init__(event_type=EventType.Kafka, raise_on_entire_batch_failure=False)
        self._failed_partitions: set[tuple[str, int]] = set()

    def _prepare(self) -> None:
        super()._prepare()  # type: ignore[no-untyped-call]
        self._failed_partitions.clear()

    def _process_record(self, record: dict[str, Any]) -> SuccessResponse | FailureResponse:
        partition = (str(record["topic"]), int(record["partition"]))
        if partition in self._failed_partitions:
            try:
                raise EarlierRecordFailedError(
                    f"an earlier record of {partition[0]}-{partition[1]} failed")
            except EarlierRecordFailedError:
                return self.failure_handler(KafkaEventRecord(record), sys.exc_info())
        outcome = super()._process_record(record)
        if outcome[0] == "fail":
            self._failed_partitions.add(partition)
        return outcome


processor = PartitionOrderedProcessor()


def decode_record(record: KafkaEventRecord) -> CandleInput | None:
    """The record's trade event or time mark; None for other events, and for a record
    that can never be read (see the module doc: it is logged, counted and skipped)."""
    try:
        return decode_candle_input(record.decoded_value)
    except ValueError as error:  # JSON, UTF-8 and validation errors are all ValueErrors
        logger.error("unreadable record skipped", extra={
            "topic": record.topic, "partition": record.partition, "offset": record.offset,
            "error": str(error)[:500]})
        metrics.inc(FUNCTION_UNREADABLE_RECORDS, function=SERVICE)
        return None


def candle_trade(event: TradeEvent) -> Trade:
    return Trade(trade_id=event.trade_id, time_ms=event.time_ms, price=event.price,
                 qty=event.qty, quote_qty=event.quote_qty, buyer_is_maker=event.buyer_is_maker)


@lru_cache(maxsize=1)
def components(settings: Settings) -> CandleServices:
    """Clients kept across invocations of a warm Lambda (one set per settings)."""
    return bootstrap_candles(settings)


@tracer.capture_method
def apply_trades(parts: CandleServices, trades: Mapping[str, Sequence[Trade]]) -> FoldResult:
    """Fold in PostgreSQL, then write the committed candles to Redis and Kafka (but the
    candles already sent final: see the module doc)."""
    result = parts.repository.fold(trades)
    if result.candles:
        parts.recent.put(result.candles)
        sent = parts.finals.sent_before(sorted(trades))
        parts.events.publish(_unsent([*result.candles, *result.seconds], sent),
                             _unsent(result.closed, sent))
        parts.finals.advance({m: max(t.time_ms for t in ts) for m, ts in trades.items() if ts})
    return result


@tracer.capture_method
def close_ended(parts: CandleServices, marks: Mapping[str, int]) -> int:
    """Send final each market's candles that ended before its time mark and were not
    yet; return how many."""
    closed = 0
    for market, mark_ms in sorted(marks.items()):
        with parts.repository.ended(market, mark_ms) as ended:
            final = _unsent(ended, parts.finals.sent_before([market]))
            if final:
                closed += parts.events.publish([], final)
            parts.finals.advance({market: mark_ms})
    return closed


def _unsent(candles: Sequence[Candle], sent_before: Mapping[str, int]) -> list[Candle]:
    """The candles that may still change or close: those that ended before their
    market's ``klines_final`` time were sent final already."""
    return [c for c in candles if c.close_time >= sent_before.get(c.market, 0)]


def _flatten(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Lambda's MSK records ({"topic-partition": [record, ...]}) as one list."""
    return [r for records in event.get("records", {}).values() for r in records]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = _flatten(event)
    with processor(records=records, handler=decode_record):
        outcomes = processor.process()
    trades: dict[str, list[Trade]] = defaultdict(list)
    marks: dict[str, TimeMarkEvent] = {}
    traces = BatchTraces()
    for status, decoded, _ in outcomes:
        if status == "success" and isinstance(decoded, TradeEvent):
            trades[decoded.market].append(candle_trade(decoded))
        elif status == "success" and isinstance(decoded, TimeMarkEvent):
            marks[decoded.market] = decoded  # a market's marks come in time order
    for record in records:
        traces.add(KafkaEventRecord(record))
    parts = components(get_settings())
    try:
        for market, mark in marks.items():
            trades[market] += parts.repository.unfolded(market, mark.last_trade_id)
        result = apply_trades(parts, trades)
        closed_on_time = close_ended(parts, {m: mark.time_ms for m, mark in marks.items()})
    except Exception as error:  # the whole batch is redelivered
        if isinstance(error, redis.RedisError):
            metrics.inc(REDIS_PUBLISH_FAILURES, service=SERVICE)
        metrics.inc(FUNCTION_BATCH_FAILURES, len(records), function=SERVICE)
        raise
    response = processor.response()
    failed = len(response["batchItemFailures"])
    metrics.inc(FUNCTION_RECORDS, len(records), function=SERVICE)
    metrics.inc(FUNCTION_BATCH_FAILURES, failed, function=SERVICE)
    traces.annotate(tracer)
    logger.info("batch folded", extra={
        "records": len(outcomes), "failed": failed,
        "trades_folded": result.folded_trades, "trades_skipped": result.skipped_trades,
        "candles_written": result.written_candles, "closed_on_time": closed_on_time,
        **traces.log_fields()})
    return response
