"""/v1/admin: assets, markets, halts, deposit credits, withdrawal decisions, audit log.

The route checks the admin role; the service layer checks it again and writes the
audit log in the same transaction as the change. Money actions (deposit credits,
withdrawal decisions, the four-eyes threshold) also need the session to have stepped
up with a TOTP code recently (POST /v1/auth/step-up). Above an asset's four-eyes
threshold the first admin's credit or approval answers 202: it awaits a second admin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from chalice.app import Response

from chalicelib.domain.errors import forbidden
from chalicelib.domain.money import parse_units
from chalicelib.entrypoints.http import presenters
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.middleware import json_response
from chalicelib.entrypoints.http.models import (
    AssetChanges,
    DepositCredit,
    MarketChanges,
    NewAsset,
    NewMarket,
    PageQuery,
)
from chalicelib.entrypoints.http.requests import parse_body, parse_query, path_id
from chalicelib.entrypoints.http.user_stream_routes import (
    push_account_position,
    push_balance_update,
)
from chalicelib.service_layer import Conn, Page, admin, auth, wallet
from chalicelib.service_layer.auth import User

routes = ApiBlueprint(__name__)


class InAsset(Protocol):
    @property
    def asset(self) -> str: ...


Pending = TypeVar("Pending", bound=InAsset)


def admin_user() -> tuple[User, str]:
    """The calling admin and their session id."""
    user, session_id = routes.bearer_user()
    if not user.is_admin:
        raise forbidden("This needs the admin role.")
    return user, session_id


def money_admin() -> User:
    """An admin whose session stepped up recently, as money actions require."""
    user, session_id = admin_user()
    auth.require_step_up(routes.services.auth, user, session_id)
    return user


def threshold_units(value: str | None, scale: int) -> int | None:
    return None if value is None else parse_units(value, scale, param="fourEyesThreshold")


@routes.route("/v1/admin/assets", methods=["POST"])
def create_asset() -> Response:
    actor, _ = admin_user()
    body = parse_body(routes.current_request, NewAsset)
    with routes.services.db() as conn:
        asset = admin.create_asset(
            conn, actor_id=actor.id, symbol=body.symbol, scale=body.scale, name=body.name,
            four_eyes_threshold=threshold_units(body.four_eyes_threshold, body.scale))
    return json_response(201, presenters.asset(asset))


@routes.route("/v1/admin/assets/{symbol}", methods=["PATCH"])
def update_asset(symbol: str) -> dict[str, object]:
    actor = money_admin()
    body = parse_body(routes.current_request, AssetChanges)
    with routes.services.db() as conn:
        scale = admin.asset_scale(conn, symbol, param="symbol")
        return presenters.asset(admin.set_four_eyes_threshold(
            conn, actor_id=actor.id, symbol=symbol,
            threshold=threshold_units(body.four_eyes_threshold, scale)))


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
    actor, _ = admin_user()
    body = parse_body(routes.current_request, NewMarket)
    with routes.services.db() as conn:
        units = market_units(conn, body.base_asset, body.quote_asset, body)
        market = admin.create_market(conn, actor_id=actor.id, symbol=body.symbol,
                                     base=body.base_asset, quote=body.quote_asset, **units)
    return json_response(201, presenters.market(market))


@routes.route("/v1/admin/markets/{symbol}", methods=["PATCH"])
def update_market(symbol: str) -> dict[str, object]:
    actor, _ = admin_user()
    body = parse_body(routes.current_request, MarketChanges)
    with routes.services.db() as conn:
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
    actor, _ = admin_user()
    with routes.services.db() as conn:
        return presenters.market(admin.set_market_status(conn, actor_id=actor.id, symbol=symbol,
                                                         status=status))


@routes.route("/v1/admin/deposits", methods=["POST"])
def credit_deposit() -> Response:
    """201 credited, 200 a repeat, 202 above the threshold: awaiting a second admin."""
    actor = money_admin()
    body = parse_body(routes.current_request, DepositCredit)
    with routes.services.db() as conn:
        scale = admin.asset_scale(conn, body.asset)
        credited, is_new = wallet.credit_deposit(
            conn, actor_id=actor.id, user_id=body.user_id, asset=body.asset,
            amount=parse_units(body.amount, scale, param="amount"), external_txid=body.txid)
    if isinstance(credited, wallet.PendingCredit):
        return json_response(202, presenters.pending_credit(credited, scale))
    if is_new:
        push_balance_update(routes.services, credited.user_id, credited.asset, credited.amount)
    return json_response(201 if is_new else 200, presenters.deposit(credited, scale))


@routes.route("/v1/admin/deposits/pending", methods=["GET"])
def pending_credits() -> dict[str, object]:
    return pending_page(wallet.pending_credits, presenters.pending_credit)


def pending_page(list_pending: Callable[..., Page[Pending]],
                 present: Callable[[Pending, int], dict[str, Any]]) -> dict[str, object]:
    """A page of what awaits an admin's decision, each amount at its asset's scale."""
    admin_user()
    query = parse_query(routes.current_request, PageQuery)
    with routes.services.db() as conn:
        found = list_pending(conn, limit=query.limit, before_id=query.before_id)
        scales = admin.asset_scales(conn)
    return presenters.page([present(item, scales[item.asset]) for item in found.items], found)


@routes.route("/v1/admin/deposits/{request_id}/approve", methods=["POST"])
def approve_credit(request_id: str) -> Response:
    """The second admin's approval: 201 credited now, 200 credited before."""
    actor = money_admin()
    with routes.services.db() as conn:
        credited, executed = wallet.approve_credit(conn, actor_id=actor.id,
                                                   request_id=path_id(request_id, "requestId"))
        body = presenters.deposit(credited, admin.asset_scale(conn, credited.asset))
    if executed:
        push_balance_update(routes.services, credited.user_id, credited.asset, credited.amount)
    return json_response(201 if executed else 200, body)


