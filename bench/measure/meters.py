"""Meters mark the measured region of a run.

A model calls ``meter.start()`` once its tasks are set up and ``meter.stop()`` when the work
the cell claims to measure is done; set-up and tear-down stay outside. The same model code is
measured for time (Clock), for time plus resource counters (ProfilingClock) and for memory
(MemoryMeter), so every measurement covers exactly the same region.

The garbage collector: every meter runs ``gc.collect()`` just before its region (before the
clock starts and before any counter is read), so garbage of one run is never collected inside
the next run's region. A measuring process calls ``freeze_collector`` once when it is ready, so
that this collection traverses only what the runs created, not the harness's own 20,000
objects (milliseconds per collection before the freeze, microseconds after it).
"""

from __future__ import annotations

import gc
import time
from typing import NamedTuple, Protocol

from bench.spec.workloads import Checksum

# bench.measure.proctree is imported by the meters that read the process tree, where they use it,
# not here: it imports psutil, whose extension cannot load in a subinterpreter, and the
# subinterpreters model runs spec hooks there whose modules import this one (the latency pass's
# instrumented specs, through bench.measure.latency).

GC_BEFORE_REGION = (
    "gc.collect() before every measured region, outside it; gc.freeze() when the process is "
    "ready and again after its first run"
)
# The freezes done in this process: "ready" (set up) and "warm" (after the first run).
_frozen: set[str] = set()


def freeze_collector(stage: str = "ready") -> None:
    """Collect, then move every surviving object to the collector's permanent generation, once
    per stage and process: "ready" when imports and set-up are done, "warm" after the first
    run, whose first use of a library (asyncio's and gevent's machinery) creates thousands of
    long-lived objects that every later collection would otherwise traverse again."""
    if stage in _frozen:
        return
    gc.collect()
    gc.freeze()
    _frozen.add(stage)


def collector_metadata() -> dict[str, str | int]:
    """The collector's state in this process, for the metadata of what it measures."""
    return {
        "gc_enabled": "yes" if gc.isenabled() else "no",
        "gc_thresholds": ",".join(str(value) for value in gc.get_threshold()),
        "gc_frozen_objects": gc.get_freeze_count(),
        "gc_before_region": GC_BEFORE_REGION,
    }


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
        gc.collect()
        self._read_before()
        self._t0 = time.perf_counter()

    def _read_before(self) -> None:
        """Counters to read after the collection and before the clock starts."""

    def stop(self) -> None:
        t1 = time.perf_counter()
        self._leave()
        self.elapsed = t1 - self._t0


class ProfilingClock(Clock):
    """A Clock that also reads the process tree's CPU time and context switches around the
    region. The counters are read outside the timed interval, so they do not add to it."""

    def __init__(self) -> None:
        from bench.measure import proctree

        super().__init__()
        self._before = proctree.ZERO
        self.counters = proctree.ZERO

    def _read_before(self) -> None:
        from bench.measure import proctree

        self._before = proctree.tree_counters(scan_first=True)

    def stop(self) -> None:
        super().stop()  # the clock stops first: nothing after it is timed
        from bench.measure import proctree

        self.counters = proctree.tree_counters(scan_first=False) - self._before


class MemoryMeter(_OneShot):
    """Memory the process tree gained over the region, after a full collection.

    The default measure is USS, the memory private to the process. A model whose tasks are
    processes started by fork asks for PSS instead: after a fork the parent's pages become
    shared with its children and leave its USS, so the tree's USS would fall by the parent's
    size although nothing was freed; summed over the tree, PSS counts each page once.

    ``kernel_delta`` is the kernel memory the machine gained over the same region, per field
    of ``proctree.KERNEL_FIELDS``, or None where the kernel does not report it. It is read
    system-wide (no per-process counter covers kernel stacks and slab), right after the
    collection before the region and right after the one that ends it, so that the tree's
    slower USS/PSS scan falls outside its window.
    """

    def __init__(self, measure: str = "uss") -> None:
        super().__init__()
        if measure not in ("uss", "pss"):
            raise ValueError(f"memory measure must be uss or pss, got {measure!r}")
        self.measure = measure
        self._before = 0
        self._kernel_before: dict[str, int] | None = None
        self.delta = 0
        self.kernel_delta: dict[str, int] | None = None

    def start(self) -> None:
        # Imported before the collection: a first import's garbage is not left to the region.
        from bench.measure import proctree

        self._enter()
        gc.collect()
        self._before = proctree.tree_memory(self.measure)
        self._kernel_before = proctree.kernel_memory()

    def stop(self) -> None:
        from bench.measure import proctree

        self._leave()
        gc.collect()
        kernel_after = proctree.kernel_memory()
        self.delta = proctree.tree_memory(self.measure) - self._before
        if self._kernel_before is not None and kernel_after is not None:
            self.kernel_delta = {
                field: kernel_after[field] - self._kernel_before[field]
                for field in proctree.KERNEL_FIELDS
            }
