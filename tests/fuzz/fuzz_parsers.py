"""A coverage-guided fuzz target (atheris/libFuzzer) for the API's parsers of hostile text.

Run: `.venv/bin/python tests/fuzz/fuzz_parsers.py -max_total_time=30 tests/fuzz/corpus`
(tests/unit/test_parser_fuzzing.py does, for a bounded time). The first input byte picks
a parser; each must either refuse the input with an ApiError (a 4xx at the API) or
return a value with the stated property. Any other exception or a broken property is a
crash, which libFuzzer reports with the input that caused it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sys
from collections.abc import Callable
from decimal import Context, Decimal
from urllib.parse import parse_qs, urlencode

import atheris  # type: ignore[import-untyped]  # ships no type hints

with atheris.instrument_imports(include=["chalicelib"]):
    from chalicelib.domain.errors import ApiError
    from chalicelib.domain.money import MAX_SCALE, MAX_UNITS, format_units, parse_units
    from chalicelib.domain.orders import (
        Market,
        MarketSpec,
        NewOrder,
        OrderType,
        SelfTradePrevention,
        Side,
    )
    from chalicelib.domain.params import parse_count
    from chalicelib.entrypoints.http.api_models import MarketsParams
    from chalicelib.entrypoints.http.binance_models import (
        SYMBOL_PATTERN,
        CancelAllParams,
        parse_params,
    )
    from chalicelib.entrypoints.http.public_routes import requested_symbols
    from chalicelib.entrypoints.http.requests import validate
    from chalicelib.service_layer.admin import ASSET_SYMBOL, MARKET_SYMBOL
    from chalicelib.service_layer.api_keys import (
        SignedRequest,
        check_signature,
        check_timestamp,
    )
    from chalicelib.service_layer.orders import check_filters

SECRET = b"fuzzing-secret"
NOW_MS = 1_800_000_000_000
# Wide enough for any NUMERIC(38,0) amount at any scale: comparisons stay exact.
EXACT = Context(prec=100)
# BTCUSDT as the e2e tests list it, and a market whose assets have no decimals.
MARKETS = (
    Market(MarketSpec("BTCUSDT", 10**8, 10**4, 10**4, 10**4, 1000 * 10**8, 5 * 10**6,
                      1000, 2000), "BTC", "USDT", 8, 6, "TRADING"),
    Market(MarketSpec("GEMPTS", 1, 5, 3, 3, 3 * 10**20, 0, 0, 0), "GEM", "PTS", 0, 0,
           "TRADING"),
)


def text(data: atheris.FuzzedDataProvider, limit: int = 120) -> str:
    """Up to `limit` bytes as UTF-8, as the API decodes requests: a mutated byte stays a
    small change ("2" -> "\xb2" -> "²"), invalid sequences become U+FFFD."""
    raw: bytes = data.ConsumeBytes(data.ConsumeIntInRange(0, limit))
    return raw.decode("utf-8", "replace")


def refused(parse: Callable[[], object]) -> bool:
    """True when the parser refused its input as the API refuses bad input."""
    try:
        parse()
    except ApiError:
        return True
    return False


def fuzz_amount(data: atheris.FuzzedDataProvider) -> None:
    """An amount parses to exactly its decimal value, fits NUMERIC(38,0), and prints
    back to text that parses to the same units."""
    scale = data.ConsumeIntInRange(0, MAX_SCALE)
    raw = text(data)
    try:
        units = parse_units(raw, scale, param="amount")
    except ApiError:
        return
    assert 0 <= units <= MAX_UNITS, (raw, scale, units)
    assert EXACT.multiply(Decimal(raw), Decimal(10) ** scale) == units, (raw, scale, units)
    assert parse_units(format_units(units, scale), scale, param="amount") == units, (raw, scale)


def fuzz_order_sizes(data: atheris.FuzzedDataProvider) -> None:
    """A price and quantity that pass a market's filters are on its grids, within its
    bounds, and their notional is exact (no quote unit created by rounding)."""
    market = MARKETS[data.ConsumeIntInRange(0, len(MARKETS) - 1)]
    order_type = OrderType.LIMIT if data.ConsumeBool() else OrderType.MARKET
    price_text, qty_text = text(data, 60), text(data, 60)
    try:
        price = parse_units(price_text, market.quote_scale, param="price")
        qty = parse_units(qty_text, market.base_scale, param="quantity")
    except ApiError:
        return
    order = NewOrder(1, market.spec.symbol, "fuzz", Side.BUY, order_type, None,
                     price if order_type is OrderType.LIMIT else 0, qty, 0,
                     SelfTradePrevention.NONE)
    if refused(lambda: check_filters(market, order)):
        return
    spec = market.spec
    assert qty % spec.lot_size == 0, (qty_text, qty)
    assert spec.min_qty <= qty <= spec.max_qty, (qty_text, qty)
    if order_type is OrderType.LIMIT:
        assert price > 0, (price_text, price)
        assert price % spec.tick_size == 0, (price_text, price)
        assert price * qty % spec.base_unit == 0, (price_text, qty_text)
        assert spec.notional(price, qty) >= spec.min_notional, (price_text, qty_text)


def fuzz_count(data: atheris.FuzzedDataProvider) -> None:
    """A count is ASCII digits whose value lies within the bounds asked for."""
    minimum = data.ConsumeIntInRange(0, 1000)
    maximum = data.ConsumeIntInRange(minimum, 2**63 - 1)
    raw = text(data, 30)
    try:
        value = parse_count(raw, "limit", minimum=minimum, maximum=maximum)
    except ApiError:
        return
    assert re.fullmatch("[0-9]+", raw), (raw, value)
    assert int(raw) == value, (raw, value)
    assert minimum <= value <= maximum, (raw, value)


def fuzz_symbols(data: atheris.FuzzedDataProvider) -> None:
    """Symbols as the routes take them: an order's, exchangeInfo's and the tickers' one
    or JSON list (parsed as those routes parse their query), a new asset's or market's."""
    raw = text(data, 4000)
    for pattern in (ASSET_SYMBOL, MARKET_SYMBOL):
        if pattern.fullmatch(raw):
            assert re.fullmatch("[A-Z0-9]+", raw), raw
    try:
        symbol = parse_params(CancelAllParams, {"symbol": raw, "timestamp": "1",
                                                "signature": "0"}).symbol
    except ApiError:
        symbol = None
    if symbol is not None:
        assert symbol == raw.upper(), (raw, symbol)
        assert re.fullmatch(SYMBOL_PATTERN, symbol), (raw, symbol)
    name = "symbols" if data.ConsumeBool() else "symbol"
    try:
        markets = validate(MarketsParams, {name: raw})
        symbols = requested_symbols(markets.symbol, markets.symbols)
    except ApiError:
        return
    assert symbols is not None, raw
    assert all(isinstance(s, str) for s in symbols), raw


def fuzz_signed_query(data: atheris.FuzzedDataProvider) -> None:
    """Any signed request verifies or is refused with an ApiError; one signed as a
    client signs it, with the known secret, always verifies."""
    query_params = unsigned_params(data, data.ConsumeIntInRange(0, 6))
    body_params = {name: value for name, value in unsigned_params(data, 1).items()
                   if name not in query_params} if data.ConsumeBool() else {}
    query, body = urlencode(query_params), urlencode(body_params)
    forged = data.ConsumeBool()
    if forged:
        signature = text(data, 70)
    else:
        signature = hmac.new(SECRET, (query + body).encode(), hashlib.sha256).hexdigest()
        signature = signature.upper() if data.ConsumeBool() else signature
    request = as_received(query, body, signature, in_body=data.ConsumeBool())
    try:
        params = request.params()
        check_signature(SECRET, request, params.get("signature", ""))
    except ApiError:
        assert forged, (query, body, signature)
    refused(lambda: check_timestamp(request.params(), NOW_MS))


def unsigned_params(data: atheris.FuzzedDataProvider, count: int) -> dict[str, str]:
    """Parameters a client signs: each with a name, sent once, none named `signature`."""
    params = {text(data, 20): text(data, 40) for _ in range(count)}
    params.pop("signature", None)
    params.pop("", None)
    return params


def as_received(query: str, body: str, signature: str, *, in_body: bool) -> SignedRequest:
    """The request as the handler gets it: API Gateway hands over the query decoded and
    grouped by name, the body as sent; the signature goes last in the query or body."""
    if in_body:
        body = f"{body}&signature={signature}" if body else f"signature={signature}"
    else:
        query = f"{query}&signature={signature}" if query else f"signature={signature}"
    grouped = parse_qs(query, keep_blank_values=True)
    pairs = [(name, value) for name, values in grouped.items() for value in values]
    return SignedRequest(api_key="fuzz", query_pairs=pairs, body=body, client_ip="127.0.0.1",
                         now_ms=NOW_MS)


TARGETS = (fuzz_amount, fuzz_order_sizes, fuzz_count, fuzz_symbols, fuzz_signed_query)


def test_one_input(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    TARGETS[data.ConsumeIntInRange(0, len(TARGETS) - 1)](data)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
