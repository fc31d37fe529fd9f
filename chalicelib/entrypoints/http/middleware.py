"""Every API response passes here: request weight per IP, errors in the API's format,
the correlation id (``X-Correlation-Id``, on every answer and every log line of the
request, and an annotation of the request's X-Ray subsegment in Lambda), and the
request's metrics."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from chalice.app import Request, Response

from chalicelib.bootstrap import Services, outage_of
from chalicelib.domain.errors import ApiError, ErrorCode, unavailable
from chalicelib.domain.params import parse_count
from chalicelib.domain.tracing import HTTP_HEADER, LOG_FIELD, correlation_id
from chalicelib.entrypoints.http import rate_charges
from chalicelib.entrypoints.http.requests import client_ip, refuse_nul
from chalicelib.entrypoints.http.telemetry import RequestTelemetry
from chalicelib.service_layer.correlation import correlated

logger = Logger(service="exchange-api")
# Off outside Lambda (no X-Ray daemon locally): its subsegments are then dummies.
tracer = Tracer(service="exchange-api")

# Request weights as Binance counts them; unlisted routes weigh 1.
ROUTE_WEIGHTS: dict[tuple[str, str], int] = {
    ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/account"): 20,
    ("GET", "/sapi/v1/capital/config/getall"): 10,
    ("GET", "/sapi/v1/capital/deposit/address"): 10,
    ("GET", "/sapi/v1/margin/isolated/allPairs"): 10,
    ("POST", "/sapi/v3/asset/getUserAsset"): 5,
    ("POST", "/v1/auth/login"): 5,
    ("POST", "/v1/auth/signup"): 5,
    ("GET", "/api/v3/trades"): 25,
    ("GET", "/api/v3/historicalTrades"): 25,
    ("GET", "/api/v3/aggTrades"): 4,
    ("GET", "/api/v3/klines"): 2,
    ("GET", "/api/v3/uiKlines"): 2,
    ("GET", "/api/v3/avgPrice"): 2,
    ("GET", "/api/v3/order"): 4,
    ("GET", "/api/v3/allOrders"): 20,
    ("GET", "/api/v3/myTrades"): 20,
    ("GET", "/api/v3/account/commission"): 20,
    ("GET", "/api/v3/rateLimit/order"): 40,
    ("GET", "/api/v3/orderList"): 4,
    ("GET", "/api/v3/allOrderList"): 20,
    ("GET", "/api/v3/openOrderList"): 6,
}
# Routes whose weight depends on whether one symbol is named: (one symbol, every market).
SYMBOL_WEIGHTS = {("GET", "/api/v3/openOrders"): (6, 80)}
# Binance's depth weight grows with the limit: (largest limit, weight).
DEPTH_WEIGHTS = ((100, 5), (500, 25), (1000, 50))
DEPTH_MAX_WEIGHT = 250
# Tickers: (weight for symbol=, for every market, for a list of n symbols).
TICKER_WEIGHTS: dict[str, tuple[int, int, Callable[[int], int]]] = {
    "/api/v3/ticker/24hr": (2, 80, lambda n: 2 if n <= 20 else 40 if n <= 100 else 80),
    "/api/v3/ticker/price": (2, 4, lambda _: 4),
    "/api/v3/ticker/bookTicker": (2, 4, lambda _: 4),
    "/api/v3/ticker": (4, 200, lambda n: min(4 * n, 200)),
    "/api/v3/ticker/tradingDay": (4, 200, lambda n: min(4 * n, 200)),
}


def request_weight(method: str, path: str, params: dict[str, str] | None) -> int:
    """The weight of one request, with the parameters Binance weighs by."""
    params = params or {}
    if method == "GET" and path == "/api/v3/depth":
        size = depth_limit(params.get("limit", "100"))
        return next((w for top, w in DEPTH_WEIGHTS if size <= top), DEPTH_MAX_WEIGHT)
    if (method, path) in SYMBOL_WEIGHTS:
        one, every = SYMBOL_WEIGHTS[(method, path)]
        return one if params.get("symbol") else every
    if method == "GET" and path == "/api/v3/myPreventedMatches":
        return 20 if "orderId" in params else 2
    if method == "POST" and path == "/api/v3/order/test":
        return 20 if params.get("computeCommissionRates") == "true" else 1
    if method == "GET" and path in TICKER_WEIGHTS:
        one, every, listed = TICKER_WEIGHTS[path]
        if "symbol" in params:
            return one
        return every if "symbols" not in params else listed(
            max(1, params["symbols"].count(",") + 1))
    return ROUTE_WEIGHTS.get((method, path), 1)


def depth_limit(text: str) -> int:
    """The depth limit weighed by; one the handler will refuse weighs as the default."""
    try:
        return parse_count(text, "limit")
    except ApiError:
        return 100


CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")


def ip_weight_charged(svc: Services, request: Request) -> rate_charges.RequestCharges:
    """The request's charges, its IP's weight charged now unless its route charges it
    with the rest, before it first touches the database."""
    route = str(request.context.get("resourcePath", ""))
    charges = rate_charges.RequestCharges(svc)
    charges.charge_ip(client_ip(svc, request), request_weight(
        request.method, route, dict(request.query_params or {})))
    if (request.method, route) not in rate_charges.DEFERRED_ROUTES:
        charges.settle()
    return charges


def json_response(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    return Response(body=json.dumps(body), status_code=status,
                    headers={"Content-Type": "application/json", **(headers or {})})


def error_response(error: ApiError) -> Response:
    return json_response(error.status, error.body(), error.headers())


def unknown_error() -> ApiError:
    return ApiError(500, ErrorCode.UNKNOWN,
                    "An unknown error occurred while processing the request.")


def unexpected_error(error: Exception, where: str) -> Response:
    """The answer to an error no client caused: a 503 with Retry-After when a backend
    is unavailable (PostgreSQL without a writer, Redis down, a timeout), else a 500."""
    outage = outage_of(error)
    if outage is not None:
        logger.warning("backend unavailable", extra={
            "where": where, "error": str(outage), "timed_out": outage.timed_out})
        return error_response(unavailable(outage))
    logger.exception("unhandled error", extra={"where": where})
    return error_response(unknown_error())


def with_api_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Chalice turns a view's exception into its own 500 before middleware sees it,
    so each view is wrapped: client errors keep their 4xx and `{code, msg}` body, an
    unavailable backend is a 503, and nothing else ever leaks a stack trace."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ApiError as error:
            return error_response(error)
        except Exception as error:
            return unexpected_error(error, view.__name__)

    return guarded


Middleware = Callable[[Request, Callable[[Request], Response]], Response]


def api_middleware(services: Callable[[], Services],
                   built: Callable[[], Services | None]) -> Middleware:
    """What weighs, screens, answers and records every request. Chalice answers an
    exception raised here with its own 500 body, so none escapes: errors leave in the
    API's format (those building the services included). ``built`` gives the services
    once built: a request whose services could not be built is recorded nowhere."""
    telemetry = RequestTelemetry(logger)

    def screen(request: Request, get_response: Callable[[Request], Response]) -> Response:
        started = time.perf_counter()
        correlation = correlation_id(request.headers.get(HTTP_HEADER))
        # Thread-safe keys: `chalice local` serves each request on a thread of its own.
        logger.thread_safe_append_keys(**{LOG_FIELD: correlation})
        try:
            route = request.context.get("resourcePath", request.path)
            with correlated(correlation), tracer.provider.in_subsegment(
                    f"## {request.method} {route}") as segment:
                # Annotated, so X-Ray finds a request's trace by the id a client reports.
                segment.put_annotation(LOG_FIELD, correlation)
                response = answer(request, get_response)
            response.headers[HTTP_HEADER] = correlation
            svc = built()
            if svc is not None:
                telemetry.record(svc, request, response, time.perf_counter() - started)
            return response
        finally:
            logger.thread_safe_remove_keys([LOG_FIELD])

    def answer(request: Request, get_response: Callable[[Request], Response]) -> Response:
        try:
            charges = ip_weight_charged(services(), request)
            with rate_charges.answering(charges):
                refuse_nul(request)
                response = in_api_format(get_response(request))
            charges.settle()  # what a request that failed early left uncharged
        except ApiError as error:
            return error_response(error)
        except Exception as error:
            return unexpected_error(error, "middleware")
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(charges.ip_used)
        return response

    return screen


# Chalice answers some requests itself (an unsupported Content-Type, a method the path
# does not have) with its own `{"Code", "Message"}` body; clients read `code`/`msg`.
CHALICE_ERROR_CODES = {400: ErrorCode.ILLEGAL_CHARS, 405: ErrorCode.UNSUPPORTED_OPERATION,
                       415: ErrorCode.ILLEGAL_CHARS}


def in_api_format(response: Response) -> Response:
    """The response with Chalice's own error bodies in the API's error format, and a
    JSON Content-Type on what the views returned as plain data."""
    body = response.body
    if isinstance(body, dict) and body.keys() == {"Code", "Message"}:
        code = CHALICE_ERROR_CODES.get(response.status_code, ErrorCode.UNKNOWN)
        headers = {k: str(v) for k, v in response.headers.items()
                   if k.lower() != "content-type"}
        return json_response(response.status_code, {"code": int(code), "msg": body["Message"]},
                             headers)
    if not any(name.lower() == "content-type" for name in response.headers):
        response.headers["Content-Type"] = "application/json"
    return response
