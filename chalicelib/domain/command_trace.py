"""What an order command carries besides itself: the correlation id of the request that
placed it and when the API accepted it, sent as the Kafka message's headers
(``chalicelib.domain.tracing``). The matcher logs the id with the batch that settles the
command and measures the end-to-end latency from the accept time."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.tracing import ACCEPTED_AT_HEADER, KAFKA_HEADER


@dataclass(frozen=True)
class CommandTrace:
    correlation_id: str
    accepted_at_ms: int
    """When the API committed the command, in Unix milliseconds."""

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        return [(KAFKA_HEADER, self.correlation_id.encode()),
                (ACCEPTED_AT_HEADER, str(self.accepted_at_ms).encode())]


def swept_correlation_id(command_id: int) -> str:
    """The correlation id of a command the sweeper publishes: the request's own is not
    stored, and this one names where the message came from and is the same on every
    sweep of the command."""
    return f"sweep-{command_id}"
