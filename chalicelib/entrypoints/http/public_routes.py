"""Public /api/v3 endpoints: connectivity, server time, exchange information."""

from __future__ import annotations

import json

from chalicelib.domain.capabilities import SYMBOL_STATUSES
from chalicelib.domain.errors import ApiError, ErrorCode, bad_request, malformed
from chalicelib.entrypoints.http.api_models import ExchangeInfoParams
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.requests import parse_query
from chalicelib.service_layer.exchange_info import exchange_info

routes = ApiBlueprint(__name__)


@routes.route("/api/v3/ping", methods=["GET"])
def ping() -> dict[str, object]:
    return {}


@routes.route("/api/v3/time", methods=["GET"])
def server_time() -> dict[str, object]:
    return {"serverTime": routes.services.now_ms()}


@routes.route("/api/v3/exchangeInfo", methods=["GET"])
def get_exchange_info() -> dict[str, object]:
    params = parse_query(routes.current_request, ExchangeInfoParams)
    symbols = requested_symbols(params.symbol, params.symbols)
    if symbols is not None and (params.permissions or params.symbol_status):
        raise bad_request(ErrorCode.INVALID_PARAM_COMBINATION,
                          "Combination of optional parameters invalid.")
    if params.symbol_status is not None and params.symbol_status not in SYMBOL_STATUSES:
        raise bad_request(ErrorCode.INVALID_SYMBOL_STATUS, "Invalid symbolStatus.")
    svc = routes.services
    with svc.read_db() as conn:
        return exchange_info(conn, symbols, svc.now_ms(),
                             permissions=requested_permissions(params.permissions),
                             status=params.symbol_status,
                             show_permission_sets=params.show_permission_sets)


def requested_permissions(permissions: str | None) -> frozenset[str] | None:
    """`permissions=SPOT` or `permissions=["MARGIN","LEVERAGED"]` (shape checked by the
    model's pattern), as Binance takes them."""
    if permissions is None:
        return None
    if not permissions.startswith("["):
        return frozenset({permissions})
    return frozenset(json.loads(permissions))


def requested_symbols(symbol: str | None, symbols: str | None) -> list[str] | None:
    """`symbol=BTCUSDT` or `symbols=["BTCUSDT","ETHUSDT"]`, as Binance takes them."""
    if symbol and symbols:
        raise ApiError(400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                       "Parameter 'symbol' and 'symbols' cannot be sent together.")
    if symbol:
        return [symbol]
    if symbols is None:
        return None
    try:
        parsed = json.loads(symbols)
    except ValueError as exc:
        raise malformed("symbols") from exc
    if not isinstance(parsed, list) or not all(isinstance(s, str) for s in parsed):
        raise malformed("symbols")
    return parsed
