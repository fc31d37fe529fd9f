"""Both libraries reach the exchange: public data, the account and an order."""

from __future__ import annotations

from tests.e2e.clients.conftest import Trader


def test_each_library_places_and_reads_an_order(maker: Trader) -> None:
    placed = maker.pb.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT",
                                   timeInForce="GTC", quantity="0.01", price="20000")
    assert placed["status"] == "NEW"
    found = maker.spot.get_order("BTCUSDT", orderId=placed["orderId"])
    assert found["price"] == "20000.000000"
    balances = {b["asset"]: b for b in maker.spot.account()["balances"]}
    assert balances["USDT"]["locked"] == "200.000000"
    assert maker.pb.get_server_time()["serverTime"] > 0
