"""Binance's JSON shapes for orders, fills and trades (decimal strings, ms times)."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.money import format_units
from chalicelib.domain.orders import Market


def millis(value: Any) -> int:
    return int(value.timestamp() * 1000)


def price(market: Market, units: Any) -> str:
    return format_units(int(units or 0), market.quote_scale)


def qty(market: Market, units: Any) -> str:
    return format_units(int(units or 0), market.base_scale)


def ack(market: Market, client_order_id: str, order_id: int, now_ms: int) -> dict[str, Any]:
    return {"symbol": market.spec.symbol, "orderId": order_id, "orderListId": -1,
            "clientOrderId": client_order_id, "transactTime": now_ms}


def list_id(row: dict[str, Any]) -> int:
    """The order's list (Binance: -1 for an order in none)."""
    return -1 if row["order_list_id"] is None else int(row["order_list_id"])


def working_time(order: dict[str, Any]) -> int:
    """When the order started working: when placed, or for a stop order when its stop
    price was reached (-1 while it waits, as Binance)."""
    if order["status"] == "PENDING_NEW":  # an OTO's pending order, not placed yet
        return -1
    if order["stop_price"] is None:
        return millis(order["created_at"])
    return -1 if order["working_at"] is None else millis(order["working_at"])


def core(market: Market, order: dict[str, Any]) -> dict[str, Any]:
    # Binance adds stopPrice to an order's answers only when the order has one.
    stop = {} if order["stop_price"] is None else {"stopPrice": price(market, order["stop_price"])}
    return {
        "symbol": order["market"], "orderId": order["id"],
        "orderListId": list_id(order),
        "clientOrderId": order["client_order_id"], "price": price(market, order["price"]),
        "origQty": qty(market, order["quantity"]),
        "executedQty": qty(market, order["executed_qty"]),
        "origQuoteOrderQty": price(market, order["quote_order_qty"]),
        "cummulativeQuoteQty": price(market, order["cumulative_quote_qty"]),
        "status": order["status"], "timeInForce": order["time_in_force"] or "GTC",
        "type": order["type"], "side": order["side"], **stop,
        "workingTime": working_time(order),
        "selfTradePreventionMode": order["stp"],
    }


def result(market: Market, order: dict[str, Any], now_ms: int) -> dict[str, Any]:
    return {**core(market, order), "transactTime": now_ms}


def order(market: Market, found: dict[str, Any]) -> dict[str, Any]:
    return {**core(market, found), "stopPrice": price(market, found["stop_price"]),
            "icebergQty": qty(market, 0), "time": millis(found["created_at"]),
            "updateTime": millis(found["updated_at"]),
            "isWorking": found["status"] in ("NEW", "PARTIALLY_FILLED")
            and working_time(found) != -1}


def cancelled(market: Market, found: dict[str, Any], client_id: str | None,
              now_ms: int) -> dict[str, Any]:
    shape = core(market, found)
    return {**shape, "origClientOrderId": shape["clientOrderId"],
            "clientOrderId": client_id or shape["clientOrderId"], "transactTime": now_ms}


def commission(market: Market, trade: dict[str, Any]) -> str:
    scale = market.base_scale if trade["commission_asset"] == market.base_asset \
        else market.quote_scale
    return format_units(int(trade["commission"]), scale)


def fill(market: Market, trade: dict[str, Any]) -> dict[str, Any]:
    return {"price": price(market, trade["price"]), "qty": qty(market, trade["qty"]),
            "commission": commission(market, trade),
            "commissionAsset": trade["commission_asset"], "tradeId": trade["id"]}


def my_trade(market: Market, trade: dict[str, Any]) -> dict[str, Any]:
    is_buyer = trade["buyer_is_maker"] == trade["is_maker"]
    return {"symbol": market.spec.symbol, "id": trade["id"], "orderId": trade["order_id"],
            "orderListId": list_id(trade), "price": price(market, trade["price"]),
            "qty": qty(market, trade["qty"]), "quoteQty": price(market, trade["quote_qty"]),
            "commission": commission(market, trade),
            "commissionAsset": trade["commission_asset"], "time": millis(trade["time"]),
            "isBuyer": is_buyer, "isMaker": trade["is_maker"], "isBestMatch": True}
