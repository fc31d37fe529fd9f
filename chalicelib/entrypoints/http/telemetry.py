"""What each API request adds to the API's metrics and logs.

Every request counts by route pattern (``/api/v3/order``, ``/v1/orders/{id}``: never the
path with its ids), method and status, with its duration. A refusal by a rate limit
counts by the limit. An order placement counts each order accepted by market and type,
or the refusal by market and error code, and logs one line per order ("order accepted"
with its ids, "order refused" with the code) under the request's correlation id. Market
labels are listed markets only ("unknown" for any other symbol), so a client sending
random symbols cannot grow the series without bound.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from chalice.app import Request, Response

from chalicelib.bootstrap import Services
from chalicelib.domain.errors import BackendUnavailableError, ErrorCode
from chalicelib.domain.metric_catalogue import (
    API_REQUEST_SECONDS,
    API_REQUESTS,
    ORDERS_ACCEPTED,
    ORDERS_REJECTED,
    RATE_LIMITED,
)
from chalicelib.domain.orders import OrderType
from chalicelib.entrypoints.http.requests import form_texts
from chalicelib.service_layer import market_data

SINGLE_ORDER = ""
# The routes placing orders: (method, route) -> the order list's kind, or SINGLE_ORDER
# for one order whose type is its `type` parameter.
PLACEMENTS = {
    ("POST", "/api/v3/order"): SINGLE_ORDER,
    ("POST", "/api/v3/order/cancelReplace"): SINGLE_ORDER,
    ("POST", "/api/v3/order/oco"): "OCO",
    ("POST", "/api/v3/orderList/oco"): "OCO",
    ("POST", "/api/v3/orderList/oto"): "OTO",
    ("POST", "/api/v3/orderList/otoco"): "OTOCO",
}
UNKNOWN = "unknown"
UNMATCHED_ROUTE = "unmatched"
RATE_LIMIT_STATUSES = (418, 429)
LISTED_MARKETS_REFRESH_S = 60.0
_ORDER_WINDOW = re.compile(r"orders per (\d+) ([A-Z]+)")


@dataclass(frozen=True)
class PlacedOrder:
    market: str
    order_id: int
    client_order_id: str
    order_list_id: int | None = None


class ListedMarkets:
    """The listed markets' symbols, read again at most once a minute (a market listed
    meanwhile is labelled "unknown" until then)."""

    def __init__(self, refresh_s: float = LISTED_MARKETS_REFRESH_S) -> None:
        self.refresh_s = refresh_s
        self._symbols: frozenset[str] = frozenset()
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def label(self, svc: Services, symbol: str) -> str:
        """``symbol`` when it is a listed market, else "unknown"."""
        with self._lock:
            if symbol not in self._symbols and (
                    time.monotonic() - self._read_at >= self.refresh_s):
                self._read_at = time.monotonic()
                try:
                    with svc.read_db() as conn:
                        self._symbols = frozenset(
                            m.symbol for m in market_data.markets(conn, None))
                except BackendUnavailableError:
                    return UNKNOWN  # the request's own answer says so; a label can wait
        return symbol if symbol in self._symbols else UNKNOWN


class RequestTelemetry:
    """Records each answered request in the API's metrics and logs."""

    def __init__(self, logger: Logger) -> None:
        self.logger = logger
        self.listed = ListedMarkets()

    def record(self, svc: Services, request: Request, response: Response,
               seconds: float) -> None:
        route = str(request.context.get("resourcePath") or UNMATCHED_ROUTE)
        method = request.method
        status = response.status_code
        svc.metrics.inc(API_REQUESTS, route=route, method=method, status=str(status))
        svc.metrics.observe(API_REQUEST_SECONDS, seconds, route=route, method=method)
        if status in RATE_LIMIT_STATUSES:
            svc.metrics.inc(RATE_LIMITED, limit=refused_limit(json_body(response)))
        kind = PLACEMENTS.get((method, route))
        if kind is not None:
            self.placement(svc, request_params(request), kind, status, json_body(response))

    def placement(self, svc: Services, params: dict[str, str], kind: str, status: int,
                  body: dict[str, Any]) -> None:
        placed = list(placed_orders(body))
        order_type = kind or type_label(params.get("type", ""))
        for order in placed:
            svc.metrics.inc(ORDERS_ACCEPTED, market=order.market, type=order_type)
            self.logger.info("order accepted", extra={
                "order_id": order.order_id, "client_order_id": order.client_order_id,
                "market": order.market, "type": order_type,
                **({} if order.order_list_id is None
                   else {"order_list_id": order.order_list_id})})
        if status == 200 or placed:
            return
        reason = str(body.get("code", f"http-{status}"))
        market = self.listed.label(svc, params.get("symbol", ""))
        svc.metrics.inc(ORDERS_REJECTED, market=market, reason=reason)
        self.logger.info("order refused", extra={
            "code": reason, "market": market, "status": status,
            "client_order_id": params.get("newClientOrderId", "")})


