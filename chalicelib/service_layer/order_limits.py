"""Binance's ORDERS rate limits: new orders per account in 10 seconds and in a day.

The limits are exchangeInfo's (``exchange_info.RATE_LIMITS``), so what clients read is
what is enforced. Every order placement counts once, before anything is reserved; one
over a limit is refused with -1015 and HTTP 429, and changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.service_layer.exchange_info import RATE_LIMITS

INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
# Binance's header suffix for each interval letter.
INTERVAL_LETTERS = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}


class OrderCounter(Protocol):
    def peek(self, bucket: str, windows_s: tuple[int, ...]) -> list[int]: ...


@dataclass(frozen=True)
class OrderLimit:
    interval: str
    interval_num: int
    limit: int

    @property
    def seconds(self) -> int:
        return INTERVAL_SECONDS[self.interval] * self.interval_num

    @property
    def header(self) -> str:
        return f"X-MBX-ORDER-COUNT-{self.interval_num}{INTERVAL_LETTERS[self.interval]}"


ORDER_LIMITS = tuple(OrderLimit(interval, num, limit)
                     for kind, interval, num, limit in RATE_LIMITS if kind == "ORDERS")
WINDOWS_S = tuple(limit.seconds for limit in ORDER_LIMITS)


@dataclass(frozen=True)
class OrderCounts:
    """An account's new orders in each ORDERS window."""

    counts: tuple[int, ...]

    def headers(self) -> dict[str, str]:
        return {limit.header: str(count)
                for limit, count in zip(ORDER_LIMITS, self.counts, strict=True)}

    def rate_limits(self) -> list[dict[str, object]]:
        """`GET /api/v3/rateLimit/order`'s answer."""
        return [{"rateLimitType": "ORDERS", "interval": limit.interval,
                 "intervalNum": limit.interval_num, "limit": limit.limit, "count": count}
                for limit, count in zip(ORDER_LIMITS, self.counts, strict=True)]


NO_ORDERS = OrderCounts((0,) * len(ORDER_LIMITS))


@dataclass(eq=False)
class TooManyOrdersError(ApiError):
    """-1015 with the counts, whose headers the answer still carries."""

    counts: OrderCounts = NO_ORDERS

    def headers(self) -> dict[str, str]:
        return {**super().headers(), **self.counts.headers()}


def bucket(user_id: int) -> str:
    return f"user:{user_id}"


def checked_counts(counts: OrderCounts) -> OrderCounts:
    """The account's counts with its new orders counted; -1015 (429) when they are over
    a limit."""
    for limit, count in zip(ORDER_LIMITS, counts.counts, strict=True):
        if count > limit.limit:
            raise TooManyOrdersError(
                429, ErrorCode.TOO_MANY_ORDERS,
                f"Too many new orders; current limit is {limit.limit} orders per "
                f"{limit.interval_num} {limit.interval}.", counts=counts)
    return counts


def current_counts(counter: OrderCounter, user_id: int) -> OrderCounts:
    return OrderCounts(tuple(counter.peek(bucket(user_id), WINDOWS_S)))
