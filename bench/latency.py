"""Tail latency: time stamps of single items, tasks and switches, taken in a pass of their own.

Time-stamping inside the timed runs would change the timed numbers, so the latency pass
(``runners.probes``, ``latency``) runs the cell again in a fresh process with an *instrumented
spec*: a subclass instance of the cell's spec, equal to it, with the same name and parameters,
whose hooks stamp ``time.perf_counter()`` into a ``Recorder``. The models are unchanged; they
call the hooks whatever the spec is:

- ``pingpong``: the coordinator's loop iterates ``each_round()``; the instrumented one stamps
  every step, so consecutive stamps bracket one round (two one-way switches). A sample is a
  round trip timed by the coordinator, minus the timer's cost, halved.
- ``producer_consumer``: producers iterate ``items_of(p)``; the instrumented one stamps item
  ``i`` just before the producer puts it. Consumers call ``consume(item)`` right after each
  get; the instrumented one stamps the get before doing the work. A sample is get - put, minus
  the timer's cost.
- ``fan_out``: every task ends with ``result(i)`` (``echo_result(i, reply)`` for echo); the
  instrumented one stamps once the result is computed. A sample is that stamp minus the start
  of the fan-out (the measured region's start, taken by ``StartClock``), minus the timer's cost.

The timer's cost is the median interval between consecutive stamps of the same stamping
iterable driving an empty loop, in the same process. Being a median, subtracting it can leave a
sample slightly below zero when the latency itself is as short as a clock read (a generator
switch). Starting the meter clears the stamps (a model's warm-up may run tasks before its
region); each slot counts how often it is written, and a slot stamped zero times or twice, or
a stamp outside the measured region, fails the run (``LatencyError``): the sample count is the
count of operations performed.

Summaries are p50, p90, p99, p99.9 and max per run, and the pooled distribution of all runs as
quantiles at ``CDF_GRID``. A p99.9 of a run with fewer than 1000 samples is essentially its
maximum (with linear interpolation it lies between the two largest samples).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import mmap
import os
import statistics
import tempfile
import time
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.cells import Cell, CellError, run_cell
from bench.meters import Clock
from bench.workloads import FanOut, PingPong, ProducerConsumer, Spec

WORKLOADS = ("pingpong", "producer_consumer", "fan_out")
WHAT = {
    "pingpong": "one-way switch: a round trip timed by the coordinator, minus the timer's cost, "
    "halved",
    "producer_consumer": "put to get: from just before a producer puts an item to just after a "
    "consumer gets it, minus the timer's cost",
    "fan_out": "fan-out start to result: from the start of the fan-out (the measured region's "
    "start) to the moment a task has its result, minus the timer's cost",
}
SUMMARY_KEYS = ("p50", "p90", "p99", "p99.9")
SUMMARY_QUANTILES = (0.5, 0.9, 0.99, 0.999)
# The pooled CDF: every percent, every per mille of the last percent, and the extremes.
CDF_GRID: tuple[float, ...] = (
    *(i / 100 for i in range(100)),
    *(i / 1000 for i in range(991, 1000)),
    0.9999,
    1.0,
)
# Slots kept at the end of every recorder for measuring the timer's cost.
CALIBRATION_SLOTS = 1000
CALIBRATION_REPEATS = 5
_DOUBLE = 8


class LatencyError(CellError):
    """The stamps of a run do not account for every operation exactly once."""


def supports(workload: str) -> bool:
    return workload in WORKLOADS


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (q in [0, 1]) of sorted values, interpolating linearly between the two
    closest ranks: position q * (n - 1) of the 0-based sorted sample."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be from 0 to 1, got {q!r}")
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    lower, upper = sorted_values[low], sorted_values[high]
    # Capped at the upper rank so that rounding cannot make a quantile exceed the next one.
    return min(upper, lower + (position - low) * (upper - lower))


def summarize(samples: Sequence[float]) -> dict[str, float | int]:
    """One run's summary: {count, p50, p90, p99, p99.9, max}."""
    ordered = sorted(samples)
    summary: dict[str, float | int] = {"count": len(ordered)}
    for key, q in zip(SUMMARY_KEYS, SUMMARY_QUANTILES, strict=True):
        summary[key] = percentile(ordered, q)
    summary["max"] = ordered[-1]
    return summary


