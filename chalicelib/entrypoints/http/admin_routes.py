"""/v1/admin: assets, markets, halts, deposit credits, withdrawal decisions, audit log.

The route checks the admin role; the service layer checks it again and writes the
audit log in the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Request, Response

from chalicelib.domain.errors import forbidden
from chalicelib.domain.money import parse_units
from chalicelib.entrypoints.http import presenters
from chalicelib.entrypoints.http.middleware import ApiBlueprint, json_response
from chalicelib.entrypoints.http.models import (
    DepositCredit,
    MarketChanges,
    NewAsset,
    NewMarket,
    PageQuery,
)
from chalicelib.entrypoints.http.requests import bearer_user, parse_body, parse_query, path_id
from chalicelib.entrypoints.http.services import services
from chalicelib.service_layer import Conn, admin, wallet
from chalicelib.service_layer.auth import User

routes = ApiBlueprint(__name__)


def admin_user(request: Request) -> User:
    user, _session = bearer_user(request)
    if not user.is_admin:
        raise forbidden("This needs the admin role.")
    return user


@routes.route("/v1/admin/assets", methods=["POST"])
def create_asset() -> Response:
    actor = admin_user(routes.current_request)
    body = parse_body(routes.current_request, NewAsset)
    with services().db() as conn:
        asset = admin.create_asset(conn, actor_id=actor.id, symbol=body.symbol, scale=body.scale,
                                   name=body.name)
    return json_response(201, {"symbol": asset.symbol, "scale": asset.scale, "name": asset.name})


def market_units(conn: Conn, base: str, quote: str, changes: MarketChanges) -> dict[str, Any]:
    """The filters given as decimal strings, in integer units of the right asset."""
    base_scale = admin.asset_scale(conn, base, param="baseAsset")
    quote_scale = admin.asset_scale(conn, quote, param="quoteAsset")
    units: dict[str, Any] = {}
    for field, scale, param in (("tick_size", quote_scale, "tickSize"),
                                ("step_size", base_scale, "stepSize"),
                                ("min_qty", base_scale, "minQty"),
                                ("max_qty", base_scale, "maxQty"),
                                ("min_notional", quote_scale, "minNotional")):
        value = getattr(changes, field)
        if value is not None:
            name = "lot_size" if field == "step_size" else field
            units[name] = parse_units(value, scale, param=param)
    for fee in ("maker_fee_ppm", "taker_fee_ppm"):
        if getattr(changes, fee) is not None:
            units[fee] = getattr(changes, fee)
    return units


@routes.route("/v1/admin/markets", methods=["POST"])
def create_market() -> Response:
    actor = admin_user(routes.current_request)
    body = parse_body(routes.current_request, NewMarket)
    with services().db() as conn:
        units = market_units(conn, body.base_asset, body.quote_asset, body)
        market = admin.create_market(conn, actor_id=actor.id, symbol=body.symbol,
                                     base=body.base_asset, quote=body.quote_asset, **units)
    return json_response(201, presenters.market(market))


@routes.route("/v1/admin/markets/{symbol}", methods=["PATCH"])
def update_market(symbol: str) -> dict[str, object]:
    actor = admin_user(routes.current_request)
    body = parse_body(routes.current_request, MarketChanges)
    with services().db() as conn:
        base, quote = admin.market_assets(conn, symbol)
        units = market_units(conn, base, quote, body)
        return presenters.market(admin.update_market(conn, actor_id=actor.id, symbol=symbol,
                                                     **units))


@routes.route("/v1/admin/markets/{symbol}/halt", methods=["POST"])
def halt_market(symbol: str) -> dict[str, object]:
    return set_status(symbol, "HALT")


@routes.route("/v1/admin/markets/{symbol}/resume", methods=["POST"])
def resume_market(symbol: str) -> dict[str, object]:
    return set_status(symbol, "TRADING")


def set_status(symbol: str, status: str) -> dict[str, object]:
    actor = admin_user(routes.current_request)
    with services().db() as conn:
        return presenters.market(admin.set_market_status(conn, actor_id=actor.id, symbol=symbol,
                                                         status=status))


@routes.route("/v1/admin/deposits", methods=["POST"])
def credit_deposit() -> Response:
    actor = admin_user(routes.current_request)
    body = parse_body(routes.current_request, DepositCredit)
    with services().db() as conn:
        scale = admin.asset_scale(conn, body.asset)
        deposit, is_new = wallet.credit_deposit(
            conn, actor_id=actor.id, user_id=body.user_id, asset=body.asset,
            amount=parse_units(body.amount, scale, param="amount"), external_txid=body.txid)
    return json_response(201 if is_new else 200, presenters.deposit(deposit, scale))


@routes.route("/v1/admin/withdrawals/pending", methods=["GET"])
def pending_withdrawals() -> dict[str, object]:
    admin_user(routes.current_request)
    query = parse_query(routes.current_request, PageQuery)
    with services().db() as conn:
        found = wallet.pending_withdrawals(conn, limit=query.limit, before_id=query.before_id)
        scales = admin.asset_scales(conn)
    return presenters.page([presenters.withdrawal(w, scales[w.asset]) for w in found.items],
                           found)


@routes.route("/v1/admin/withdrawals/{withdrawal_id}/approve", methods=["POST"])
def approve_withdrawal(withdrawal_id: str) -> dict[str, object]:
    return decide_withdrawal(withdrawal_id, wallet.approve_withdrawal)


@routes.route("/v1/admin/withdrawals/{withdrawal_id}/reject", methods=["POST"])
def reject_withdrawal(withdrawal_id: str) -> dict[str, object]:
    return decide_withdrawal(withdrawal_id, wallet.reject_withdrawal)


def decide_withdrawal(withdrawal_id: str,
                      decide: Callable[..., wallet.Withdrawal]) -> dict[str, object]:
    actor = admin_user(routes.current_request)
    with services().db() as conn:
        decided = decide(conn, actor_id=actor.id,
                         withdrawal_id=path_id(withdrawal_id, "withdrawalId"))
        return presenters.withdrawal(decided, admin.asset_scale(conn, decided.asset))


@routes.route("/v1/admin/audit-log", methods=["GET"])
def audit_log() -> dict[str, object]:
    admin_user(routes.current_request)
    query = parse_query(routes.current_request, PageQuery)
    with services().db() as conn:
        found = admin.audit_log(conn, limit=query.limit, before_id=query.before_id)
    return presenters.page([presenters.audit_entry(e) for e in found.items], found)