def placed_orders(body: dict[str, Any]) -> Iterator[PlacedOrder]:
    """The orders a placement's answer says were accepted: one order, an order list's
    orders, or a cancel-replace's new order (when that half succeeded)."""
    replaced = body.get("data", body)
    if isinstance(replaced, dict) and "newOrderResult" in replaced:
        if replaced["newOrderResult"] == "SUCCESS":
            yield from placed_orders(replaced.get("newOrderResponse") or {})
        return
    if "orderListId" in body and isinstance(body.get("orders"), list):
        for order in body["orders"]:
            yield PlacedOrder(str(order["symbol"]), int(order["orderId"]),
                              str(order["clientOrderId"]), int(body["orderListId"]))
    elif "orderId" in body and "symbol" in body:
        yield PlacedOrder(str(body["symbol"]), int(body["orderId"]),
                          str(body.get("clientOrderId", "")))


def type_label(text: str) -> str:
    """An order type's label: one of the types, else "unknown"."""
    return text if text in OrderType.__members__.values() else UNKNOWN


def refused_limit(body: dict[str, Any]) -> str:
    """Which limit a 429/418 refused the request by, from its code and message."""
    code, message = body.get("code"), str(body.get("msg", ""))
    if code == ErrorCode.TOO_MANY_ORDERS:
        window = _ORDER_WINDOW.search(message)
        return f"orders_per_{window[1]}_{window[2].lower()}" if window else "orders"
    if code != ErrorCode.TOO_MANY_REQUESTS:
        return UNKNOWN
    for phrase, limit in LIMIT_PHRASES:
        if phrase in message:
            return limit
    return "ip_weight"


# What each -1003 refusal's message says (chalicelib/entrypoints/http/requests.py and
# middleware.py, chalicelib/service_layer/auth.py), most specific first.
LIMIT_PHRASES = (("on this API key", "api_key_weight"), ("failed logins", "login_failures"),
                 ("two-factor", "totp_failures"), ("request weight", "ip_weight"))


def json_body(response: Response) -> dict[str, Any]:
    """The answer's JSON object ({} when it is none)."""
    body: object = response.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return {}
    return body if isinstance(body, dict) else {}


def request_params(request: Request) -> dict[str, str]:
    """The request's parameters, from its query string and its form or JSON body."""
    params = {key: str(value) for key, value in (request.query_params or {}).items()}
    raw = request.raw_body or b""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    if text.lstrip().startswith("{"):
        try:
            fields = json.loads(text)
        except ValueError:
            return params
        if isinstance(fields, dict):
            params.update({str(k): str(v) for k, v in fields.items()})
        return params
    # Blank values left out, as parse_qsl does by default; the parse is the cached one.
    params.update((key, value) for key, value in form_texts(text) if value)
    return params

