"""Parameters of the cancel-replace, order-limit and fee routes (Binance's names)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from chalicelib.domain.errors import malformed
from chalicelib.entrypoints.http.binance_models import (
    ClientOrderId,
    Id,
    NewOrderParams,
    SignedParams,
    Symbol,
)


def blank_is_absent(value: Any) -> Any:
    """Binance clients send empty optional parameters; they count as not sent."""
    return None if value == "" else value


class RateLimitOrderParams(SignedParams):
    """`GET /api/v3/rateLimit/order`: nothing beyond the signature."""


class CancelReplaceMode(StrEnum):
    """Whether the new order is placed when the cancel fails."""

    STOP_ON_FAILURE = "STOP_ON_FAILURE"
    ALLOW_FAILURE = "ALLOW_FAILURE"


class CancelRestriction(StrEnum):
    """Cancel only an order in this status."""

    ONLY_NEW = "ONLY_NEW"
    ONLY_PARTIALLY_FILLED = "ONLY_PARTIALLY_FILLED"


class RateLimitExceededMode(StrEnum):
    """What to do when the new order is over the ORDERS limits: nothing, or still cancel."""

    DO_NOTHING = "DO_NOTHING"
    CANCEL_ONLY = "CANCEL_ONLY"


class CancelReplaceParams(NewOrderParams):
    """`POST /api/v3/order/cancelReplace`: the order to cancel, and a new order as
    `POST /api/v3/order` takes it."""

    cancel_replace_mode: CancelReplaceMode = Field(
        description="STOP_ON_FAILURE: no new order if the cancel fails; ALLOW_FAILURE: "
        "place it anyway.")
    cancel_order_id: Id | None = Field(default=None, description="The order to cancel.")
    cancel_orig_client_order_id: ClientOrderId | None = Field(
        default=None, description="The order to cancel, by client order id.")
    cancel_new_client_order_id: ClientOrderId | None = Field(
        default=None, description="The cancel's client order id.")
    cancel_restrictions: Annotated[
        CancelRestriction | None, BeforeValidator(blank_is_absent)] = Field(
        default=None, description="ONLY_NEW or ONLY_PARTIALLY_FILLED.")
    order_rate_limit_exceeded_mode: Annotated[
        RateLimitExceededMode | None, BeforeValidator(blank_is_absent)] = Field(
        default=None, description="DO_NOTHING (default) or CANCEL_ONLY.")

    @model_validator(mode="after")
    def _names_the_cancelled_order(self) -> CancelReplaceParams:
        if self.cancel_order_id is None and self.cancel_orig_client_order_id is None:
            raise malformed("cancelOrderId", "or 'cancelOrigClientOrderId' must be sent")
        return self


class CommissionParams(SignedParams):
    """`GET /api/v3/account/commission`."""

    symbol: Symbol


class TestOrderParams(NewOrderParams):
    """`POST /api/v3/order/test`: an order checked, not placed."""

    compute_commission_rates: Annotated[bool | None, BeforeValidator(blank_is_absent)] = Field(
        default=None, description="`true` answers the commission rates the order would pay "
        "(weight 20).")
