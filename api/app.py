"""The exchange's HTTP API (Chalice): Binance-compatible /api/v3 and the web app's /v1.

Handlers stay thin: they parse and validate, call the service layer in
chalicelib, and shape the response. Routes live in blueprints under
chalicelib/entrypoints/http.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, WebsocketEvent

from chalicelib.entrypoints import ws_routes
from chalicelib.entrypoints.http import (
    account_routes,
    admin_routes,
    auth_routes,
    docs_routes,
    market_routes,
    order_routes,
    public_routes,
    wallet_routes,
)
from chalicelib.entrypoints.http.middleware import api_middleware

app = Chalice(app_name="exchange-api")
app.register_middleware(api_middleware, "http")
for blueprint in (public_routes, auth_routes, wallet_routes, account_routes, order_routes,
                  admin_routes, market_routes, docs_routes):
    app.register_blueprint(blueprint.routes)
# Chalice's WebSocket support is behind a feature flag; its handlers live on the app.
app.experimental_feature_flags.update(["WEBSOCKETS"])


@app.on_ws_connect()
def ws_connect(event: WebsocketEvent) -> dict[str, Any]:
    return ws_routes.on_connect(event)


@app.on_ws_message()
def ws_message(event: WebsocketEvent) -> None:
    ws_routes.on_message(event)


@app.on_ws_disconnect()
def ws_disconnect(event: WebsocketEvent) -> None:
    ws_routes.on_disconnect(event)

