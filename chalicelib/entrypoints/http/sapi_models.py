"""Parameters and answers of the /sapi wallet routes Binance clients call at start-up and
for their wallet: parsed by the handlers, described in the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, RootModel

from chalicelib.entrypoints.http.api_models import Answer, Count, MarketSymbol, Millis
from chalicelib.entrypoints.http.binance_models import BinanceParams, SignedParams
from chalicelib.service_layer import sapi_wallet, wallet

CoinName = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Z0-9]{1,20}$",
                                description="The asset, e.g. BTC.", examples=["BTC"])]
HISTORY_LIMIT = Field(default=sapi_wallet.HISTORY_LIMIT_DEFAULT,
                      json_schema_extra={"minimum": 1,
                                         "maximum": sapi_wallet.HISTORY_LIMIT_MAX},
                      description=f"How many to return (1-{sapi_wallet.HISTORY_LIMIT_MAX}).")


class WalletParams(SignedParams):
    """A signed wallet route with no parameters of its own."""


class TradeFeeParams(SignedParams):
    """`GET /sapi/v1/asset/tradeFee`."""

    symbol: MarketSymbol | None = None


class DepositAddressParams(SignedParams):
    """`GET /sapi/v1/capital/deposit/address`."""

    coin: CoinName
    network: str | None = Field(default=None, max_length=20,
                                description="Accepted for compatibility; one network per coin.")
    amount: str | None = Field(default=None, max_length=80,
                               description="Accepted for compatibility; unused.")


class HistoryParams(SignedParams):
    """What the deposit and withdrawal histories share: newest first, within at most 90
    days (default: the 90 days to now)."""

    coin: CoinName | None = None
    status: Count | None = Field(default=None, description="Binance's status number.")
    start_time: Millis | None = None
    end_time: Millis | None = None
    offset: Count = 0
    limit: Count = HISTORY_LIMIT


class DepositHistoryParams(HistoryParams):
    """`GET /sapi/v1/capital/deposit/hisrec`: status 1 (success) is every deposit here."""

    tx_id: str | None = Field(default=None, max_length=128,
                              description="Only the deposit with this transaction id.")
    include_source: bool | None = Field(default=None, description="Accepted; no effect.")


class WithdrawHistoryParams(HistoryParams):
    """`GET /sapi/v1/capital/withdraw/history`: status 2 awaiting approval, 3 rejected,
    6 completed."""

    withdraw_order_id: str | None = Field(
        default=None, pattern=f"^{wallet.IDEMPOTENCY_KEY.pattern}$",
        description="The client's id given to withdraw/apply.")
    id_list: str | None = Field(default=None, pattern=r"^[0-9]{1,18}(,[0-9]{1,18}){0,44}$",
                                description="Comma-separated withdrawal ids (at most 45).")


class AssetDetailParams(SignedParams):
    """`GET /sapi/v1/asset/assetDetail`."""

    asset: CoinName | None = None


class UserAssetParams(SignedParams):
    """`POST /sapi/v3/asset/getUserAsset`."""

    asset: CoinName | None = None
    need_btc_valuation: bool | None = Field(default=None,
                                            description="Accepted; valuations are 0.")


class MarginListParams(BinanceParams):
    """`GET /sapi/v1/margin/allPairs` and `/allAssets`: no margin here, so always empty."""

    symbol: MarketSymbol | None = None
    asset: CoinName | None = None


class IsolatedPairsParams(SignedParams):
    """`GET /sapi/v1/margin/isolated/allPairs`: always empty."""

    symbol: MarketSymbol | None = None


class SystemStatus(Answer):
    status: int = Field(description="0 normal, 1 maintenance.")
    msg: str


class Network(Answer):
    network: str
    coin: str
    withdraw_integer_multiple: str
    is_default: bool
    deposit_enable: bool
    withdraw_enable: bool
    deposit_desc: str
    withdraw_desc: str
    special_tips: str
    name: str
    reset_address_status: bool
    address_regex: str
    memo_regex: str
    withdraw_fee: str
    withdraw_min: str
    withdraw_max: str
    min_confirm: int
    un_lock_confirm: int


class CoinInfo(Answer):
    coin: str
    deposit_all_enable: bool
    withdraw_all_enable: bool
    name: str
    free: str
    locked: str
    freeze: str
    withdrawing: str
    ipoing: str
    ipoable: str
    storage: str
    is_legal_money: bool
    trading: bool
    network_list: list[Network]


class CoinsInfo(RootModel[list[CoinInfo]]):
    """Every coin with its networks."""


class TradeFee(Answer):
    symbol: str
    maker_commission: str
    taker_commission: str


class TradeFees(RootModel[list[TradeFee]]):
    """Each market's rates for the caller."""


class DepositAddress(Answer):
    address: str
    coin: str
    tag: str
    url: str


class Records(RootModel[list[dict[str, Any]]]):
    """Deposit or withdrawal records, in Binance's fields."""


class AccountStatus(Answer):
    data: str


class ApiRestrictions(Answer):
    ip_restrict: bool
    create_time: int
    enable_reading: bool
    enable_withdrawals: bool
    enable_internal_transfer: bool
    enable_margin: bool
    enable_futures: bool
    permits_universal_transfer: bool
    enable_vanilla_options: bool
    enable_fix_api_trade: bool
    enable_fix_read_only: bool
    enable_spot_and_margin_trading: bool
    enable_portfolio_margin_trading: bool


class AssetDetail(Answer):
    min_withdraw_amount: str
    deposit_status: bool
    withdraw_fee: int = Field(description="A number, as Binance sends it; 0 here.")
    withdraw_status: bool


class AssetDetails(RootModel[dict[str, AssetDetail]]):
    """Each coin's withdrawal limits, by coin."""


class TradingStatus(Answer):
    is_locked: bool
    planned_recover_time: int
    trigger_condition: dict[str, int]
    indicators: dict[str, Any]
    update_time: int


class ApiTradingStatus(Answer):
    data: TradingStatus


class UserAsset(Answer):
    asset: str
    free: str
    locked: str
    freeze: str
    withdrawing: str
    ipoable: str
    btc_valuation: str


class UserAssets(RootModel[list[UserAsset]]):
    """The caller's assets with a balance."""


class EmptyList(RootModel[list[dict[str, Any]]]):
    """Always `[]`: this exchange has no margin."""
