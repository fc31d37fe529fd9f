"""Which Redis the WebSocket subscriptions (``stream_subscriptions``) live in.

``ws:generation`` holds a random marker, written once (``SET NX``) and never expiring.
Redis restarted empty (or flushed) has lost every connection's subscriptions, and the
marker with them: whoever holds the WebSocket connections sees the marker missing or
changed and makes every client reconnect, so that it subscribes again rather than
waiting, connected, for streams that no longer reach it. ``noeviction`` (Redis's
default, and the stack's setting) never drops a key without a TTL, so the marker goes
only with the data.
"""

from __future__ import annotations

import uuid

import redis

GENERATION_KEY = "ws:generation"


class SubscriptionsGeneration:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def establish(self) -> str:
        """The marker, written now if there is none (every caller gets the same one)."""
        fresh = uuid.uuid4().hex
        held = self.redis.set(GENERATION_KEY, fresh, nx=True, get=True)
        return held.decode() if isinstance(held, bytes) else fresh

    def current(self) -> str | None:
        """The marker held, None once Redis lost it."""
        held = self.redis.get(GENERATION_KEY)
        return held.decode() if isinstance(held, bytes) else None
