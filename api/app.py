"""The exchange's HTTP API (Chalice): Binance-compatible /api/v3 and the web app's /v1.

Handlers stay thin: they parse and validate, call the service layer in
chalicelib, and shape the response. Routes live in blueprints under
chalicelib/entrypoints/http.
"""

from __future__ import annotations

from chalice.app import Chalice

from chalicelib.entrypoints.http import (
    account_routes,
    admin_routes,
    auth_routes,
    market_routes,
    order_routes,
    public_routes,
    wallet_routes,
)
from chalicelib.entrypoints.http.middleware import api_middleware

app = Chalice(app_name="exchange-api")
app.register_middleware(api_middleware, "http")
for blueprint in (public_routes, auth_routes, wallet_routes, account_routes, order_routes,
                  admin_routes, market_routes):
    app.register_blueprint(blueprint.routes)
