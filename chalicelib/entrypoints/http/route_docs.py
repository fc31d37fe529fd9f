"""What the OpenAPI document says about each route, next to the handler and the very
pydantic classes it parses with, so the document cannot describe another model.

The route decorators (``ApiBlueprint.route``) do not carry this yet; until they do,
``tests/e2e/test_openapi.py`` keeps this table and the app's routes in step, both ways.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

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
from chalicelib.entrypoints.http import api_models as api
from chalicelib.entrypoints.http import binance_models as binance
from chalicelib.entrypoints.http import models as web
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
    also accepted as a form body); ``body`` is a JSON body; ``statuses`` the successes."""

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
           answer: type[BaseModel] | None = None) -> RouteDoc:
    return RouteDoc(method, path, handler, summary, tag, Auth.SIGNED, params=params,
                    answer=answer)


def web_app(method: str, path: str, handler: Callable[..., Any], summary: str, tag: str,
            auth: Auth = Auth.BEARER, **more: Any) -> RouteDoc:
    return RouteDoc(method, path, handler, summary, tag, auth, **more)


ROUTES: tuple[RouteDoc, ...] = (
    public("/openapi.json", docs_routes.openapi_json, "This document.", GENERAL),
    public("/api/v3/ping", public_routes.ping, "Test connectivity.", GENERAL,
           answer=api.EmptyAnswer),
    public("/api/v3/time", public_routes.server_time, "The server's time.", GENERAL,
           answer=api.ServerTime),
    public("/api/v3/exchangeInfo", public_routes.get_exchange_info,
           "Trading rules and markets.", GENERAL, api.MarketsParams, api.ExchangeInfo),
    public("/api/v3/depth", market_routes.depth, "Order book.", params=api.DepthParams,
           answer=api.Depth),
    public("/api/v3/trades", market_routes.trades, "Recent trades.", params=api.TradesParams,
           answer=api.Trades),
    public("/api/v3/klines", market_routes.klines, "Candles.", params=api.KlinesParams,
           answer=api.Klines),
    public("/api/v3/ticker/24hr", market_routes.ticker_24hr, "24 hour rolling statistics.",
           params=api.MarketsParams, answer=api.Tickers24hr),
    public("/api/v3/ticker/price", market_routes.ticker_price, "Last price.",
           params=api.MarketsParams, answer=api.PriceTickers),
    public("/api/v3/ticker/bookTicker", market_routes.book_ticker, "Best bid and ask.",
           params=api.MarketsParams, answer=api.BookTickers),
    public("/api/v3/avgPrice", market_routes.avg_price, "Average price over 5 minutes.",
           params=api.SymbolParams, answer=api.AveragePrice),
    signed("GET", "/api/v3/account", account_routes.account, "Balances and permissions (READ).",
           api.AccountParams, ACCOUNT, api.Account),
    signed("POST", "/sapi/v1/capital/withdraw/apply", account_routes.apply_withdrawal,
           "Request a withdrawal (WITHDRAW, IP allow-list).", api.WithdrawApplyParams, ACCOUNT,
           api.WithdrawApplied),
    signed("POST", "/api/v3/order", order_routes.place, "Place an order (TRADE).",
           binance.NewOrderParams),
    signed("POST", "/api/v3/order/test", order_routes.test_order,
           "Check an order without placing it (TRADE).", binance.NewOrderParams,
           answer=api.EmptyAnswer),
    signed("DELETE", "/api/v3/order", order_routes.cancel, "Cancel an order (TRADE).",
           binance.CancelOrderParams),
    signed("PUT", "/api/v3/order/amend/keepPriority", order_routes.amend_keep_priority,
           "Reduce an open order's quantity, keeping its place (TRADE).",
           binance.AmendOrderParams),
    signed("DELETE", "/api/v3/openOrders", order_routes.cancel_all,
           "Cancel every open order in a market (TRADE).", binance.CancelAllParams),
    signed("GET", "/api/v3/order", order_routes.query_order, "One order (READ).",
           binance.QueryOrderParams),
    signed("GET", "/api/v3/openOrders", order_routes.open_orders, "Open orders (READ).",
           binance.ListOrdersParams),
    signed("GET", "/api/v3/allOrders", order_routes.all_orders, "All orders (READ).",
           binance.ListOrdersParams),
    signed("GET", "/api/v3/myTrades", order_routes.my_trades, "The caller's fills (READ).",
           binance.MyTradesParams),
    web_app("POST", "/v1/auth/signup", auth_routes.signup, "Create an account.", AUTH,
            Auth.NONE, body=web.Credentials, statuses=(201,)),
    web_app("POST", "/v1/auth/login", auth_routes.login, "Log in: access and refresh tokens.",
            AUTH, Auth.NONE, body=web.Login),
    web_app("POST", "/v1/auth/refresh", auth_routes.refresh, "Rotate the refresh token.", AUTH,
            Auth.NONE, body=web.RefreshBody),
    web_app("POST", "/v1/auth/logout", auth_routes.logout, "End this session.", AUTH),
    web_app("POST", "/v1/auth/password", auth_routes.change_password, "Change the password.",
            AUTH, body=web.PasswordChange),
    web_app("POST", "/v1/auth/totp/enrol", auth_routes.enrol_totp,
            "Start two-factor enrolment (password again): the TOTP secret.", AUTH,
            body=web.PasswordConfirmation),
    web_app("POST", "/v1/auth/totp/confirm", auth_routes.confirm_totp,
            "Turn two-factor on with a first code.", AUTH, body=web.TotpCode),
    web_app("POST", "/v1/auth/step-up", auth_routes.step_up,
            "Mark this session for admin money actions with a TOTP code.", AUTH,
            body=web.StepUp),
    web_app("GET", "/v1/me", auth_routes.me, "The signed-in user.", AUTH),
    web_app("GET", "/v1/api-keys", auth_routes.list_keys, "The user's API keys.", KEYS),
    web_app("POST", "/v1/api-keys", auth_routes.create_key,
            "Create an API key; the secret is shown once.", KEYS, body=web.NewApiKey,
            statuses=(201,)),
    web_app("DELETE", "/v1/api-keys/{key_id}", auth_routes.delete_key, "Delete an API key.",
            KEYS, path_params=(Param("key_id", NUMERIC_ID, "The key's id."),)),
    web_app("GET", "/v1/balances", wallet_routes.balances, "Balances.", WALLET),
    web_app("GET", "/v1/ledger", wallet_routes.ledger, "Ledger entries, newest first.", WALLET,
            params=web.LedgerQuery),
    web_app("GET", "/v1/deposit-address", wallet_routes.deposit_address,
            "The deposit address for an asset.", WALLET, params=web.AssetQuery),
    web_app("GET", "/v1/deposits", wallet_routes.deposits, "Deposits, newest first.", WALLET,
            params=web.PageQuery),
    web_app("POST", "/v1/withdrawals", wallet_routes.request_withdrawal,
            "Request a withdrawal (funds locked until an admin decides).", WALLET,
            body=web.NewWithdrawal, statuses=(201, 200), headers=(IDEMPOTENCY_KEY,)),
    web_app("GET", "/v1/withdrawals", wallet_routes.list_withdrawals,
            "Withdrawals, newest first.", WALLET, params=web.PageQuery),
    web_app("GET", "/v1/withdrawals/{withdrawal_id}", wallet_routes.get_withdrawal,
            "One withdrawal.", WALLET, path_params=(WITHDRAWAL_ID,)),
    web_app("POST", "/v1/admin/assets", admin_routes.create_asset, "Create an asset.", ADMIN,
            Auth.ADMIN, body=web.NewAsset, statuses=(201,)),
    web_app("PATCH", "/v1/admin/assets/{symbol}", admin_routes.update_asset,
            "Set the amount above which money actions need a second admin (step-up).", ADMIN,
            Auth.ADMIN, body=web.AssetChanges, path_params=(ASSET,)),
    web_app("POST", "/v1/admin/markets", admin_routes.create_market, "Create a market.", ADMIN,
            Auth.ADMIN, body=web.NewMarket, statuses=(201,)),
    web_app("PATCH", "/v1/admin/markets/{symbol}", admin_routes.update_market,
            "Change a market's filters or fees.", ADMIN, Auth.ADMIN, body=web.MarketChanges,
            path_params=(MARKET,)),
    web_app("POST", "/v1/admin/markets/{symbol}/halt", admin_routes.halt_market,
            "Halt trading in a market.", ADMIN, Auth.ADMIN, path_params=(MARKET,)),
    web_app("POST", "/v1/admin/markets/{symbol}/resume", admin_routes.resume_market,
            "Resume trading in a market.", ADMIN, Auth.ADMIN, path_params=(MARKET,)),
    web_app("POST", "/v1/admin/deposits", admin_routes.credit_deposit,
            "Credit a deposit (once per txid; step-up). 202: awaits a second admin.", ADMIN,
            Auth.ADMIN, body=web.DepositCredit, statuses=(201, 200, 202)),
    web_app("GET", "/v1/admin/deposits/pending", admin_routes.pending_credits,
            "Deposit credits awaiting a second admin.", ADMIN, Auth.ADMIN,
            params=web.PageQuery),
    web_app("POST", "/v1/admin/deposits/{request_id}/approve", admin_routes.approve_credit,
            "The second admin's approval of a deposit credit (step-up).", ADMIN, Auth.ADMIN,
            statuses=(201, 200),
            path_params=(Param("request_id", NUMERIC_ID, "The pending credit's id."),)),
    web_app("GET", "/v1/admin/withdrawals/pending", admin_routes.pending_withdrawals,
            "Withdrawals awaiting a decision.", ADMIN, Auth.ADMIN, params=web.PageQuery),
    web_app("POST", "/v1/admin/withdrawals/{withdrawal_id}/approve",
            admin_routes.approve_withdrawal,
            "Approve a withdrawal (step-up). 202: awaits a second admin.", ADMIN, Auth.ADMIN,
            statuses=(200, 202), path_params=(WITHDRAWAL_ID,)),
    web_app("POST", "/v1/admin/withdrawals/{withdrawal_id}/reject",
            admin_routes.reject_withdrawal,
            "Reject a withdrawal, releasing the funds (step-up).", ADMIN, Auth.ADMIN,
            path_params=(WITHDRAWAL_ID,)),
    web_app("GET", "/v1/admin/audit-log", admin_routes.audit_log, "The audit log.", ADMIN,
            Auth.ADMIN, params=web.PageQuery),
)
