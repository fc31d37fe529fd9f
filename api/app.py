"""The exchange's HTTP API (Chalice): Binance-compatible /api/v3 and the web app's /v1.

Handlers stay thin: they parse and validate, call the service layer in
chalicelib, and shape the response. Routes live in blueprints under
chalicelib/entrypoints/http; what they use (PostgreSQL, Redis, Kafka, the master key)
comes from the composition root, chalicelib/bootstrap.py.
"""

from __future__ import annotations

import logging
from typing import Any

from chalice.app import WebsocketEvent

from chalicelib.adapters.json_logs import configure_logging
from chalicelib.adapters.metrics import metrics_for
from chalicelib.adapters.secrets import get_settings
from chalicelib.bootstrap import bootstrap_api
from chalicelib.entrypoints import ws_routes
from chalicelib.entrypoints.http import (
    account_routes,
    admin_audit_routes,
    admin_fee_routes,
    admin_routes,
    auth_routes,
    docs_routes,
    limits_fees_routes,
    market_history_routes,
    market_kline_routes,
    market_routes,
    market_ticker_routes,
    order_list_routes,
    order_replace_routes,
    order_routes,
    prevented_match_routes,
    public_routes,
    sapi_routes,
    user_stream_routes,
    wallet_routes,
)
from chalicelib.entrypoints.http.exchange_app import ExchangeApp

# Locally (`chalice local`, EXCHANGE_METRICS_PORT set) /metrics is served from start-up,
# before the first request builds the services.
metrics_for("api")
if not logging.getLogger().handlers:
    # `chalice local`: the service layer's own lines as JSON too, as the handlers' logger
    # writes them. Lambda's runtime, the WebSocket gateway and pytest set up their own.
    configure_logging(service="exchange-api")
app = ExchangeApp("exchange-api", build=lambda: bootstrap_api(get_settings()))
for blueprint in (public_routes, auth_routes, wallet_routes, account_routes, order_routes,
                  admin_routes, market_routes, market_history_routes, market_kline_routes,
                  market_ticker_routes,
                  limits_fees_routes, user_stream_routes,
                  order_replace_routes, admin_fee_routes, admin_audit_routes,
                  sapi_routes, order_list_routes, prevented_match_routes, docs_routes):
    app.register_blueprint(blueprint.routes)
# Chalice's WebSocket support is behind a feature flag; its handlers live on the app.
app.experimental_feature_flags.update(["WEBSOCKETS"])


@app.on_ws_connect()
def ws_connect(event: WebsocketEvent) -> dict[str, Any]:
    return ws_routes.on_connect(app.services, event)


@app.on_ws_message()
def ws_message(event: WebsocketEvent) -> None:
    ws_routes.on_message(app.services, event)


@app.on_ws_disconnect()
def ws_disconnect(event: WebsocketEvent) -> None:
    ws_routes.on_disconnect(app.services, event)

