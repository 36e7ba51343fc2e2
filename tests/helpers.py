"""Test doubles shared by the model tests."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from bench.meters import Clock


def _nothing() -> None:
    return None


class FakeClock:
    """Stands in for the ``time`` module of a scheduler: sleeping advances the clock at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class PeakDeque(deque[Any]):
    """A deque that remembers the most items it ever held."""

    peak = 0

    def append(self, item: Any) -> None:
        super().append(item)
        self.peak = max(self.peak, len(self))


class StateMeter(Clock):
    """A Clock that runs a check at start and at stop, inside the model's call."""

    def __init__(
        self,
        at_start: Callable[[], object] = _nothing,
        at_stop: Callable[[], object] = _nothing,
    ) -> None:
        super().__init__()
        self.at_start = at_start
        self.at_stop = at_stop

    def start(self) -> None:
        self.at_start()
        super().start()

    def stop(self) -> None:
        super().stop()
        self.at_stop()
