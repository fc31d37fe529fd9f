"""Parameters of the cancel-replace, order-limit and fee routes (Binance's names)."""

from __future__ import annotations

from chalicelib.entrypoints.http.binance_models import SignedParams


class RateLimitOrderParams(SignedParams):
    """`GET /api/v3/rateLimit/order`: nothing beyond the signature."""
