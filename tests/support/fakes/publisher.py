"""The order publisher's fake: a broker that holds what it acknowledges."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chalicelib.domain.command_trace import CommandTrace
from chalicelib.domain.order_commands import OrderCommand


class FakePublisher:
    """Acknowledges and holds every command while ``up``; out of reach, none."""

    def __init__(self) -> None:
        self.up = True
        self.published: list[OrderCommand] = []
        self.traces: dict[int, CommandTrace] = {}

    def publish(self, commands: Sequence[OrderCommand],
                traces: Mapping[int, CommandTrace] | None = None) -> list[int]:
        if not self.up:
            return []
        self.published.extend(commands)
        self.traces.update(traces or {})
        return [command.command_id for command in commands]
