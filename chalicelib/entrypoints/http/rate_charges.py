"""A request's rate-limit charges: its IP's weight, its API key's weight and, for new
orders, its account's order count, refused in that order (-1003, -1003, -1015; HTTP 429).

Each is charged before the request first reads or writes the database, so that a flood
is refused before it costs PostgreSQL anything. Most requests charge their IP's weight
first thing, and their API key's right after the signature. A single order placement
whose API key this container read recently reads nothing before its write, so it
charges all three in one Redis round trip right before that write (``DEFERRED_ROUTES``);
what it leaves uncharged by failing sooner (a bad signature, a malformed parameter) is
charged as it is answered. A request over its IP's weight charges nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from chalicelib.bootstrap import Services
from chalicelib.domain.errors import ApiError, too_many_requests
from chalicelib.domain.rate_limits import Counter
from chalicelib.service_layer import order_limits

DEFERRED_ROUTES = frozenset({("POST", "/api/v3/order")})


@dataclass
class RequestCharges:
    """What the request has yet to charge, and its IP's weight once charged."""

    svc: Services
    ip_weight: Counter | None = None
    key_weight: Counter | None = None
    ip_used: int = 0

    def charge_ip(self, ip: str, weight: int) -> None:
        limit = self.svc.settings.ip_weight_per_minute
        self.ip_weight = self.svc.weights.counter(f"ip:{ip}", weight, limit)

    def charge_key(self, key_id: int) -> None:
        limit = self.svc.settings.api_key_weight_per_minute
        self.key_weight = self.svc.weights.counter(f"key:{key_id}", 1, limit)

    def settle(self) -> None:
        """Charge what is pending now; a 429 if it is over a limit."""
        self._charge([])

    def count_new_orders(self, user_id: int, orders: int = 1) -> order_limits.OrderCounts:
        """Charge what is pending and count ``orders`` new orders of the account: its
        counts, or -1015 (429) when they are over a limit."""
        windows = self.svc.order_counts.counters(order_limits.bucket(user_id),
                                                 order_limits.WINDOWS_S, orders)
        counts = self._charge(windows)
        return order_limits.checked_counts(order_limits.OrderCounts(tuple(counts)))

    def _charge(self, then: list[Counter]) -> list[int]:
        weights = [c for c in (self.ip_weight, self.key_weight) if c is not None]
        if not weights and not then:
            return []
        ip_weight, key_weight = self.ip_weight, self.key_weight
        self.ip_weight = self.key_weight = None
        used = iter(self.svc.weights.counters.charge([*weights, *then]))
        if ip_weight is not None:
            self.ip_used = next(used)
            if self.ip_used > self.svc.settings.ip_weight_per_minute:
                raise self._refused(ip_weight_message(self.svc.settings.ip_weight_per_minute))
        if key_weight is not None and next(used) > self.svc.settings.api_key_weight_per_minute:
            raise self._refused(key_weight_message(self.svc.settings.api_key_weight_per_minute))
        return list(used)

    def _refused(self, message: str) -> ApiError:
        return too_many_requests(message, retry_after=self.svc.weights.seconds_left())


def ip_weight_message(limit: int) -> str:
    return (f"Too much request weight used; current limit is {limit} request weight per "
            "1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.")


def key_weight_message(limit: int) -> str:
    return f"Too much request weight used on this API key; the limit is {limit} per minute."


_current: ContextVar[RequestCharges | None] = ContextVar("request_charges", default=None)


def current(svc: Services) -> RequestCharges:
    """The charges of the request being answered (charged as they come, outside one)."""
    return _current.get() or RequestCharges(svc)


@contextmanager
def answering(charges: RequestCharges) -> Iterator[RequestCharges]:
    """``charges`` are the current request's while it is answered."""
    token = _current.set(charges)
    try:
        yield charges
    finally:
        _current.reset(token)
