"""Order intake: the use cases behind Binance's order endpoints.

Each records its command in one transaction (``orders``), publishes it once that has
committed and then, when asked, waits for the matcher's outcome. Nothing marks a command
published: the matcher's ``applied_at`` says which it has, and the sweeper republishes
those it has not applied after a while (``republish_stuck``; the matcher applies each
command once, so a command sent twice is harmless).

The caller passes what the order's amounts mean in the market's units as a function of
the market (``describe``, ``new_qty``): parsing stays at the edge, yet the market is
read once, inside the use case. A placement takes it from the recently read markets when
it can, and then costs one round trip to PostgreSQL and one publish.

Each transaction here has no effect outside the database, so one whose connection was
lost before its commit runs again whole (``retries.in_transaction``): placing and
cancelling are safe to re-run as nothing committed, and a placement is unique by its
client order id besides. A connection lost during the commit is not retried (it may
have committed): the client gets a 503 -1007, and its retry with the same client order
id is answered as a duplicate instead of placing the order twice.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, TypeVar

from chalicelib.adapters import orders_repo
from chalicelib.domain.command_trace import CommandTrace, swept_correlation_id
from chalicelib.domain.errors import ApiError, BackendUnavailableError, ErrorCode
from chalicelib.domain.market_rules import rejection
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import (
    OPEN_STATUSES,
    Market,
    NewOrder,
    OrderStatus,
    RejectReason,
)
from chalicelib.domain.tracing import new_correlation_id
from chalicelib.service_layer import Conn, correlation, orders
from chalicelib.service_layer.ports import CommandPublisher, SettledNotice, SettledOrders
from chalicelib.service_layer.recently_read import RecentlyRead
from chalicelib.service_layer.retries import UnitOfWork as UnitOfWork
from chalicelib.service_layer.retries import in_transaction

log = logging.getLogger(__name__)

MARKET_READS = 3
"""How often a placement reads a market that keeps changing under it before giving up."""
T = TypeVar("T")


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float, /) -> None: ...


@dataclass(frozen=True)
class Intake:
    """What the use cases need from outside."""

    db: UnitOfWork
    publisher: CommandPublisher
    clock: Clock
    result_wait_s: float
    """How long to wait for the matcher's outcome before answering with the order as is."""
    markets: RecentlyRead[Market] | None = None
    """Markets kept between placements (None: each placement reads its market)."""
    single_write: UnitOfWork | None = None
    """Where a placement's one statement runs in one round trip (autocommit; a lost
    connection is not retried); None: in a transaction of ``db``."""
    settled: SettledOrders | None = None
    """Word from the matcher of the orders it settled; None: a wait reads the order
    when it starts and again at its deadline."""


class Wait(Enum):
    """How much of the matcher's outcome a placement waits for."""

    NOTHING = "nothing"
    MATCHED = "matched"
    FILLS = "fills"


@dataclass(frozen=True)
class Placement:
    market: Market
    order: NewOrder
    order_id: int
    matched: dict[str, Any] | None
    """The order once matched (or when the wait ran out); None when not waited for."""
    fills: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class OrderKey:
    """One of a user's orders, by id or else by client order id."""

    user_id: int
    symbol: str
    order_id: int | None
    client_order_id: str | None


@dataclass(frozen=True)
class Amendment:
    market: Market
    command_id: int
    order: dict[str, Any]


def validate(intake: Intake, symbol: str, describe: Callable[[Market], NewOrder]) -> None:
    """Everything placing the order checks, with nothing placed."""

    def check(conn: Conn) -> None:
        market = orders.load_market(conn, symbol)
        orders.check_new_order(conn, market, describe(market))

    in_transaction(intake.db, check)


def place(intake: Intake, symbol: str, describe: Callable[[Market], NewOrder],
          wait: Wait) -> Placement:
    market, order, order_id, command = record_placement(intake, symbol, describe)
    if wait is Wait.NOTHING:
        publish(intake, [command])
        return Placement(market, order, order_id, None)
    with watch(intake, [order_id]) as notice:
        publish(intake, [command])
        # Published only now, it cannot have settled before the watch: the first read is
        # the one the matcher's word (or the deadline) calls for.
        [matched] = wait_for(intake, notice, order.user_id, symbol, [order_id], is_matched,
                             read_first=notice is None)
    if wait is Wait.MATCHED:
        return Placement(market, order, order_id, matched)
    fills = after_commit(intake, lambda conn: orders.user_trades(
        conn, order.user_id, symbol, order_id=order_id))
    return Placement(market, order, order_id, matched, fills)


