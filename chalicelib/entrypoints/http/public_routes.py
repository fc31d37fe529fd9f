"""Public /api/v3 endpoints: connectivity, server time, exchange information."""

from __future__ import annotations

import json

from chalicelib.domain.errors import ApiError, ErrorCode, malformed
from chalicelib.entrypoints.http.api_models import MarketsParams
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
    params = parse_query(routes.current_request, MarketsParams)
    symbols = requested_symbols(params.symbol, params.symbols)
    svc = routes.services
    with svc.db() as conn:
        return exchange_info(conn, symbols, svc.now_ms())


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
