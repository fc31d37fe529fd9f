"""One correlation id follows an order from its HTTP request to its fan-out.

The API takes the client's ``X-Correlation-Id`` when it is well formed, or makes one; it
answers with it, logs it, and sends it with the order's command as a Kafka header. The
matcher logs it with the batch that settles the order and copies it, with the time the
API accepted the order, onto the events it publishes; the fan-out logs it when it sends
them. ``exchange logs --order ID`` (opscli) follows it through the local logs.
"""

from __future__ import annotations

import re
import uuid

# HTTP header (case-insensitive) and Kafka header (bytes, exact) of the correlation id.
HTTP_HEADER = "X-Correlation-Id"
KAFKA_HEADER = "x-correlation-id"
# Kafka header: when the API accepted the command, in Unix milliseconds (end-to-end latency).
ACCEPTED_AT_HEADER = "x-accepted-at-ms"
# The AWS X-Ray trace header, carried through Kafka so the matcher's and the functions'
# segments join the request's trace.
TRACE_HEADER = "x-amzn-trace-id"
# The field name every structured log line uses for it.
LOG_FIELD = "correlation_id"

_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def correlation_id(offered: str | None) -> str:
    """The client's id when it is well formed (at most 64 safe characters), else a new one."""
    if offered and _WELL_FORMED.fullmatch(offered):
        return offered
    return new_correlation_id()


def new_correlation_id() -> str:
    return uuid.uuid4().hex