def record_placement(intake: Intake, symbol: str, describe: Callable[[Market], NewOrder]
                     ) -> tuple[Market, NewOrder, int, OrderCommand]:
    """Check and record the order against the market, a kept one if any: a refusal or
    a change found by a kept market is tried again on a fresh read."""
    kept = intake.markets.get(symbol) if intake.markets is not None else None
    for _ in range(MARKET_READS):
        market = kept or in_transaction(intake.db, lambda conn: orders.load_market(conn, symbol))
        try:
            order = describe(market)
            orders.check_before_reserving(market, order)
        except ApiError:
            if kept is None:
                raise
            forget(intake, symbol)
            kept = None
            continue
        try:
            order_id, command = in_transaction(
                intake.single_write or intake.db,
                functools.partial(record, market=market, order=order))
        except orders.StaleMarketError:
            forget(intake, symbol)
            kept = None
            continue
        if intake.markets is not None:
            intake.markets.keep(symbol, market)
        return market, order, order_id, command
    raise orders.StaleMarketError(symbol)


def record(conn: Conn, *, market: Market, order: NewOrder) -> tuple[int, OrderCommand]:
    return orders.record_order(conn, market, order)


def forget(intake: Intake, symbol: str) -> None:
    if intake.markets is not None:
        intake.markets.forget(symbol)


def cancel(intake: Intake, key: OrderKey) -> tuple[Market, dict[str, Any]]:
    """The market and the order once cancelled (or as it is when the wait ran out)."""
    def request(conn: Conn) -> tuple[Market, dict[str, Any], OrderCommand]:
        market, order = open_order(conn, key, if_closed=rejection(RejectReason.UNKNOWN_ORDER))
        return market, order, orders.request_cancel(conn, key.user_id, key.symbol, order["id"])

    market, order, command = in_transaction(intake.db, request)
    with watch(intake, [order["id"]]) as notice:
        publish(intake, [command])
        [closed] = wait_for(intake, notice, key.user_id, key.symbol, [order["id"]], is_closed)
    return market, closed


def cancel_all(intake: Intake, user_id: int, symbol: str) -> tuple[Market, list[dict[str, Any]]]:
    """The market and each of the user's open orders in it, once cancelled."""
    def request(conn: Conn) -> tuple[Market, list[dict[str, Any]], OrderCommand]:
        market = orders.load_market(conn, symbol)
        open_orders = orders.list_orders(conn, user_id, symbol, open_only=True)
        if not open_orders:
            raise rejection(RejectReason.UNKNOWN_ORDER)
        return market, open_orders, orders.request_cancel_all(conn, user_id, symbol)

    market, open_orders, command = in_transaction(intake.db, request)
    order_ids = [o["id"] for o in open_orders]
    with watch(intake, order_ids) as notice:
        publish(intake, [command])
        return market, wait_for(intake, notice, user_id, symbol, order_ids, is_closed)


def amend(intake: Intake, key: OrderKey, new_qty: Callable[[Market], int]) -> Amendment:
    """Reduce an open order's quantity, keeping its place in the queue."""
    def request(conn: Conn) -> tuple[Market, dict[str, Any], int, OrderCommand]:
        market, order = open_order(conn, key, if_closed=orders.no_such_order())
        qty = new_qty(market)
        return market, order, qty, orders.request_amend(conn, key.user_id, market, order, qty)

    market, order, qty, command = in_transaction(intake.db, request)
    with watch(intake, [order["id"]]) as notice:
        publish(intake, [command])
        [amended] = wait_for(
            intake, notice, key.user_id, key.symbol, [order["id"]],
            lambda o: o["quantity"] is not None and int(o["quantity"]) <= qty)
    return Amendment(market, command.command_id, amended)


def open_order(conn: Conn, key: OrderKey,
               if_closed: ApiError) -> tuple[Market, dict[str, Any]]:
    """The market and the open order the key names; ``if_closed`` when it is done."""
    market = orders.load_market(conn, key.symbol)
    order = orders.find_order(conn, key.user_id, key.symbol, order_id=key.order_id,
                              client_order_id=key.client_order_id)
    if is_closed(order):
        raise if_closed
    return market, order


