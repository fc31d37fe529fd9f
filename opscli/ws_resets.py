"""The local gateway's watch on Redis losing the WebSocket subscriptions.

Who listens to which stream lives in Redis only (``adapters.stream_subscriptions``).
Redis restarted empty leaves every client connected and subscribed to nothing: the
fan-out finds no subscriber and the client, never told, waits for ever. So the gateway
checks the subscriptions' generation marker (``adapters.stream_generation``, one GET)
every second; when it is missing or changed, it closes every connection with 1012
("service restart") and writes the marker anew. The clients reconnect and subscribe
again: python-binance by itself (tests/e2e/clients/test_stream_resets_clients.py),
binance-connector's application from its ``on_close``, CCXT Pro on the next ``watch``
after the one the close failed. A check that fails (Redis down) changes nothing: the
check after Redis is back decides.

Why not in AWS: API Gateway holds the sockets there, and it lists a WebSocket API's
connections to nobody; their ids are in this same Redis only, so once it lost them
nothing knows which connections to close (a handler runs only when its own client
writes, which a stream client does once, to subscribe). Keeping the ids elsewhere
(DynamoDB) for this fault alone is not worth it: ElastiCache with a replica and
Multi-AZ keeps its data through a node's failure (the replica is promoted), so the
empty restart is a fault of the local single Redis, or of losing a whole cluster. There
API Gateway still closes a connection that carries no message for 10 minutes (its idle
timeout; a client's own messages keep it open) and every connection at two hours, and
the clients reconnect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis

from chalicelib.adapters.stream_generation import SubscriptionsGeneration

log = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 1.0
SERVICE_RESTART = 1012
"""RFC 6455's "service restart": the client should reconnect (after a moment)."""
SUBSCRIPTIONS_LOST = "subscriptions lost (Redis restarted empty): reconnect and subscribe"

CloseAll = Callable[[int, str], Awaitable[int]]
"""Close every connection with (code, reason); answers how many there were."""


class SubscriptionsWatch:
    def __init__(self, generation: SubscriptionsGeneration,
                 interval_seconds: float = CHECK_INTERVAL_SECONDS) -> None:
        self.generation = generation
        self.interval_seconds = interval_seconds
        self.known: str | None = None

    async def run(self, close_all: CloseAll) -> None:
        """Check, and close every connection on a lost marker, until cancelled."""
        while True:
            if await asyncio.to_thread(self.subscriptions_lost):
                closed = await close_all(SERVICE_RESTART, SUBSCRIPTIONS_LOST)
                log.warning("Redis lost the stream subscriptions: closed %d connections "
                            "(1012) for their clients to subscribe again", closed)
            await asyncio.sleep(self.interval_seconds)

    def subscriptions_lost(self) -> bool:
        """Whether the marker went since the last check; the marker is (re)written."""
        try:
            if self.known is not None and self.generation.current() == self.known:
                return False
            lost = self.known is not None
            self.known = self.generation.establish()
        except redis.RedisError as error:
            log.warning("cannot check the stream subscriptions' marker: %s", error)
            return False
        return lost
