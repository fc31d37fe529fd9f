"""The /sapi wallet routes in the OpenAPI document (``route_docs.ROUTES`` joins them)."""

from __future__ import annotations

from chalicelib.entrypoints.http import sapi_models as sapi
from chalicelib.entrypoints.http import sapi_routes
from chalicelib.entrypoints.http.route_doc_kinds import (
    ACCOUNT,
    GENERAL,
    WALLET,
    RouteDoc,
    public,
    signed,
)

ROUTES: tuple[RouteDoc, ...] = (
    public("/sapi/v1/system/status", sapi_routes.system_status, "System status.", GENERAL,
           answer=sapi.SystemStatus),
    signed("GET", "/sapi/v1/capital/config/getall", sapi_routes.all_coins,
           "Every coin, its network, and the caller's balance of it.", sapi.WalletParams,
           WALLET, sapi.CoinsInfo),
    signed("GET", "/sapi/v1/asset/assetDetail", sapi_routes.asset_detail,
           "Each coin's withdrawal minimum, fee and status.", sapi.AssetDetailParams, WALLET,
           sapi.AssetDetails),
    signed("GET", "/sapi/v1/asset/tradeFee", sapi_routes.trade_fee,
           "Maker and taker fee of each market.", sapi.TradeFeeParams, ACCOUNT,
           sapi.TradeFees),
    signed("GET", "/sapi/v1/capital/deposit/address", sapi_routes.capital_deposit_address,
           "The caller's deposit address for a coin.", sapi.DepositAddressParams, WALLET,
           sapi.DepositAddress),
    signed("GET", "/sapi/v1/capital/deposit/hisrec", sapi_routes.deposit_history,
           "The caller's deposits, newest first.", sapi.DepositHistoryParams, WALLET,
           sapi.Records),
    signed("GET", "/sapi/v1/capital/withdraw/history", sapi_routes.withdraw_history,
           "The caller's withdrawals, newest first.", sapi.WithdrawHistoryParams, WALLET,
           sapi.Records),
    signed("GET", "/sapi/v1/account/status", sapi_routes.account_status,
           "Account status.", sapi.WalletParams, ACCOUNT, sapi.AccountStatus),
    signed("GET", "/sapi/v1/account/apiTradingStatus", sapi_routes.api_trading_status,
           "API trading status: never locked here.", sapi.WalletParams, ACCOUNT,
           sapi.ApiTradingStatus),
    signed("GET", "/sapi/v1/account/apiRestrictions", sapi_routes.api_restrictions,
           "What the calling API key may do.", sapi.WalletParams, ACCOUNT,
           sapi.ApiRestrictions, sessions=False),
    signed("POST", "/sapi/v3/asset/getUserAsset", sapi_routes.user_assets,
           "The assets the caller holds.", sapi.UserAssetParams, WALLET, sapi.UserAssets),
    public("/sapi/v1/margin/allPairs", sapi_routes.margin_pairs,
           "Cross margin pairs: none, this exchange has no margin.", params=sapi.MarginListParams,
           answer=sapi.EmptyList),
    public("/sapi/v1/margin/allAssets", sapi_routes.margin_assets,
           "Margin assets: none, this exchange has no margin.", params=sapi.MarginListParams,
           answer=sapi.EmptyList),
    signed("GET", "/sapi/v1/margin/isolated/allPairs", sapi_routes.isolated_margin_pairs,
           "Isolated margin pairs: none, this exchange has no margin.",
           sapi.IsolatedPairsParams, ACCOUNT, sapi.EmptyList),
)
