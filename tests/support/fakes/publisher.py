"""The order publisher's fake: a broker that holds what it acknowledges."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.domain.order_commands import OrderCommand


class FakePublisher:
    """Acknowledges and holds every command while ``up``; out of reach, none."""

    def __init__(self) -> None:
        self.up = True
        self.published: list[OrderCommand] = []

    def publish(self, commands: Sequence[OrderCommand]) -> list[int]:
        if not self.up:
            return []
        self.published.extend(commands)
        return [command.command_id for command in commands]
