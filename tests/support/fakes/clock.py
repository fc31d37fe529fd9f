"""Intake's clock, faked: time moves only when the code under test sleeps."""

from __future__ import annotations


class SleeplessClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float, /) -> None:
        self.now += seconds
