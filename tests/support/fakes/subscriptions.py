"""The stream subscriptions' fakes: who listens to what, and the fan-out's progress."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence


class FakeSubscriptions:
    def __init__(self) -> None:
        self._channels: dict[str, set[str]] = {}
        self._listeners: dict[str, set[str]] = {}
        self._combined: set[str] = set()
        self._tags: dict[str, dict[str, str]] = {}
        self._subscription_ids: dict[str, int] = {}
        self._sessions: dict[str, dict[str, str]] = {}

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
        self._tags.pop(connection_id, None)
        self._subscription_ids.pop(connection_id, None)
        self._sessions.pop(connection_id, None)

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

    def tag(self, connection_id: str, channel: str, tag: str) -> None:
        self._tags.setdefault(connection_id, {})[tag] = channel

    def untag(self, connection_id: str, tags: Sequence[str]) -> None:
        for tag in tags:
            self._tags.get(connection_id, {}).pop(tag, None)

    def tags_of(self, connection_id: str) -> dict[str, str]:
        return dict(self._tags.get(connection_id, {}))

    def tagged(self, connection_ids: Collection[str], channel: str) -> dict[str, list[str]]:
        found = {c: sorted(t for t, ch in self._tags.get(c, {}).items() if ch == channel)
                 for c in connection_ids}
        return {c: tags for c, tags in found.items() if tags}

    def next_subscription_id(self, connection_id: str) -> int:
        issued = self._subscription_ids.get(connection_id, 0)
        self._subscription_ids[connection_id] = issued + 1
        return issued

    def set_session(self, connection_id: str, session: Mapping[str, str] | None) -> None:
        if session:
            self._sessions[connection_id] = dict(session)
        else:
            self._sessions.pop(connection_id, None)

    def session_of(self, connection_id: str) -> dict[str, str]:
        return dict(self._sessions.get(connection_id, {}))


def _discard(sets: dict[str, set[str]], key: str, member: str) -> None:
    """Remove a member; an emptied set goes, as Redis deletes an empty set's key."""
    held = sets.get(key)
    if held is None:
        return
    held.discard(member)
    if not held:
        del sets[key]


class FakeCancelClientIds:
    def __init__(self) -> None:
        self._ids: dict[tuple[int, str], str] = {}

    def record(self, user_id: int, order_id: int | None, client_order_id: str | None,
               cancel_client_id: str) -> None:
        name = str(order_id) if order_id is not None else f"c:{client_order_id}"
        self._ids[(user_id, name)] = cancel_client_id

    def take(self, user_id: int, order_id: int, client_order_id: str) -> str | None:
        by_id = self._ids.pop((user_id, str(order_id)), None)
        by_client_id = self._ids.pop((user_id, f"c:{client_order_id}"), None)
        return by_id or by_client_id


class FakeEventProgress:
    def __init__(self) -> None:
        self._last: dict[int, int] = {}
        self._from: dict[str, int] = {}

    def last_seq(self, order_id: int) -> int:
        return self._last.get(order_id, 0)

    def recorded_from(self, market: str, seq: int) -> int:
        return self._from.setdefault(market, seq)

    def record(self, order_id: int, seq: int) -> None:
        self._last[order_id] = seq