def cdf(samples: Sequence[float]) -> list[list[float]]:
    """The pooled distribution as [q, value] pairs at the fixed grid ``CDF_GRID``."""
    ordered = sorted(samples)
    return [[q, percentile(ordered, q)] for q in CDF_GRID]


def _shared_dir() -> str:
    # /dev/shm keeps the stamps in memory; elsewhere the temp dir's page cache does the same.
    return "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


# Stamp files are named after the process that owns them, so that the files of a pass that was
# killed (a cell past its time limit) can be told from those of a pass still running.
_PREFIX = "concbench-latency-"
# Recorders attached in this process by unpickling, by path: one mapping per process.
_attached: dict[str, Recorder] = {}


def remove_orphans() -> list[str]:
    """Remove the stamp files whose owner process no longer exists; return their paths."""
    removed = []
    for path in Path(_shared_dir()).glob(f"{_PREFIX}*"):
        owner = path.name.removeprefix(_PREFIX).partition("-")[0]
        if not owner.isdigit() or _alive(int(owner)):
            continue
        path.unlink(missing_ok=True)
        removed.append(str(path))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Recorder:
    """Time stamps shared by every process of a run: a file-backed shared mmap of doubles.

    Slots ``[0, slots)`` hold stamps, ``[slots, 2 * slots)`` how often each was written. It
    pickles as its path, and unpickling re-attaches the file (once per process), so spawn and
    forkserver children write into the same memory as forked ones. ``multiprocessing``'s
    shared_memory is avoided: before 3.13 its resource tracker unlinks or warns in children.
    Stamps taken in different processes are comparable: on Linux ``perf_counter`` reads
    CLOCK_MONOTONIC, one clock for the whole machine.
    """

    def __init__(self, slots: int, path: str | None = None) -> None:
        if slots < 1:
            raise ValueError(f"a recorder needs at least one slot, got {slots}")
        self.slots = slots
        size = 2 * slots * _DOUBLE
        self.owner = path is None
        if path is None:
            fd, path = tempfile.mkstemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=_shared_dir())
            try:
                os.ftruncate(fd, size)
                self._map = mmap.mmap(fd, size)
            except BaseException:
                os.close(fd)
                os.unlink(path)
                raise
        else:
            fd = os.open(path, os.O_RDWR)
            try:
                self._map = mmap.mmap(fd, size)
            except BaseException:
                os.close(fd)
                raise
        os.close(fd)
        self.path = path
        view: memoryview[float] = memoryview(self._map).cast("d")
        self._view: memoryview[float] | None = view
        self.values: memoryview[float] = view[:slots]
        self.counts: memoryview[float] = view[slots:]
        if self.owner:
            self.reset()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_attach, (self.path, self.slots))

    def reset(self, first: int = 0, count: int | None = None) -> None:
        """Slots ``[first, first + count)`` (all by default) unstamped: NaN, never written."""
        if count is None:
            count = self.slots - first
        self.values[first : first + count] = array("d", [math.nan]) * count
        self.counts[first : first + count] = array("d", [0.0]) * count

    def stamp(self, slot: int) -> None:
        self.values[slot] = time.perf_counter()
        self.counts[slot] += 1.0

    def read(self, first: int, count: int, what: str) -> list[float]:
        """Stamps of slots ``[first, first + count)``; each must have been written exactly once."""
        counts = self.counts[first : first + count].tolist()
        if any(written != 1.0 for written in counts):
            missing = sum(1 for written in counts if written == 0.0)
            repeated = sum(1 for written in counts if written > 1.0)
            raise LatencyError(
                f"{what}: {missing} of {count} not stamped, {repeated} stamped more than once"
            )
        values = list(self.values[first : first + count])
        return values

    def close(self) -> None:
        """Release the mapping; the owner also removes the file."""
        if self._view is None:
            return
        self.values.release()
        self.counts.release()
        self._view.release()
        self._view = None
        self._map.close()
        _attached.pop(self.path, None)
        if self.owner:
            Path(self.path).unlink(missing_ok=True)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _attach(path: str, slots: int) -> Recorder:
    recorder = _attached.get(path)
    if recorder is None:
        recorder = _attached[path] = Recorder(slots, path)
    return recorder


