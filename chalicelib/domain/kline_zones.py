"""Klines in a time zone (Binance's ``timeZone``): the intervals start at the zone's
midnight, hour, Monday or first of the month instead of UTC's. Pure code.

Only candles on UTC's boundaries are stored. Where the zone moves an interval's
boundaries (a day at +08:00, an hour at +05:45) its candles are merged from a finer
stored interval whose boundaries are the zone's too. The arithmetic runs on "zone
time" (UTC ms plus the offset), where the zone's boundaries are UTC's, and the result
is moved back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from chalicelib.domain.candles import (
    DAY_MS,
    FIXED_LENGTH_MS,
    Candle,
    Interval,
    close_time,
    merge,
    next_open_time,
    open_time,
)

# Finest last: the first that divides both the offset and the interval is used.
SOURCES = (Interval.H1, Interval.M30, Interval.M15, Interval.M5, Interval.M3, Interval.M1)


def source_interval(interval: Interval, offset_ms: int) -> Interval | None:
    """The stored interval to merge ``interval``'s candles of the zone ``offset_ms``
    ahead of UTC from; None when the zone's boundaries are UTC's (the stored candles
    are the answer)."""
    length = FIXED_LENGTH_MS.get(interval)
    if offset_ms == 0 or (length is not None and offset_ms % length == 0):
        return None
    span = length or DAY_MS  # weeks and months are made of whole days
    for source in SOURCES:
        step = FIXED_LENGTH_MS[source]
        if step < span and offset_ms % step == 0 and span % step == 0:
            return source
    raise ValueError(f"no stored interval nests in {interval} at an offset of {offset_ms} ms")


def shifted(candles: Iterable[Candle], ms: int) -> list[Candle]:
    """The candles with their open and close times ``ms`` later."""
    return [replace(c, open_time=c.open_time + ms, close_time=c.close_time + ms)
            for c in candles]


def merged_into(candles: Sequence[Candle], interval: Interval) -> list[Candle]:
    """Finer candles (by open time, nesting in ``interval``'s) as ``interval``'s."""
    out: list[Candle] = []
    for candle in candles:
        start = open_time(interval, candle.open_time)
        moved = replace(candle, interval=interval, open_time=start,
                        close_time=close_time(interval, start))
        if out and out[-1].open_time == start:
            out[-1] = merge(out[-1], moved)
        else:
            out.append(moved)
    return out


def steps_back(interval: Interval, open_ms: int, count: int) -> int:
    """The open time ``count`` candles before the one opening at ``open_ms``."""
    length = FIXED_LENGTH_MS.get(interval)
    if length is not None:
        return open_ms - count * length
    for _ in range(count):
        open_ms = open_time(interval, open_ms - 1)
    return open_ms


def steps_forward(interval: Interval, open_ms: int, count: int) -> int:
    """The open time ``count`` candles after the one opening at ``open_ms``."""
    length = FIXED_LENGTH_MS.get(interval)
    if length is not None:
        return open_ms + count * length
    for _ in range(count):
        open_ms = next_open_time(interval, open_ms)
    return open_ms
