"""/v1 wallet of the signed-in user: balances, ledger, deposits, withdrawals."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.domain.errors import malformed
from chalicelib.domain.money import parse_units
from chalicelib.entrypoints.http import presenters
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.middleware import json_response
from chalicelib.entrypoints.http.models import AssetQuery, LedgerQuery, NewWithdrawal, PageQuery
from chalicelib.entrypoints.http.requests import parse_body, parse_query, path_id
from chalicelib.entrypoints.http.user_stream_routes import push_balance_update
from chalicelib.service_layer import auth, wallet
from chalicelib.service_layer.admin import asset_scale, asset_scales

routes = ApiBlueprint(__name__)


@routes.route("/v1/balances", methods=["GET"])
def balances() -> dict[str, object]:
    user, _session = routes.bearer_user()
    with routes.services.db() as conn:
        return {"balances": [presenters.balance(b) for b in wallet.balances(conn, user.id)]}


@routes.route("/v1/ledger", methods=["GET"])
def ledger() -> dict[str, object]:
    user, _session = routes.bearer_user()
    query = parse_query(routes.current_request, LedgerQuery)
    with routes.services.db() as conn:
        found = wallet.ledger_history(conn, user.id, asset=query.asset, limit=query.limit,
                                      before_id=query.before_id)
        scales = asset_scales(conn)
    return presenters.page([presenters.ledger_entry(e, scales[e.asset]) for e in found.items],
                           found)


@routes.route("/v1/deposit-address", methods=["GET"])
def deposit_address() -> dict[str, object]:
    user, _session = routes.bearer_user()
    query = parse_query(routes.current_request, AssetQuery)
    with routes.services.db() as conn:
        address = wallet.deposit_address(conn, user.id, query.asset)
    return {"asset": query.asset, "address": address}


@routes.route("/v1/deposits", methods=["GET"])
def deposits() -> dict[str, object]:
    user, _session = routes.bearer_user()
    query = parse_query(routes.current_request, PageQuery)
    with routes.services.db() as conn:
        found = wallet.list_deposits(conn, user.id, limit=query.limit, before_id=query.before_id)
        scales = asset_scales(conn)
    return presenters.page([presenters.deposit(d, scales[d.asset]) for d in found.items], found)


@routes.route("/v1/withdrawals", methods=["POST"])
def request_withdrawal() -> Response:
    request = routes.current_request
    user, _session = routes.bearer_user()
    body = parse_body(request, NewWithdrawal)
    key = request.headers.get("idempotency-key", "")
    if not key:
        raise malformed("Idempotency-Key", "header was not sent")
    svc = routes.services
    with svc.db() as conn:
        auth.require_second_factor(svc.auth, conn, user, body.totp_code)
        scale = asset_scale(conn, body.asset)
        created, is_new = wallet.request_withdrawal(
            conn, user_id=user.id, asset=body.asset,
            amount=parse_units(body.amount, scale, param="amount"), address=body.address,
            idempotency_key=key)
    if is_new:
        push_balance_update(svc, user.id, created.asset, -created.amount)
    return json_response(201 if is_new else 200, presenters.withdrawal(created, scale))


@routes.route("/v1/withdrawals", methods=["GET"])
def list_withdrawals() -> dict[str, object]:
    user, _session = routes.bearer_user()
    query = parse_query(routes.current_request, PageQuery)
    with routes.services.db() as conn:
        found = wallet.list_withdrawals(conn, user.id, limit=query.limit,
                                        before_id=query.before_id)
        scales = asset_scales(conn)
    return presenters.page([presenters.withdrawal(w, scales[w.asset]) for w in found.items],
                           found)


@routes.route("/v1/withdrawals/{withdrawal_id}", methods=["GET"])
def get_withdrawal(withdrawal_id: str) -> dict[str, object]:
    user, _session = routes.bearer_user()
    with routes.services.db() as conn:
        found = wallet.get_withdrawal(conn, user.id, path_id(withdrawal_id, "withdrawalId"))
        return presenters.withdrawal(found, asset_scale(conn, found.asset))