class Stamped:
    """Iterates ``numbers``, stamping slot ``offset + number`` just before yielding ``number``;
    with ``end_slot``, stamps that slot once more when the iteration ends. Picklable (it
    travels to producer processes)."""

    def __init__(
        self,
        recorder: Recorder,
        numbers: range,
        offset: int = 0,
        end_slot: int | None = None,
    ) -> None:
        self.recorder = recorder
        self.numbers = numbers
        self.offset = offset
        self.end_slot = end_slot

    def __iter__(self) -> Iterator[int]:
        values, counts, clock, offset = (
            self.recorder.values,
            self.recorder.counts,
            time.perf_counter,
            self.offset,
        )
        for number in self.numbers:
            slot = offset + number
            values[slot] = clock()
            counts[slot] += 1.0
            yield number
        if self.end_slot is not None:
            values[self.end_slot] = clock()
            counts[self.end_slot] += 1.0


class _Instrumented:
    """What every instrumented spec adds to its workload's spec: the recorder, the plain spec
    it equals (name, parameters, hash and reference come from it), and pickling as both."""

    recorder: Recorder
    plain: Spec

    def _bind(self, plain: Spec, recorder: Recorder) -> None:
        object.__setattr__(self, "plain", plain)
        object.__setattr__(self, "recorder", recorder)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Instrumented):
            other = other.plain
        return self.plain == other

    def __hash__(self) -> int:
        return hash(self.plain)

    def __reduce__(self) -> tuple[Any, ...]:
        return (instrument, (self.plain, self.recorder))

    def reference(self) -> tuple[int, ...]:
        # The plain spec's: computing the reference must not stamp anything.
        return self.plain.reference()


class TimedPingPong(_Instrumented, PingPong):
    def each_round(self) -> Stamped:
        return Stamped(self.recorder, range(self.rounds), end_slot=self.rounds)


class TimedProducerConsumer(_Instrumented, ProducerConsumer):
    """Slots ``[0, items)`` are put stamps, ``[items, 2 * items)`` get stamps."""

    def items_of(self, producer: int) -> Stamped:  # type: ignore[override]
        return Stamped(self.recorder, super().items_of(producer))

    def consume(self, item: tuple[int, bytes]) -> int:
        self.recorder.stamp(self.items + item[0])
        return super().consume(item)


class TimedFanOut(_Instrumented, FanOut):
    """Slot i is the stamp of task i's result."""

    def result(self, number: int) -> int:
        value = super().result(number)
        self.recorder.stamp(number)
        return value

    def echo_result(self, number: int, reply: bytes) -> int:
        value = super().echo_result(number, reply)
        self.recorder.stamp(number)
        return value


_TIMED: dict[type[Spec], type[_Instrumented]] = {
    PingPong: TimedPingPong,
    ProducerConsumer: TimedProducerConsumer,
    FanOut: TimedFanOut,
}


def slots_needed(spec: Spec) -> int:
    """Stamp slots a run of ``spec`` writes."""
    if isinstance(spec, PingPong):
        return spec.rounds + 1
    if isinstance(spec, ProducerConsumer):
        return 2 * spec.items
    if isinstance(spec, FanOut):
        return spec.tasks
    raise ValueError(f"{spec.workload} has no latency pass")


def instrument(spec: Spec, recorder: Recorder) -> Spec:
    """``spec`` whose hooks stamp into ``recorder``: equal to it, same name and parameters."""
    plain = spec.plain if isinstance(spec, _Instrumented) else spec
    timed_class = _TIMED.get(type(plain))
    if timed_class is None:
        raise ValueError(f"{plain.workload} has no latency pass")
    fields = {field.name: getattr(plain, field.name) for field in dataclasses.fields(plain)}
    timed = timed_class(**fields)
    timed._bind(plain, recorder)
    assert isinstance(timed, Spec)
    return timed


