"""Signed /api/v3 and /sapi account endpoints, as Binance serves them."""

from __future__ import annotations

from chalicelib.domain.money import parse_units
from chalicelib.entrypoints.http import commission_presenters, presenters
from chalicelib.entrypoints.http.api_models import AccountParams, WithdrawApplyParams
from chalicelib.entrypoints.http.binance_models import parse_params
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.user_stream_routes import push_balance_update
from chalicelib.service_layer import api_keys, fees, wallet
from chalicelib.service_layer.admin import asset_scale

routes = ApiBlueprint(__name__)


@routes.route("/api/v3/account", methods=["GET"])
def account() -> dict[str, object]:
    owner, signed = routes.key_owner("READ")
    params = parse_params(AccountParams, signed.params())
    with routes.services.db() as conn:
        held = wallet.balances(conn, owner.user_id, omit_zero=bool(params.omit_zero_balances))
        rates = fees.account_rates(conn, owner.user_id)
    return {
        # Fees differ per market: this shows the highest (the account's fee tier applied),
        # /account/commission each one. Binance's integers are in basis points.
        "makerCommission": rates.maker_ppm // 100, "takerCommission": rates.taker_ppm // 100,
        "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": commission_presenters.all_sides(rates),
        "canTrade": "TRADE" in owner.permissions, "canWithdraw": "WITHDRAW" in owner.permissions,
        "canDeposit": True, "brokered": False, "requireSelfTradePrevention": False,
        "preventSor": False, "updateTime": signed.now_ms, "accountType": "SPOT",
        "balances": [presenters.balance(b) for b in held],
        "permissions": ["SPOT"], "uid": owner.user_id,
    }


@routes.route("/sapi/v1/capital/withdraw/apply", methods=["POST"])
def apply_withdrawal() -> dict[str, object]:
    owner, signed = routes.key_owner("WITHDRAW")
    raw = signed.params()
    params = parse_params(WithdrawApplyParams, raw)
    svc = routes.services
    api_keys.refuse_respelt_replay(svc.replay_guard, api_keys.signing_key_id(owner), raw)
    with svc.db() as conn:
        scale = asset_scale(conn, params.coin, param="coin")
        created, is_new = wallet.request_withdrawal(
            conn, user_id=owner.user_id, asset=params.coin,
            amount=parse_units(params.amount, scale, param="amount"),
            address=params.address, idempotency_key=withdrawal_key(params))
    if is_new:
        push_balance_update(svc, owner.user_id, created.asset, -created.amount)
    return {"id": str(created.id)}


def withdrawal_key(params: WithdrawApplyParams) -> str:
    """Binance's client id for a withdrawal doubles as our idempotency key; without
    one, the signature in its one spelling does: a replayed request withdraws nothing
    more, whatever the case of its signature."""
    signature = api_keys.canonical_signature(params.signature)
    return params.withdraw_order_id or f"sig-{signature[:60]}"
