"""Request parameters as text -> checked values, one rule each, shared by every route.

Python's ``str.isdigit`` accepts superscripts and other scripts' digits ("²", "٣")
that ``int`` then refuses or reads differently: parameters are matched against ASCII
patterns only, and bounded before they reach PostgreSQL (BIGINT ids, NUMERIC(38,0)).
"""

from __future__ import annotations

import re

from chalicelib.domain.errors import ErrorCode, bad_request

MAX_BIGINT = 2**63 - 1
"""The largest id PostgreSQL's BIGINT holds."""
MAX_MILLIS = 253_402_300_799_999
"""The last millisecond of the year 9999: later times overflow PostgreSQL's timestamps,
so a later bound (Binance takes any up to BIGINT) is read as this one."""


def within_timestamps(ms: int | None) -> int | None:
    """A time bound that PostgreSQL can compare timestamps with, meaning the same."""
    return None if ms is None else min(ms, MAX_MILLIS)
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_count(text: str, name: str, *, minimum: int = 0, maximum: int = MAX_BIGINT) -> int:
    """A non-negative integer in ASCII digits within [minimum, maximum], or a 400
    naming the parameter (Binance's -1100 for characters, -1102 for range)."""
    if text == "":
        raise bad_request(ErrorCode.PARAM_EMPTY, f"Parameter '{name}' was empty.")
    if not _ASCII_DIGITS.fullmatch(text):
        raise bad_request(ErrorCode.ILLEGAL_CHARS,
                          f"Illegal characters found in parameter '{name}'; legal range is "
                          "'^[0-9]{1,19}$'.")
    value = int(text)
    if not minimum <= value <= maximum:
        raise bad_request(ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                          f"Parameter '{name}' must be between {minimum} and {maximum}.")
    return value


def has_nul(text: str) -> bool:
    """PostgreSQL text cannot hold NUL; such input is refused at the edge."""
    return "\x00" in text
