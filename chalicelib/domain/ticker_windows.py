"""The time windows of Binance's tickers and the ``timeZone`` parameter. Pure code.

* ``windowSize`` of ``GET /api/v3/ticker``: ``1m``..``59m``, ``1h``..``23h``,
  ``1d``..``7d``; the default ``1d``.
* ``timeZone`` (``ticker/tradingDay``, ``klines``): hours, or hours and minutes, from
  -12:00 to +14:00 ("0", "8", "-1:00", "+05:45"); the default 0 (UTC).
"""

from __future__ import annotations

import re

from chalicelib.domain.errors import ApiError, ErrorCode, bad_request

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
DEFAULT_WINDOW = "1d"
# Unit: (ms, largest count).
WINDOW_UNITS = {"m": (MINUTE_MS, 59), "h": (HOUR_MS, 23), "d": (DAY_MS, 7)}
_WINDOW = re.compile(r"([1-9][0-9]?)([mhd])")
_TIME_ZONE = re.compile(r"([+-]?)([0-9]{1,2})(?::([0-9]{2}))?")
EARLIEST_OFFSET_MS, LATEST_OFFSET_MS = -12 * HOUR_MS, 14 * HOUR_MS


def window_ms(text: str) -> int:
    """The length of a ``windowSize``, or Binance's -1100."""
    found = _WINDOW.fullmatch(text)
    if found is not None:
        unit_ms, most = WINDOW_UNITS[found.group(2)]
        if int(found.group(1)) <= most:
            return int(found.group(1)) * unit_ms
    raise bad_request(ErrorCode.ILLEGAL_CHARS, "Invalid windowSize.")


def time_zone_offset_ms(text: str) -> int:
    """How far ``timeZone``'s clock is ahead of UTC, in ms, or Binance's -1100. A
    leading space is a "+" that reached the query unencoded (python-binance sends
    parameters as they are)."""
    found = _TIME_ZONE.fullmatch(text.removeprefix(" "))
    if found is not None:
        sign = -1 if found.group(1) == "-" else 1
        hours, minutes = int(found.group(2)), int(found.group(3) or 0)
        offset = sign * (hours * HOUR_MS + minutes * MINUTE_MS)
        if minutes < 60 and EARLIEST_OFFSET_MS <= offset <= LATEST_OFFSET_MS:
            return offset
    raise bad_request(ErrorCode.ILLEGAL_CHARS, "Invalid timeZone.")


def day_start(now_ms: int, offset_ms: int) -> int:
    """When the day containing ``now_ms`` began in the time zone ``offset_ms`` ahead of
    UTC (in UTC ms)."""
    local = now_ms + offset_ms
    return local - local % DAY_MS - offset_ms


def window_start(now_ms: int, length_ms: int) -> int:
    """A rolling window's open: ``length_ms`` before now, down to the minute (the
    statistics are summed from 1m candles), as Binance's windows are."""
    return (now_ms - length_ms) // MINUTE_MS * MINUTE_MS


def mandatory(name: str) -> ApiError:
    return ApiError(400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                    f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
