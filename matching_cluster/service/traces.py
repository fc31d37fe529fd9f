"""The tracing headers of consumed commands (``chalicelib.domain.tracing``).

The API sends each command with its request's correlation id, the time it accepted the
command and, in AWS, the X-Ray trace header. The matcher logs the ids with the batch
that settles the commands (``settled``), measures the end-to-end latency from the
accept to the commit, and copies the headers onto the events each command causes
(``publishing``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import CommandKind
from chalicelib.domain.tracing import ACCEPTED_AT_HEADER, KAFKA_HEADER, TRACE_HEADER

from .batch import LISTS

KafkaHeaders = tuple[tuple[str, bytes], ...]
# What confluent-kafka's Message.headers() answers.
ReceivedHeaders = list[tuple[str, str | bytes | None]] | dict[str, str | bytes | None] | None
_CARRIED = (KAFKA_HEADER, ACCEPTED_AT_HEADER, TRACE_HEADER)


@dataclass(frozen=True, slots=True)
class CommandHeaders:
    correlation_id: str
    accepted_at_ms: int | None
    """When the API accepted the command (Unix ms); None when it did not say."""
    kafka_headers: KafkaHeaders
    """The tracing headers as they came: the command's events carry them on."""


def command_headers(headers: ReceivedHeaders) -> CommandHeaders | None:
    """The tracing headers of a consumed message; None without a correlation id (a
    command published before tracing, or by a test)."""
    if not headers:
        return None
    correlation_id, accepted, kept = b"", b"", []
    for key, value in headers.items() if isinstance(headers, dict) else headers:
        if key in _CARRIED and value:
            raw = value.encode() if isinstance(value, str) else value
            kept.append((key, raw))
            if key == KAFKA_HEADER:
                correlation_id = raw
            elif key == ACCEPTED_AT_HEADER:
                accepted = raw
    if not correlation_id:
        return None
    return CommandHeaders(correlation_id.decode(errors="replace"),
                          int(accepted) if accepted.isdigit() else None, tuple(kept))


def command_order_ids(command: OrderCommand) -> list[int]:
    """The orders a command names (none for a CANCEL_ALL)."""
    if command.kind in LISTS:
        return [leg.order_id for leg in command.legs]
    if command.kind is CommandKind.CANCEL_REPLACE:
        return [command.order_id, command.new_order_id]
    if command.kind is CommandKind.CANCEL_ALL:
        return []
    return [command.order_id]


def order_causes(commands: Iterable[OrderCommand],
                 traces: Mapping[int, CommandHeaders]) -> dict[int, CommandHeaders]:
    """The headers of the command naming each order (by order id), for its events."""
    causes: dict[int, CommandHeaders] = {}
    for command in commands:
        headers = traces.get(command.command_id)
        if headers is not None:
            for order_id in command_order_ids(command):
                causes[order_id] = headers
    return causes


def sole_cause(commands: Sequence[OrderCommand],
               traces: Mapping[int, CommandHeaders]) -> CommandHeaders | None:
    """The headers of a market's update caused by one request alone (its depth event);
    None when several requests, or an untraced command, had a part in it."""
    first = traces.get(commands[0].command_id) if commands else None
    if first is None:
        return None
    for command in commands[1:]:
        headers = traces.get(command.command_id)
        if headers is None or headers.correlation_id != first.correlation_id:
            return None
    return first
