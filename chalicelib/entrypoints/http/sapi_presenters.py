"""The /sapi wallet objects in Binance's shapes: decimal strings at each asset's scale,
Binance's status numbers, and one network per coin (named after the coin: deposits and
withdrawals here go through the exchange's own rails)."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.money import format_units
from chalicelib.domain.wallet import ADDRESS, Deposit, Withdrawal, WithdrawalStatus
from chalicelib.entrypoints.http.presenters import millis
from chalicelib.service_layer.sapi_wallet import Coin, KeyRestrictions, TradeFee

DEPOSIT_SUCCESS = 1
"""Binance's deposit status "success": every deposit here is credited when recorded."""
WITHDRAW_STATUS = {WithdrawalStatus.PENDING: 2, WithdrawalStatus.REJECTED: 3,
                   WithdrawalStatus.APPROVED: 6}
"""Binance's withdrawal status numbers: 2 awaiting approval, 3 rejected, 6 completed."""
SIGNATURE_KEY_PREFIX = "sig-"
"""Idempotency keys the API made from a signature (no withdrawOrderId was sent)."""


def fee_rate(ppm: int) -> str:
    """Parts per million as Binance writes a rate: "0.001", "0"."""
    return format_units(ppm, 6).rstrip("0").rstrip(".")


def trade_fee(fee: TradeFee) -> dict[str, object]:
    return {"symbol": fee.symbol, "makerCommission": fee_rate(fee.maker_ppm),
            "takerCommission": fee_rate(fee.taker_ppm)}


def coin(item: Coin) -> dict[str, object]:
    zero = format_units(0, item.scale)
    unit = format_units(1, item.scale)
    return {
        "coin": item.symbol, "depositAllEnable": True, "withdrawAllEnable": True,
        "name": item.name or item.symbol, "free": format_units(item.free, item.scale),
        "locked": format_units(item.locked, item.scale), "freeze": zero,
        "withdrawing": zero, "ipoing": zero, "ipoable": zero, "storage": zero,
        "isLegalMoney": False, "trading": True,
        "networkList": [{
            "network": item.symbol, "coin": item.symbol, "withdrawIntegerMultiple": unit,
            "isDefault": True, "depositEnable": True, "withdrawEnable": True,
            "depositDesc": "", "withdrawDesc": "", "specialTips": "", "name": item.symbol,
            "resetAddressStatus": False, "addressRegex": f"^{ADDRESS.pattern}$", "memoRegex": "",
            # No withdrawal fee; the least amount is one smallest unit; "0": no maximum.
            "withdrawFee": zero, "withdrawMin": unit, "withdrawMax": "0",
            "minConfirm": 0, "unLockConfirm": 0,
        }],
    }


def asset_detail(item: Coin) -> dict[str, object]:
    return {"minWithdrawAmount": format_units(1, item.scale), "depositStatus": True,
            "withdrawFee": 0, "withdrawStatus": True}


def api_trading_status(now_ms: int) -> dict[str, object]:
    """Never locked: the exchange has no trading-rule lock (Binance's triggers are shown
    for clients that read them)."""
    return {"data": {"isLocked": False, "plannedRecoverTime": 0,
                     "triggerCondition": {"GCR": 150, "IFER": 150, "UFR": 300},
                     "indicators": {}, "updateTime": now_ms}}


def deposit(item: Deposit, scale: int, address: str) -> dict[str, object]:
    return {
        "id": str(item.id), "amount": format_units(item.amount, scale), "coin": item.asset,
        "network": item.asset, "status": DEPOSIT_SUCCESS, "address": address,
        "addressTag": "", "txId": item.external_txid, "insertTime": millis(item.created_at),
        "transferType": 0, "confirmTimes": "1/1", "unlockConfirm": 0, "walletType": 0,
    }


def withdrawal(item: Withdrawal, scale: int) -> dict[str, object]:
    shape: dict[str, object] = {
        "id": str(item.id), "amount": format_units(item.amount, scale),
        "transactionFee": format_units(0, scale), "coin": item.asset,
        "status": WITHDRAW_STATUS[item.status], "address": item.address, "txId": "",
        "applyTime": utc_text(item.requested_at), "network": item.asset, "transferType": 0,
        "info": "", "confirmNo": 0, "walletType": 0, "txKey": "",
    }
    if not item.idempotency_key.startswith(SIGNATURE_KEY_PREFIX):
        shape["withdrawOrderId"] = item.idempotency_key
    if item.decided_at is not None:
        shape["completeTime"] = utc_text(item.decided_at)
    return shape


def api_restrictions(key: KeyRestrictions) -> dict[str, object]:
    return {
        "ipRestrict": bool(key.ip_allowlist), "createTime": millis(key.created_at),
        "enableReading": "READ" in key.permissions,
        "enableWithdrawals": "WITHDRAW" in key.permissions,
        "enableInternalTransfer": False, "enableMargin": False, "enableFutures": False,
        "permitsUniversalTransfer": False, "enableVanillaOptions": False,
        "enableFixApiTrade": False, "enableFixReadOnly": False,
        "enableSpotAndMarginTrading": "TRADE" in key.permissions,
        "enablePortfolioMarginTrading": False,
    }


def user_asset(item: Coin) -> dict[str, object]:
    zero = format_units(0, item.scale)
    return {"asset": item.symbol, "free": format_units(item.free, item.scale),
            "locked": format_units(item.locked, item.scale), "freeze": zero,
            "withdrawing": zero, "ipoable": zero, "btcValuation": "0"}


def utc_text(instant: datetime) -> str:
    """Binance's wallet times: "2019-10-12 11:12:02", UTC."""
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
