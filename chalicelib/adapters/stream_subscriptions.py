"""Redis state of the WebSocket streams: who listens to what, and what the fan-out saw.

* ``ws:conn:{connection id}`` set: the channels that connection subscribed to;
* ``ws:chan:{channel}`` set: the connections subscribed to that channel;
* ``ws:order:{order id}``: the sequence of the last event of that order the fan-out
  handled; ``ws:order:from:{market}``: the market sequence from which those of the
  market's orders are recorded;
* ``ws:combined:{connection id}``: set for a connection that takes Binance's combined
  stream payloads (``{"stream": name, "data": payload}``);
* ``ws:tags:{connection id}`` hash: tag -> channel, how the connection takes a channel
  (a WebSocket API subscription ``sub:<id>``, a listenKey ``key:<listenKey>``), and
  ``ws:subid:{connection id}``: the count of its subscription ids handed out;
* ``ws:session:{connection id}`` hash: its WebSocket API session (``session.logon``).

A channel is a public stream's name (``btcusdt@trade``) or a user's private channel.
API Gateway ends a connection after two hours at most, so every key expires a while
after its last change: a connection whose ``$disconnect`` never ran cannot leak.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import redis

KEY_TTL_SECONDS = 3 * 3600
ORDER_PROGRESS_TTL_SECONDS = 7 * 86400

def _connection_key(connection_id: str) -> str:
    return f"ws:conn:{connection_id}"


def _channel_key(channel: str) -> str:
    return f"ws:chan:{channel}"


def _combined_key(connection_id: str) -> str:
    return f"ws:combined:{connection_id}"


def _tags_key(connection_id: str) -> str:
    return f"ws:tags:{connection_id}"


def _subscription_ids_key(connection_id: str) -> str:
    return f"ws:subid:{connection_id}"


def _session_key(connection_id: str) -> str:
    return f"ws:session:{connection_id}"


class StreamSubscriptions:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def add(self, connection_id: str, channels: Sequence[str]) -> None:
        if not channels:
            return
        pipe = self.redis.pipeline()
        pipe.sadd(_connection_key(connection_id), *channels)
        pipe.expire(_connection_key(connection_id), KEY_TTL_SECONDS)
        for channel in channels:
            pipe.sadd(_channel_key(channel), connection_id)
            pipe.expire(_channel_key(channel), KEY_TTL_SECONDS)
        pipe.execute()

    def remove(self, connection_id: str, channels: Sequence[str]) -> None:
        if not channels:
            return
        pipe = self.redis.pipeline()
        pipe.srem(_connection_key(connection_id), *channels)
        for channel in channels:
            pipe.srem(_channel_key(channel), connection_id)
        pipe.execute()

    def channels_of(self, connection_id: str) -> set[str]:
        members = self.redis.smembers(_connection_key(connection_id))
        return {m.decode() for m in members}  # type: ignore[union-attr]

    def drop_connection(self, connection_id: str) -> None:
        """Forget a closed (or gone) connection and all its subscriptions."""
        self.remove(connection_id, sorted(self.channels_of(connection_id)))
        self.redis.delete(_connection_key(connection_id), _combined_key(connection_id),
                          _tags_key(connection_id), _subscription_ids_key(connection_id),
                          _session_key(connection_id))

    def set_combined(self, connection_id: str, combined: bool = True) -> None:
        if combined:
            self.redis.set(_combined_key(connection_id), 1, ex=KEY_TTL_SECONDS)
        else:
            self.redis.delete(_combined_key(connection_id))

    def combined(self, connection_ids: Collection[str]) -> set[str]:
        """Those of the connections that take combined stream payloads."""
        ordered = sorted(connection_ids)
        if not ordered:
            return set()
        flags = self.redis.mget([_combined_key(c) for c in ordered])
        return {c for c, flag in zip(ordered, flags, strict=True) if flag}

    def subscribers(self, channels: Collection[str]) -> dict[str, set[str]]:
        """The connections of each channel that has any."""
        ordered = list(channels)
        pipe = self.redis.pipeline(transaction=False)
        for channel in ordered:
            pipe.smembers(_channel_key(channel))
        replies = pipe.execute()
        return {channel: {m.decode() for m in members}
                for channel, members in zip(ordered, replies, strict=True) if members}

    def tag(self, connection_id: str, channel: str, tag: str) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(_tags_key(connection_id), tag, channel)
        pipe.expire(_tags_key(connection_id), KEY_TTL_SECONDS)
        pipe.execute()

    def untag(self, connection_id: str, tags: Sequence[str]) -> None:
        if tags:
            self.redis.hdel(_tags_key(connection_id), *tags)

    def tags_of(self, connection_id: str) -> dict[str, str]:
        held = self.redis.hgetall(_tags_key(connection_id))
        return {t.decode(): c.decode() for t, c in held.items()}  # type: ignore[union-attr]

    def tagged(self, connection_ids: Collection[str], channel: str) -> dict[str, list[str]]:
        ordered = sorted(connection_ids)
        pipe = self.redis.pipeline(transaction=False)
        for connection_id in ordered:
            pipe.hgetall(_tags_key(connection_id))
        found = {}
        for connection_id, held in zip(ordered, pipe.execute(), strict=True):
            tags = sorted(t.decode() for t, c in held.items() if c.decode() == channel)
            if tags:
                found[connection_id] = tags
        return found

    def next_subscription_id(self, connection_id: str) -> int:
        key = _subscription_ids_key(connection_id)
        pipe = self.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, KEY_TTL_SECONDS)
        return int(pipe.execute()[0]) - 1

    def set_session(self, connection_id: str, session: Mapping[str, str] | None) -> None:
        key = _session_key(connection_id)
        pipe = self.redis.pipeline()
        pipe.delete(key)
        if session:
            for name, value in session.items():
                pipe.hset(key, name, value)
            pipe.expire(key, KEY_TTL_SECONDS)
        pipe.execute()

    def session_of(self, connection_id: str) -> dict[str, str]:
        held = self.redis.hgetall(_session_key(connection_id))
        return {k.decode(): v.decode() for k, v in held.items()}  # type: ignore[union-attr]


class CancelClientIds:
    """``ws:cancel:{user}:{order id}`` or ``ws:cancel:{user}:c:{client order id}``: the
    client id a cancel request chose, until its report is built (or 10 minutes)."""

    TTL_SECONDS = 600

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def record(self, user_id: int, order_id: int | None, client_order_id: str | None,
               cancel_client_id: str) -> None:
        name = str(order_id) if order_id is not None else f"c:{client_order_id}"
        self.redis.set(f"ws:cancel:{user_id}:{name}", cancel_client_id, ex=self.TTL_SECONDS)

    def take(self, user_id: int, order_id: int, client_order_id: str) -> str | None:
        pipe = self.redis.pipeline()
        pipe.getdel(f"ws:cancel:{user_id}:{order_id}")
        pipe.getdel(f"ws:cancel:{user_id}:c:{client_order_id}")
        found = [v for v in pipe.execute() if isinstance(v, bytes)]
        return found[0].decode() if found else None


class OrderEventProgress:
    """The last event of each order the fan-out handled: an execution report covers the
    trades since the order's previous event, and an event seen again is not resent.
    Each order's events come from one partition (key = user), so one writer at a time."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def last_seq(self, order_id: int) -> int:
        """The sequence of the order's last handled event (0: none yet)."""
        return int(self.redis.get(f"ws:order:{order_id}") or 0)

    def recorded_from(self, market: str, seq: int) -> int:
        """No TTL: under ``noeviction`` the mark goes only with the records, when Redis
        restarts empty, and the next order event of the market sets it anew."""
        held = self.redis.set(f"ws:order:from:{market}", seq, nx=True, get=True)
        return int(held) if isinstance(held, bytes) else seq

    def record(self, order_id: int, seq: int) -> None:
        self.redis.set(f"ws:order:{order_id}", seq, ex=ORDER_PROGRESS_TTL_SECONDS)
