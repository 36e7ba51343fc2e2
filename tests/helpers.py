"""Test doubles shared by the model tests."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.measure.meters import Clock
from bench.spec.workloads import ProducerConsumer


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


class SnapshotMeter(Clock):
    """A Clock that records ``look()`` when the region starts and when it stops."""

    def __init__(self, look: Callable[[], Any]) -> None:
        super().__init__()
        self.look = look
        self.at_start: Any = None
        self.at_stop: Any = None

    def start(self) -> None:
        self.at_start = self.look()
        super().start()

    def stop(self) -> None:
        super().stop()
        self.at_stop = self.look()


class RegionWatch:
    """Catches consumption outside the measured region: ``meter`` marks the region, and the
    specs ``spec()`` builds record every item consumed while it is not open."""

    def __init__(self) -> None:
        self.inside = False
        self.consumed_outside: list[int] = []
        self.meter = StateMeter(self._open, self._close)

    def _open(self) -> None:
        self.inside = True

    def _close(self) -> None:
        self.inside = False

    def spec(self, **params: Any) -> ProducerConsumer:
        watch = self

        class Watched(ProducerConsumer):
            def consume(self, item: tuple[int, bytes]) -> int:
                if not watch.inside:
                    watch.consumed_outside.append(item[0])
                return super().consume(item)

        return Watched(**params)


@dataclass(frozen=True)
class FailingConsumption(ProducerConsumer):
    """A spec whose consumers fail on item 5, so producers stay blocked on a full FIFO."""

    def consume(self, item: tuple[int, bytes]) -> int:
        if item[0] == 5:
            raise ArithmeticError("consumer failed")
        return super().consume(item)


def assert_items_then_one_sentinel_per_consumer(
    fifo: Any, capacity: int, items: int, consumers: int
) -> None:
    """The trace of a recording queue: bounded at ``capacity`` with producers blocked on it,
    every item first, then exactly one sentinel per consumer."""
    assert fifo.maxsize == capacity
    assert fifo.peak == capacity
    assert fifo.blocked_puts > 0
    assert len(fifo.puts) == items + consumers
    assert all(item is not None for item in fifo.puts[:items])
    assert fifo.puts[items:] == [None] * consumers
