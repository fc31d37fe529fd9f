"""Binance's commission shapes (`account/commission`, `order/test` with
computeCommissionRates). There is no tax and no fee-asset discount here: those read 0."""

from __future__ import annotations

from chalicelib.domain.fees import Rates, rate_text

ZERO = rate_text(0)
NO_DISCOUNT = {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": "",
               "discount": ZERO}


def maker_taker(rates: Rates) -> dict[str, str]:
    return {"maker": rate_text(rates.maker_ppm), "taker": rate_text(rates.taker_ppm)}


def all_sides(rates: Rates) -> dict[str, str]:
    return {**maker_taker(rates), "buyer": ZERO, "seller": ZERO}


def account_commission(symbol: str, rates: Rates) -> dict[str, object]:
    return {"symbol": symbol, "standardCommission": all_sides(rates),
            "specialCommission": all_sides(Rates(0, 0)),
            "taxCommission": all_sides(Rates(0, 0)), "discount": NO_DISCOUNT}


def order_commission(rates: Rates) -> dict[str, object]:
    return {"standardCommissionForOrder": maker_taker(rates),
            "specialCommissionForOrder": maker_taker(Rates(0, 0)),
            "taxCommissionForOrder": maker_taker(Rates(0, 0)), "discount": NO_DISCOUNT}