def publish(intake: Intake, commands: list[OrderCommand]) -> None:
    """Publish committed commands, under the request's correlation id and accepted now;
    a 503 when the broker did not acknowledge them all."""
    trace = CommandTrace(correlation.current() or new_correlation_id(),
                         time.time_ns() // 1_000_000)
    delivered = intake.publisher.publish(commands,
                                         {command.command_id: trace for command in commands})
    if len(delivered) < len(commands):
        # The command is committed: the sweeper publishes it, and it applies once.
        raise status_unknown()


def status_unknown() -> ApiError:
    return ApiError(503, ErrorCode.BACKEND_TIMEOUT,
                    "Timeout waiting for response from backend server. Send status unknown;"
                    " execution status unknown.")


def after_commit(intake: Intake, read: Callable[[Conn], T]) -> T:
    """``read`` once the request's command is committed. An outage now answers -1007
    (status unknown), never -1001 ("nothing done, try again"): the matcher applies the
    command, and a client that sent the order again would have placed it twice. Tried
    once: retries would only hold the request longer (past the API's timeout, with a
    unit of work before), and the client can ask for the order."""
    try:
        return once(intake.db, read)
    except BackendUnavailableError as outage:
        raise status_unknown() from outage


def once(db: UnitOfWork, work: Callable[[Conn], T]) -> T:
    with db() as conn:
        return work(conn)


def republish_stuck(db: UnitOfWork, publisher: CommandPublisher,
                    older_than_s: int) -> tuple[int, int]:
    """Publish the commands the matcher has not applied ``older_than_s`` after they were
    committed (or last republished): how many there were and how many the broker
    acknowledged. A command the matcher was only slow to apply is sent twice, which is
    harmless: it applies each command once."""
    stuck = in_transaction(db, lambda conn: orders_repo.stuck_commands(conn, older_than_s))
    if not stuck:
        return 0, 0
    # The request's correlation id is not stored: the sweep's own names the command.
    traces = {command.command_id: CommandTrace(swept_correlation_id(command.command_id),
                                               accepted_at_ms)
              for command, accepted_at_ms in stuck}
    commands = [command for command, _ in stuck]
    delivered = publisher.publish(commands, traces)
    if delivered:
        try:
            # Once: if this is lost, the next sweep only sends them again sooner.
            once(db, lambda conn: orders_repo.mark_republished(conn, delivered))
        except BackendUnavailableError as outage:
            log.warning("republished commands left unmarked; the next sweep sends them"
                        " again", extra={"commands": delivered, "error": str(outage)})
    return len(stuck), len(delivered)


def wait_for(intake: Intake, notice: SettledNotice | None, user_id: int, symbol: str,
             order_ids: list[int], settled: Callable[[dict[str, Any]], bool], *,
             read_first: bool = True) -> list[dict[str, Any]]:
    """The orders once the matcher has settled them as ``settled`` says, or as they are
    when the wait runs out. Read now unless not ``read_first`` (the matcher may be done
    already), again whenever the matcher names one of them, and at the deadline: never
    polled. Their command is committed by then (``after_commit``)."""
    deadline = intake.clock.monotonic() + intake.result_wait_s
    if not read_first and notice is not None:
        notice.wait(intake.result_wait_s)
    while True:
        found = after_commit(intake, lambda conn: [
            orders.find_order(conn, user_id, symbol, order_id=order_id)
            for order_id in order_ids])
        remaining = deadline - intake.clock.monotonic()
        if all(settled(order) for order in found) or remaining <= 0:
            return found
        if notice is None:
            intake.clock.sleep(remaining)
        else:
            notice.wait(remaining)


@contextmanager
def watch(intake: Intake, order_ids: Collection[int]) -> Iterator[SettledNotice | None]:
    if intake.settled is None:
        yield None
        return
    with intake.settled.watch(order_ids) as notice:
        yield notice


def is_matched(order: dict[str, Any]) -> bool:
    return order["accepted_seq"] is not None or is_closed(order)


def is_closed(order: dict[str, Any]) -> bool:
    """Done: neither open nor an OTO's pending order (cancelling that ends its list)."""
    return order["status"] not in OPEN_STATUSES and order["status"] != OrderStatus.PENDING_NEW
