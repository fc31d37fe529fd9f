"""Withdrawals on the user's stream, as Binance sends them: a request takes the amount
from the free balance (``balanceUpdate`` with a negative delta, then
``outboundAccountPosition``), a rejection returns it (a positive ``balanceUpdate``), a
payout only empties the lock (``outboundAccountPosition`` alone); a repeated request
moves nothing and sends nothing. Withdrawals through python-binance's ``withdraw`` and
the connector's, the listenKey streamed through the connector's ``user_data``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient

from tests.e2e.clients.conftest import Trader, connector, python_binance
from tests.e2e.clients.streams_support import (  # noqa: F401 - fixtures
    WAIT_SECONDS,
    Inbox,
    assert_like_example,
    example,
    gateway,
    stream_url_fixture,
    streaming,
)
from tests.e2e.conftest import Caller, fund
from tests.support.ledger import assert_ledger_invariants
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]


@pytest.fixture
def withdrawer(api_url: str, admin: Caller, alice: Caller) -> Trader:
    """Alice with 1.5 BTC deposited and a key that may read and withdraw."""
    fund(admin, alice, "BTC", "1.5")
    key = alice.new_api_key(["READ", "WITHDRAW"], ["127.0.0.1"])
    return Trader(alice, key, python_binance(api_url, key), connector(api_url, key))


@pytest.fixture
def user_inbox(stream_url: str, withdrawer: Trader) -> Iterator[Inbox]:
    """The withdrawer's listenKey, subscribed on a bare ``/ws`` by the connector."""
    inbox = Inbox()
    client = SpotWebsocketStreamClient(stream_url=stream_url, on_message=inbox.on_message)
    try:
        client.user_data(listen_key=withdrawer.pb.stream_get_listen_key(), id=1)
        assert inbox.wait_reply(1) == {"result": None, "id": 1}
        yield inbox
    finally:
        client.stop()


def events_after(inbox: Inbox, count: int) -> list[dict[str, Any]]:
    return wait_until(lambda: list(inbox.events), until=lambda seen: len(seen) >= count,
                      timeout=WAIT_SECONDS, what=f"{count} user stream events")


def summary(event: dict[str, Any]) -> tuple[str, ...]:
    """A balanceUpdate's asset and delta; a position's BTC free and locked."""
    if event["e"] == "balanceUpdate":
        assert_like_example(event, example("user_balanceUpdate"))
        return event["e"], event["a"], event["d"]
    assert_like_example(event, example("user_outboundAccountPosition"))
    (btc,) = event["B"]
    return event["e"], btc["a"], btc["f"], btc["l"]


def test_withdrawals_requested_rejected_and_paid_out_reach_the_users_stream(
        user_inbox: Inbox, withdrawer: Trader, admin: Caller, db: Conn) -> None:
    rejected = withdrawer.pb.withdraw(coin="BTC", amount="0.2", address="addr-1")["id"]
    paid = withdrawer.spot.withdraw(coin="BTC", amount="0.3", address="addr-2",
                                    withdrawOrderId="mine-1")["id"]
    # The same withdrawOrderId again: the same withdrawal, nothing moves or streams.
    assert withdrawer.spot.withdraw(coin="BTC", amount="0.3", address="addr-2",
                                    withdrawOrderId="mine-1")["id"] == paid
    assert admin.post(f"/v1/admin/withdrawals/{rejected}/reject", {}).status_code == 200
    assert admin.post(f"/v1/admin/withdrawals/{paid}/approve", {}).status_code == 200

    position = ("outboundAccountPosition", "BTC")
    assert [summary(e) for e in events_after(user_inbox, 7)] == [
        ("balanceUpdate", "BTC", "-0.20000000"), (*position, "1.30000000", "0.20000000"),
        ("balanceUpdate", "BTC", "-0.30000000"), (*position, "1.00000000", "0.50000000"),
        ("balanceUpdate", "BTC", "0.20000000"), (*position, "1.20000000", "0.30000000"),
        (*position, "1.20000000", "0.00000000")]
    balance = withdrawer.pb.get_asset_balance(asset="BTC")
    assert (balance["free"], balance["locked"]) == ("1.20000000", "0.00000000")
    assert_ledger_invariants(db)
