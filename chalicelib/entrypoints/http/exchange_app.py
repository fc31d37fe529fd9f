"""The Chalice app and its blueprints, holding the Services their handlers use.

``api/app.py`` builds the app with the composition root (``chalicelib.bootstrap``);
a handler reaches the Services through its blueprint (``routes.services``), and a test
replaces them whole (``app.use_services``) with a clock or publisher of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint, Chalice

from chalicelib.bootstrap import Services
from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.entrypoints.http import local_gateway, rate_charges, requests
from chalicelib.entrypoints.http.middleware import CONTENT_TYPES, api_middleware, with_api_errors
from chalicelib.service_layer.api_keys import KeyOwner, SignedRequest
from chalicelib.service_layer.auth import User
from chalicelib.service_layer.order_limits import OrderCounts


class ExchangeApp(Chalice):
    """The API app. Its Services are built on first use, once per Lambda container, so
    that importing the app (``chalice package``, tests) connects to nothing."""

    def __init__(self, app_name: str, build: Callable[[], Services]) -> None:
        super().__init__(app_name=app_name)
        self._build = build
        self._services: Services | None = None
        self.register_middleware(api_middleware(lambda: self.services,
                                                lambda: self._services), "http")
        local_gateway.install()
        for path in CATCH_ALL_PATHS:
            self.route(path, methods=list(EVERY_METHOD), content_types=list(CONTENT_TYPES))(
                with_api_errors(unknown_route))

    def _configure_logging(self) -> None:
        """Powertools' handler writes the API's lines. Chalice's plain-text handler, or
        the root logger's (Lambda's runtime, ``chalice local``), would write each again."""
        self.log.propagate = False
        self._configure_log_level()

    def _configure_log_level(self) -> None:
        """Chalice names its logger after the app, and Powertools the API's logger after
        its service: both are ``exchange-api``. Chalice would set it to ERROR outside debug
        (again whenever an app is made while stdout is another stream, as in tests),
        silencing the API's own INFO lines: an order accepted or refused."""
        self.log.setLevel(logging.DEBUG if self.debug else logging.INFO)

    @property
    def services(self) -> Services:
        if self._services is None:
            self._services = self._build()
        return self._services

    def use_services(self, services: Services) -> None:
        """Point the handlers at other Services (tests: other settings, a set clock)."""
        if self._services is not None and self._services is not services:
            self._services.close()
        self._services = services


# What API Gateway routes here matches no other route: the root, and any deeper path
# (`{proxy+}` is greedy); known routes win. Not API routes: the OpenAPI document omits them.
CATCH_ALL_PATHS = ("/", "/{proxy+}")
EVERY_METHOD = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")


def unknown_route() -> None:
    """A path the API does not serve: 404 in the error format rather than API Gateway's
    403 without a code, which Binance clients take for an outage (CCXT retries) or
    crash on (binance-connector reads ``code``)."""
    raise ApiError(404, ErrorCode.UNSUPPORTED_OPERATION,
                   "This operation is not supported: the path is not an API route.")


class ApiBlueprint(Blueprint):
    """A Blueprint whose routes answer errors in the API's format."""

    def route(self, path: str, **kwargs: Any) -> Callable[..., Any]:
        # Binance clients send form bodies; the web app sends JSON.
        kwargs.setdefault("content_types", list(CONTENT_TYPES))
        register = super().route(path, **kwargs)
        return lambda view: register(with_api_errors(view))

    @property
    def services(self) -> Services:
        """The Services of the app this blueprint is registered on."""
        app = self.current_app
        if not isinstance(app, ExchangeApp):
            raise TypeError("API blueprints are registered on an ExchangeApp")
        return app.services

    def bearer_user(self) -> tuple[User, str]:
        """The web app's signed-in caller of the current request, and their session id."""
        return requests.bearer_user(self.services, self.current_request)

    def key_owner(self, permission: str, placing: bool = False
                  ) -> tuple[KeyOwner, SignedRequest]:
        """The API key calling the current SIGNED request, which needs ``permission``
        (``placing``: see ``requests.key_owner``)."""
        return requests.key_owner(self.services, self.current_request, permission, placing)

    def count_new_orders(self, user_id: int, orders: int = 1) -> OrderCounts:
        """Count the current request's new orders, with its pending rate-limit charges."""
        return rate_charges.current(self.services).count_new_orders(user_id, orders)
