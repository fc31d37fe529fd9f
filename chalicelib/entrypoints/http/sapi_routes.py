"""Binance's /sapi wallet routes that clients call at start-up and for their wallet
(CCXT's load_markets, python-binance, the connector): system status, coins and their
details, trading fees, deposit address and history, withdrawal history, account,
API-key and API-trading status, balances, and the margin listings, empty (this exchange
has no margin)."""

from __future__ import annotations

from chalicelib.domain.wallet import WithdrawalStatus
from chalicelib.entrypoints.http import sapi_presenters as present
from chalicelib.entrypoints.http.binance_models import parse_params
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.requests import parse_query
from chalicelib.entrypoints.http.sapi_models import (
    AssetDetailParams,
    DepositAddressParams,
    DepositHistoryParams,
    HistoryParams,
    IsolatedPairsParams,
    MarginListParams,
    TradeFeeParams,
    UserAssetParams,
    WalletParams,
    WithdrawHistoryParams,
)
from chalicelib.service_layer import sapi_wallet, wallet
from chalicelib.service_layer.admin import asset_scales
from chalicelib.service_layer.api_keys import signing_key_id
from chalicelib.service_layer.sapi_wallet import HistoryQuery, WithdrawalSelection

routes = ApiBlueprint(__name__)
READ = "READ"
BINANCE_WITHDRAW_STATUS = {number: status for status, number in present.WITHDRAW_STATUS.items()}


@routes.route("/sapi/v1/system/status", methods=["GET"])
def system_status() -> dict[str, object]:
    return {"status": 0, "msg": "normal"}


@routes.route("/sapi/v1/capital/config/getall", methods=["GET"])
def all_coins() -> list[dict[str, object]]:
    owner, signed = routes.key_owner(READ)
    parse_params(WalletParams, signed.params())
    with routes.services.db() as conn:
        return [present.coin(c) for c in sapi_wallet.coins(conn, owner.user_id)]


@routes.route("/sapi/v1/asset/assetDetail", methods=["GET"])
def asset_detail() -> dict[str, object]:
    owner, signed = routes.key_owner(READ)
    params = parse_params(AssetDetailParams, signed.params())
    with routes.services.db() as conn:
        coins = sapi_wallet.coins(conn, owner.user_id)
    return {c.symbol: present.asset_detail(c) for c in coins
            if params.asset in (None, c.symbol)}


@routes.route("/sapi/v1/asset/tradeFee", methods=["GET"])
def trade_fee() -> list[dict[str, object]]:
    owner, signed = routes.key_owner(READ)
    params = parse_params(TradeFeeParams, signed.params())
    with routes.services.db() as conn:
        fees = sapi_wallet.trade_fees(conn, owner.user_id, params.symbol)
    return [present.trade_fee(fee) for fee in fees]


@routes.route("/sapi/v1/capital/deposit/address", methods=["GET"])
def capital_deposit_address() -> dict[str, object]:
    owner, signed = routes.key_owner(READ)
    params = parse_params(DepositAddressParams, signed.params())
    with routes.services.db() as conn:
        address = wallet.deposit_address(conn, owner.user_id, params.coin)
    return {"address": address, "coin": params.coin, "tag": "", "url": ""}


@routes.route("/sapi/v1/capital/deposit/hisrec", methods=["GET"])
def deposit_history() -> list[dict[str, object]]:
    owner, signed = routes.key_owner(READ)
    params = parse_params(DepositHistoryParams, signed.params())
    if params.status not in (None, present.DEPOSIT_SUCCESS):
        return []
    with routes.services.db() as conn:
        found = sapi_wallet.deposit_history(conn, owner.user_id, history_query(params),
                                            signed.now_ms, params.tx_id)
        addresses = sapi_wallet.deposit_addresses(conn, owner.user_id)
        scales = asset_scales(conn)
    return [present.deposit(d, scales[d.asset], addresses.get(d.asset, "")) for d in found]


@routes.route("/sapi/v1/capital/withdraw/history", methods=["GET"])
def withdraw_history() -> list[dict[str, object]]:
    owner, signed = routes.key_owner(READ)
    params = parse_params(WithdrawHistoryParams, signed.params())
    statuses: tuple[WithdrawalStatus, ...] | None = None
    if params.status is not None:
        known = BINANCE_WITHDRAW_STATUS.get(params.status)
        statuses = () if known is None else (known,)
    ids = None if params.id_list is None else tuple(int(i) for i in params.id_list.split(","))
    only = WithdrawalSelection(statuses, ids, params.withdraw_order_id)
    with routes.services.db() as conn:
        found = sapi_wallet.withdrawal_history(conn, owner.user_id, history_query(params),
                                               signed.now_ms, only)
        scales = asset_scales(conn)
    return [present.withdrawal(w, scales[w.asset]) for w in found]


def history_query(params: HistoryParams) -> HistoryQuery:
    return HistoryQuery(params.coin, params.start_time, params.end_time, params.offset,
                        params.limit)


@routes.route("/sapi/v1/account/status", methods=["GET"])
def account_status() -> dict[str, object]:
    _owner, signed = routes.key_owner(READ)
    parse_params(WalletParams, signed.params())
    return {"data": "Normal"}


@routes.route("/sapi/v1/account/apiTradingStatus", methods=["GET"])
def api_trading_status() -> dict[str, object]:
    _owner, signed = routes.key_owner(READ)
    parse_params(WalletParams, signed.params())
    return present.api_trading_status(signed.now_ms)


@routes.route("/sapi/v1/account/apiRestrictions", methods=["GET"])
def api_restrictions() -> dict[str, object]:
    owner, signed = routes.key_owner(READ)
    parse_params(WalletParams, signed.params())
    key_id = signing_key_id(owner)  # a web session has no API key to describe
    with routes.services.db() as conn:
        return present.api_restrictions(sapi_wallet.key_restrictions(conn, key_id))


@routes.route("/sapi/v3/asset/getUserAsset", methods=["POST"])
def user_assets() -> list[dict[str, object]]:
    owner, signed = routes.key_owner(READ)
    params = parse_params(UserAssetParams, signed.params())
    with routes.services.db() as conn:
        held = sapi_wallet.coins(conn, owner.user_id)
    # Binance lists only the assets the user holds.
    return [present.user_asset(c) for c in held if (c.free or c.locked)
            and params.asset in (None, c.symbol)]


@routes.route("/sapi/v1/margin/allPairs", methods=["GET"])
def margin_pairs() -> list[dict[str, object]]:
    parse_query(routes.current_request, MarginListParams)
    return []


@routes.route("/sapi/v1/margin/allAssets", methods=["GET"])
def margin_assets() -> list[dict[str, object]]:
    parse_query(routes.current_request, MarginListParams)
    return []


@routes.route("/sapi/v1/margin/isolated/allPairs", methods=["GET"])
def isolated_margin_pairs() -> list[dict[str, object]]:
    _owner, signed = routes.key_owner(READ)
    parse_params(IsolatedPairsParams, signed.params())
    return []
