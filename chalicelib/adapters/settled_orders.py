"""Word of settled orders over Redis pub/sub, from the matcher to waiting API requests.

After each commit the matcher publishes the ids of the orders its batch settled on one
channel (``settled_channel``); a RESULT or FULL answer waits for its order's id instead
of polling PostgreSQL. Not PostgreSQL's LISTEN: in AWS the API reaches Aurora through RDS
Proxy, where LISTEN pins a session per waiting request.

A process holds one subscription (``SettledOrderNotices``), opened on first use and kept
across requests (a Lambda container reuses it), read by one listener thread that wakes
the requests waiting on the ids a message names. The word is a hint, never the answer:
a waiter reads the order from PostgreSQL when told, and once more at its deadline, so a
lost message (Redis restarted, the subscription dropped) only makes the answer late.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager

import redis

log = logging.getLogger(__name__)

# How long the listener blocks on the socket before checking whether it should stop.
LISTEN_TIMEOUT_S = 1.0
# How long the first watch waits for Redis to confirm the subscription.
SUBSCRIBE_TIMEOUT_S = 2.0
# Pause after a failed read, so that Redis out of reach is not retried in a busy loop.
RETRY_PAUSE_S = 0.5
# While the subscription is down no word can come: waiters look at their orders this often.
DEAF_POLL_S = 0.05


def settled_channel(client: redis.Redis) -> str:
    """The channel of the Redis database ``client`` uses: channels span databases, and
    processes on different databases (tests, environments) must not wake each other."""
    return f"order-settled:{client.connection_pool.connection_kwargs.get('db', 0)}"


def encode_settled(order_ids: Iterable[int]) -> bytes:
    return ",".join(map(str, order_ids)).encode()


def decode_settled(payload: bytes | str) -> list[int]:
    text = payload.decode() if isinstance(payload, bytes) else payload
    return [int(part) for part in text.split(",") if part]


class _Notice:
    def __init__(self, deaf: threading.Event) -> None:
        self._event = threading.Event()
        self._deaf = deaf

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout_s: float) -> bool:
        if self._deaf.is_set():
            self._event.wait(min(max(timeout_s, 0.0), DEAF_POLL_S))
            self._event.clear()
            return True
        told = self._event.wait(max(timeout_s, 0.0))
        self._event.clear()
        return told


class SettledOrderNotices:
    """Waiters by order id, woken by one listener thread on the process's subscription."""

    def __init__(self, client: redis.Redis, channel: str | None = None) -> None:
        self._client = client
        self._channel = channel or settled_channel(client)
        self._lock = threading.Lock()
        self._waiters: dict[int, set[_Notice]] = {}
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._deaf = threading.Event()  # set while the subscription is down

    @property
    def channel(self) -> str:
        return self._channel

    @contextmanager
    def watch(self, order_ids: Collection[int]) -> Iterator[_Notice]:
        self._listen()
        notice = _Notice(self._deaf)
        with self._lock:
            for order_id in order_ids:
                self._waiters.setdefault(order_id, set()).add(notice)
        try:
            yield notice
        finally:
            with self._lock:
                for order_id in order_ids:
                    waiting = self._waiters.get(order_id)
                    if waiting is not None:
                        waiting.discard(notice)
                        if not waiting:
                            del self._waiters[order_id]

    def close(self) -> None:
        """Stop listening: the listener closes the subscription within
        ``LISTEN_TIMEOUT_S``, so that closing never waits on it."""
        self._closed.set()

    def _listen(self) -> None:
        """Subscribe and start the listener, once: a failure leaves waiters to their
        deadline read and is tried again by the next watch."""
        with self._lock:
            if self._thread is not None:
                return
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self._channel)
                # Only once Redis confirms is a message published after this one seen.
                pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT_S)
            except redis.RedisError:
                log.warning("settled orders subscription failed; waits look at their"
                            " orders every %s s", DEAF_POLL_S, exc_info=True)
                self._deaf.set()
                pubsub.close()
                return
            self._deaf.clear()
            self._thread = threading.Thread(target=self._run, args=(pubsub,),
                                            name="settled-orders", daemon=True)
            self._thread.start()

    def _run(self, pubsub: redis.client.PubSub) -> None:
        try:
            self._listen_on(pubsub)
        finally:
            pubsub.close()

    def _listen_on(self, pubsub: redis.client.PubSub) -> None:
        while not self._closed.is_set():
            try:
                # redis-py reconnects and subscribes again after a lost connection.
                message = pubsub.get_message(timeout=LISTEN_TIMEOUT_S)
            except redis.RedisError:
                log.warning("settled orders subscription lost; waits look at their orders"
                            " every %s s until it is back", DEAF_POLL_S, exc_info=True)
                self._deaf.set()
                self._closed.wait(RETRY_PAUSE_S)
                continue
            self._deaf.clear()
            if message is None or message.get("type") != "message":
                continue
            try:
                self._wake(message["data"])
            except ValueError:  # not a list of ids: nobody's word, and no reason to stop
                log.warning("settled orders message ignored", extra={
                    "payload": repr(message["data"])[:100]})

    def _wake(self, payload: bytes | str) -> None:
        if not self._waiters:  # most messages: no request of this process is waiting
            return
        with self._lock:
            for order_id in decode_settled(payload):
                for notice in self._waiters.get(order_id, ()):
                    notice.set()