class StartClock(Clock):
    """The pass's meter: a Clock that keeps the stamps its region started and stopped at.

    Starting it first clears the run's stamp slots: stamps taken before the region belong to
    a model's warm-up (processes' fan-out warms its pool by running tasks 0..workers-1), not
    to the operations measured.
    """

    def __init__(self, recorder: Recorder, slots: int) -> None:
        super().__init__()
        self._recorder = recorder
        self._slots = slots

    def start(self) -> None:
        self._recorder.reset(0, self._slots)
        super().start()

    @property
    def start_stamp(self) -> float:
        return self._t0

    @property
    def stop_stamp(self) -> float:
        return self._t0 + self.elapsed


def recorder_for(spec: Spec) -> Recorder:
    """A recorder with the slots a run of ``spec`` writes, plus those of the calibration."""
    return Recorder(slots_needed(spec) + CALIBRATION_SLOTS + 1)


def timer_cost(recorder: Recorder, first_slot: int) -> float:
    """The median interval between consecutive stamps of ``Stamped`` driving an empty loop,
    over the calibration slots from ``first_slot``: the cost the timer adds to an interval."""
    intervals: list[float] = []
    for _ in range(CALIBRATION_REPEATS):
        # Cleared first: a model's warm-up may stamp past the run's slots (processes' fan-out
        # warms its pool with task numbers 0..workers-1, beyond N when N is small).
        recorder.reset(first_slot, CALIBRATION_SLOTS + 1)
        for _ in Stamped(recorder, range(CALIBRATION_SLOTS), first_slot,
                         end_slot=first_slot + CALIBRATION_SLOTS):  # fmt: skip
            pass
        stamps = recorder.read(first_slot, CALIBRATION_SLOTS + 1, "calibration stamps")
        intervals += [b - a for a, b in itertools.pairwise(stamps)]
    return statistics.median(intervals)


def samples(spec: Spec, recorder: Recorder, meter: StartClock, cost: float) -> list[float]:
    """One run's latency samples from its stamps, in seconds. Every stamp must be present
    exactly once and inside the measured region, and every get after its put."""
    stamps = recorder.read(0, slots_needed(spec), f"{spec.workload} stamps")
    if any(not meter.start_stamp <= stamp <= meter.stop_stamp for stamp in stamps):
        raise LatencyError(f"{spec.workload}: a stamp lies outside the measured region")
    if isinstance(spec, PingPong):
        return [(b - a - cost) / 2 for a, b in itertools.pairwise(stamps)]
    if isinstance(spec, ProducerConsumer):
        puts, gets = stamps[: spec.items], stamps[spec.items :]
        if any(got < put for put, got in zip(puts, gets, strict=True)):
            raise LatencyError("producer_consumer: an item was got before it was put")
        return [got - put - cost for put, got in zip(puts, gets, strict=True)]
    start = meter.start_stamp
    return [stamp - start - cost for stamp in stamps]


class LatencyPass:
    """A cell's latency pass in this process: its recorder, its instrumented cell, the timer's
    cost, and verified runs. Close it (or use it as a context manager) to remove the stamps."""

    def __init__(self, cell: Cell) -> None:
        if not supports(cell.spec.workload):
            raise ValueError(f"{cell.spec.workload} has no latency pass")
        self.what = WHAT[cell.spec.workload]
        self._slots = slots_needed(cell.spec)
        self.recorder = recorder_for(cell.spec)
        self.cell = Cell(cell.model, instrument(cell.spec, self.recorder))
        self.timer_cost = 0.0

    def calibrate(self) -> float:
        """Measure the timer's cost (subtracted from every later sample) and return it."""
        self.timer_cost = timer_cost(self.recorder, self._slots)
        return self.timer_cost

    def run(self) -> tuple[list[float], float]:
        """One run, verified by ``run_cell`` (operations, checksum) and by its stamps: its
        samples and the duration of its measured region."""
        meter = StartClock(self.recorder, self._slots)
        run_cell(self.cell, meter)
        return samples(self.cell.spec, self.recorder, meter, self.timer_cost), meter.elapsed

    def close(self) -> None:
        self.recorder.close()

    def __enter__(self) -> LatencyPass:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
