"""Decimal strings at the API edge <-> integers of an asset's smallest unit inside.

Pure and exact: no floats, no Decimal arithmetic, no rounding. A value that cannot
be represented exactly at the asset's scale is refused, never rounded.
"""

from __future__ import annotations

import re

from chalicelib.domain.errors import ErrorCode, bad_request, malformed

MAX_SCALE = 18
MAX_UNITS = 10**38 - 1
"""The largest amount PostgreSQL's NUMERIC(38, 0) columns can hold."""

# Plain non-negative decimals as Binance accepts them: "1", "0.001", "1.50".
# No sign, exponent, whitespace, thousands separators or bare ".5" / "5.";
# [0-9] rather than \d, which would also take other scripts' digits.
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
# Longer input cannot be a storable amount; refusing it early bounds the work done.
_MAX_TEXT_LENGTH = 80


def parse_units(text: str, scale: int, *, param: str) -> int:
    """Parse a decimal string into integer smallest units of an asset with ``scale``.

    ``param`` names the request parameter in error messages. Trailing zeros beyond
    the scale are accepted ("1.50" at scale 1 is 15): they carry no precision.
    """
    _check_scale(scale)
    match = _DECIMAL.fullmatch(text) if len(text) <= _MAX_TEXT_LENGTH else None
    if match is None:
        raise malformed(param)
    whole, fraction = match[1], (match[2] or "").rstrip("0")
    if len(fraction) > scale:
        raise bad_request(ErrorCode.BAD_PRECISION, f"Parameter '{param}' has too much precision.")
    units = int(whole + fraction.ljust(scale, "0"))
    if units > MAX_UNITS:
        raise malformed(param, "is too large")
    return units


def format_units(units: int, scale: int) -> str:
    """Integer smallest units as a decimal string with exactly ``scale`` decimals,
    as Binance prints amounts ("0.00100000"). Negative amounts (the exchange's
    clearing accounts) keep their sign."""
    _check_scale(scale)
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rjust(scale + 1, "0")
    if scale == 0:
        return sign + digits
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def _check_scale(scale: int) -> None:
    # A scale outside 0..18 is a programming error: assets are validated on creation.
    if not 0 <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be within 0..{MAX_SCALE}, got {scale}")
