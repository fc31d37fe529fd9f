"""The correlation ids of the records one invocation of an MSK-triggered function handled.

The matcher puts the correlation id of the request that caused an event (and the X-Ray
trace header, in AWS) on the event's Kafka record (``chalicelib.domain.tracing``). A
function logs them once per batch, in one line (``correlation_ids``, ``trace_ids``),
and puts them on its X-Ray segment: an annotation when the batch came from one request,
metadata always. Locally the Tracer is disabled (``lambdas.msk_runner``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord

from chalicelib.domain.tracing import KAFKA_HEADER, LOG_FIELD, TRACE_HEADER


@dataclass
class BatchTraces:
    correlation_ids: dict[str, None] = field(default_factory=dict)  # in order, once each
    trace_ids: dict[str, None] = field(default_factory=dict)

    def add(self, record: KafkaEventRecord) -> None:
        if not record.get("headers"):
            return
        headers = record.decoded_headers
        correlation_id = headers.get(KAFKA_HEADER)
        if correlation_id:
            self.correlation_ids[correlation_id.decode(errors="replace")] = None
        trace_id = headers.get(TRACE_HEADER)
        if trace_id:
            self.trace_ids[trace_id.decode(errors="replace")] = None

    def log_fields(self) -> dict[str, Any]:
        """The fields of the batch's log line."""
        fields: dict[str, Any] = {"correlation_ids": list(self.correlation_ids)}
        if self.trace_ids:
            fields["trace_ids"] = list(self.trace_ids)
        return fields

    def annotate(self, tracer: Tracer) -> None:
        """Put the ids on the invocation's X-Ray segment (a no-op where tracing is off)."""
        if len(self.correlation_ids) == 1:
            tracer.put_annotation(LOG_FIELD, next(iter(self.correlation_ids)))
        if self.correlation_ids:
            tracer.put_metadata("correlation_ids", list(self.correlation_ids))
        if self.trace_ids:
            tracer.put_metadata("trace_ids", list(self.trace_ids))
