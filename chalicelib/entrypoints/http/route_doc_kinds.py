"""The vocabulary of the route table (``route_docs``): what a route needs to be described
in the OpenAPI document, and the shorthands for the three kinds of route (public market
data, Binance-signed, the web app's bearer routes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from chalicelib.service_layer import wallet


class Auth(StrEnum):
    """The security scheme a route needs (names of ``components/securitySchemes``)."""

    NONE = "none"
    SIGNED = "binanceSigned"
    BEARER = "bearer"
    ADMIN = "bearerAdmin"


@dataclass(frozen=True)
class Param:
    """A path or header parameter: name, JSON schema, description."""

    name: str
    schema: dict[str, Any]
    description: str


@dataclass(frozen=True)
class RouteDoc:
    """One route. ``params`` are the query parameters (for signed routes other than GET,
    also accepted as a form body); ``body`` is a JSON body; ``statuses`` the successes;
    ``sessions``: the web app's bearer token may stand in for a SIGNED route's API key."""

    method: str
    path: str
    handler: Callable[..., Any]
    summary: str
    tag: str
    auth: Auth = Auth.NONE
    params: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    statuses: tuple[int, ...] = (200,)
    path_params: tuple[Param, ...] = ()
    headers: tuple[Param, ...] = ()
    sessions: bool = False


NUMERIC_ID = {"type": "string", "pattern": "^[0-9]{1,18}$"}
WITHDRAWAL_ID = Param("withdrawal_id", NUMERIC_ID, "The withdrawal's id.")
MARKET = Param("symbol", {"type": "string", "minLength": 1, "maxLength": 40},
               "The market, e.g. BTCUSDT.")
ASSET = Param("symbol", {"type": "string", "pattern": "^[A-Z0-9]{1,20}$"}, "The asset, e.g. BTC.")
IDEMPOTENCY_KEY = Param("Idempotency-Key", {"type": "string",
                                            "pattern": f"^{wallet.IDEMPOTENCY_KEY.pattern}$"},
                        "A repeat with the same key returns the first withdrawal.")

GENERAL, MARKET_DATA, TRADING, ACCOUNT = "General", "Market data", "Trading", "Account"
AUTH, KEYS, WALLET, ADMIN = "Auth", "API keys", "Wallet", "Admin"


def public(path: str, handler: Callable[..., Any], summary: str, tag: str = MARKET_DATA,
           params: type[BaseModel] | None = None,
           answer: type[BaseModel] | None = None) -> RouteDoc:
    return RouteDoc("GET", path, handler, summary, tag, params=params, answer=answer)


def signed(method: str, path: str, handler: Callable[..., Any], summary: str,
           params: type[BaseModel], tag: str = TRADING,
           answer: type[BaseModel] | None = None, sessions: bool = True) -> RouteDoc:
    """A SIGNED route; the web app's session may call it too unless ``sessions`` is
    False (routes needing WITHDRAW or describing the API key itself)."""
    return RouteDoc(method, path, handler, summary, tag, Auth.SIGNED, params=params,
                    answer=answer, sessions=sessions)


def web_app(method: str, path: str, handler: Callable[..., Any], summary: str, tag: str,
            auth: Auth = Auth.BEARER, **more: Any) -> RouteDoc:
    return RouteDoc(method, path, handler, summary, tag, auth, **more)