@routes.route("/v1/admin/withdrawals/pending", methods=["GET"])
def pending_withdrawals() -> dict[str, object]:
    return pending_page(wallet.pending_withdrawals, presenters.admin_withdrawal)


@routes.route("/v1/admin/withdrawals/{withdrawal_id}/approve", methods=["POST"])
def approve_withdrawal(withdrawal_id: str) -> Response:
    return decide_withdrawal(withdrawal_id, wallet.approve_withdrawal)


@routes.route("/v1/admin/withdrawals/{withdrawal_id}/reject", methods=["POST"])
def reject_withdrawal(withdrawal_id: str) -> Response:
    return decide_withdrawal(withdrawal_id, wallet.reject_withdrawal)


def decide_withdrawal(withdrawal_id: str,
                      decide: Callable[..., wallet.Withdrawal]) -> Response:
    """200 decided; 202 a first approval above the threshold, awaiting a second admin."""
    actor = money_admin()
    with routes.services.db() as conn:
        decided = decide(conn, actor_id=actor.id,
                         withdrawal_id=path_id(withdrawal_id, "withdrawalId"))
        body = presenters.admin_withdrawal(decided, admin.asset_scale(conn, decided.asset))
    # A rejection returns the money to the balance; a payout only empties its lock.
    if decided.status is wallet.WithdrawalStatus.REJECTED:
        push_balance_update(routes.services, decided.user_id, decided.asset, decided.amount)
    elif decided.status is wallet.WithdrawalStatus.APPROVED:
        push_account_position(routes.services, decided.user_id, decided.asset)
    return json_response(202 if decided.status is wallet.WithdrawalStatus.PENDING else 200,
                         body)


@routes.route("/v1/admin/audit-log", methods=["GET"])
def audit_log() -> dict[str, object]:
    admin_user()
    query = parse_query(routes.current_request, PageQuery)
    with routes.services.db() as conn:
        found = admin.audit_log(conn, limit=query.limit, before_id=query.before_id)
    return presenters.page([presenters.audit_entry(e) for e in found.items], found)
