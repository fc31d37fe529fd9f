"""The stream subscriptions' fakes: who listens to what, and the fan-out's progress."""

from __future__ import annotations

from collections.abc import Collection, Sequence


class FakeSubscriptions:
    def __init__(self) -> None:
        self._channels: dict[str, set[str]] = {}
        self._listeners: dict[str, set[str]] = {}
        self._combined: set[str] = set()

    def add(self, connection_id: str, channels: Sequence[str]) -> None:
        for channel in channels:
            self._channels.setdefault(connection_id, set()).add(channel)
            self._listeners.setdefault(channel, set()).add(connection_id)

    def remove(self, connection_id: str, channels: Sequence[str]) -> None:
        for channel in channels:
            _discard(self._channels, connection_id, channel)
            _discard(self._listeners, channel, connection_id)

    def channels_of(self, connection_id: str) -> set[str]:
        return set(self._channels.get(connection_id, ()))

    def drop_connection(self, connection_id: str) -> None:
        self.remove(connection_id, sorted(self.channels_of(connection_id)))
        self._combined.discard(connection_id)

    def set_combined(self, connection_id: str, combined: bool = True) -> None:
        if combined:
            self._combined.add(connection_id)
        else:
            self._combined.discard(connection_id)

    def combined(self, connection_ids: Collection[str]) -> set[str]:
        return set(connection_ids) & self._combined

    def subscribers(self, channels: Collection[str]) -> dict[str, set[str]]:
        return {channel: set(self._listeners[channel]) for channel in channels
                if channel in self._listeners}


def _discard(sets: dict[str, set[str]], key: str, member: str) -> None:
    """Remove a member; an emptied set goes, as Redis deletes an empty set's key."""
    held = sets.get(key)
    if held is None:
        return
    held.discard(member)
    if not held:
        del sets[key]


class FakeEventProgress:
    def __init__(self) -> None:
        self._last: dict[int, int] = {}

    def last_seq(self, order_id: int) -> int:
        return self._last.get(order_id, 0)

    def record(self, order_id: int, seq: int) -> None:
        self._last[order_id] = seq
