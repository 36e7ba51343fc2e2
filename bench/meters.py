"""Meters mark the measured region of a run.

A model calls ``meter.start()`` once its tasks are set up and ``meter.stop()`` when the work
the cell claims to measure is done; set-up and tear-down stay outside. The same model code is
measured for time (Clock), for time plus resource counters (ProfilingClock) and for memory
(MemoryMeter), so every measurement covers exactly the same region.
"""

from __future__ import annotations

import gc
import time
from typing import NamedTuple, Protocol

from bench import proctree
from bench.workloads import Checksum


class Outcome(NamedTuple):
    """What a model reports for one run: operations it counted and the checksum of its work."""

    ops: int
    checksum: Checksum


class Meter(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class MeterMisuse(RuntimeError):
    """The model did not start and stop its meter exactly once, in that order."""


class _OneShot:
    def __init__(self) -> None:
        self.started = False
        self.stopped = False

    def _enter(self) -> None:
        if self.started:
            raise MeterMisuse("meter started twice")
        self.started = True

    def _leave(self) -> None:
        if not self.started or self.stopped:
            raise MeterMisuse("meter stopped without a matching start")
        self.stopped = True

    def check_used(self) -> None:
        if not (self.started and self.stopped):
            raise MeterMisuse("the model did not mark its measured region (start/stop)")


class Clock(_OneShot):
    """Wall-clock time of the measured region, with the clock pyperf uses."""

    def __init__(self) -> None:
        super().__init__()
        self._t0 = 0.0
        self.elapsed = 0.0

    def start(self) -> None:
        self._enter()
        self._t0 = time.perf_counter()

    def stop(self) -> None:
        t1 = time.perf_counter()
        self._leave()
        self.elapsed = t1 - self._t0


class ProfilingClock(Clock):
    """A Clock that also reads the process tree's CPU time and context switches around the
    region. The counters are read outside the timed interval, so they do not add to it."""

    def __init__(self) -> None:
        super().__init__()
        self._before = proctree.ZERO
        self.counters = proctree.ZERO

    def start(self) -> None:
        self._before = proctree.tree_counters(scan_first=True)
        super().start()

    def stop(self) -> None:
        super().stop()
        self.counters = proctree.tree_counters(scan_first=False) - self._before


class MemoryMeter(_OneShot):
    """Memory the process tree gained over the region, after a full collection.

    The default measure is USS, the memory private to the process. A model whose tasks are
    processes started by fork asks for PSS instead: after a fork the parent's pages become
    shared with its children and leave its USS, so the tree's USS would fall by the parent's
    size although nothing was freed; summed over the tree, PSS counts each page once.
    """

    def __init__(self, measure: str = "uss") -> None:
        super().__init__()
        if measure not in ("uss", "pss"):
            raise ValueError(f"memory measure must be uss or pss, got {measure!r}")
        self.measure = measure
        self._before = 0
        self.delta = 0

    def start(self) -> None:
        self._enter()
        gc.collect()
        self._before = proctree.tree_memory(self.measure)

    def stop(self) -> None:
        self._leave()
        gc.collect()
        self.delta = proctree.tree_memory(self.measure) - self._before
