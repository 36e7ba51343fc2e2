"""Tail latency: time stamps of single items, tasks and switches, taken in a pass of their own.

Time-stamping inside the timed runs would change the timed numbers, so the latency pass
(``runners.probe_passes``, ``latency``) runs the cell again in a fresh process with an *instrumented
spec*: a subclass instance of the cell's spec, equal to it, with the same name and parameters,
whose hooks stamp ``time.perf_counter()`` into a ``Recorder``. The models are unchanged; they
call the hooks whatever the spec is:

- ``pingpong``: the coordinator's loop iterates ``each_round()``; the instrumented one stamps
  every k-th round (k, the batch, is 1 unless the pass chose more, see below), so consecutive
  stamps bracket k rounds (2k one-way switches). A sample is that interval minus its cost
  (the stamper's own, measured over k empty rounds), divided by 2k: per one-way switch,
  averaged over the batch. Rounds after the last whole batch run unstamped.
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
count of operations (for pingpong, of batches) performed.

The timer's limit: the cost is 100-300 ns and its jitter is of the same order, so an interval
of a few hundred nanoseconds is mostly timer. A cell is *resolved* when k x its median sample
is at least ``RESOLUTION`` (20) x the timer's cost (``bench.spec.resolution``). pingpong
chooses k (``choose_batch``) as the smallest power of two that resolves the median of a trial
run, at most the largest power of two that still leaves ``MIN_BATCHES`` (100) batches in a
run: first from a run at k = 1, then from one at each larger k chosen, until a run's median
asks for no larger k (one round per stamp overstates a short switch: the stamping disturbs the
loop more than its calibrated cost says). A producer_consumer or fan_out sample is one item's
or task's own interval and cannot be batched. A cell that is not resolved, batched or not,
reports no percentile: its record says why, with its median and the timer's cost
(``unresolved_reason``).

Which workloads have a pass, what one of their samples is and whether it can be batched are
facts of their specs (``WorkloadFacts.latency``). Summaries are p50, p90, p99, p99.9 and max per
run, and the pooled distribution of all runs as quantiles at ``CDF_GRID``, both by the suite's
one quantile rule (``bench.spec.quantiles``). A p99.9 of a run with fewer than 1000 samples is
essentially its maximum (with linear interpolation it lies between the two largest samples).
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.measure.cells import Cell, CellError, run_cell
from bench.measure.meters import Clock
from bench.spec.quantiles import quantile
from bench.spec.resolution import RESOLUTION, is_resolved
from bench.spec.workloads import (
    FanOut,
    LatencyFacts,
    PingPong,
    ProducerConsumer,
    Spec,
    workload_facts,
)
from bench.units import format_duration

TIMES = "\N{MULTIPLICATION SIGN}"
# The most rounds per pingpong batch: as many as leave this many batches in a run.
MIN_BATCHES = 100
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


def _latency_facts(workload: str) -> LatencyFacts:
    facts = workload_facts(workload)
    if facts is None or facts.latency is None:
        raise ValueError(f"{workload} has no latency pass")
    return facts.latency


def supports(workload: str) -> bool:
    facts = workload_facts(workload)
    return facts is not None and facts.latency is not None


def describe(workload: str, batch: int = 1) -> str:
    """What one sample of ``workload`` is, with pingpong's rounds per stamp ``batch``."""
    facts = _latency_facts(workload)
    if batch == 1:
        return facts.what
    if not facts.batched:
        raise ValueError(f"{workload} samples cannot be batched")
    return (
        f"one-way switch: per switch, averaged over a batch of {batch} rounds ({2 * batch} "
        "one-way switches) timed by the coordinator, minus the timer's cost"
    )


def _power_of_two_at_most(limit: int) -> int:
    return 1 << (max(1, limit).bit_length() - 1)


def batch_limit(rounds: int, min_batches: int = MIN_BATCHES) -> int:
    """The largest power of two k that leaves ``min_batches`` batches of k in ``rounds``
    (1 when there are fewer rounds than that)."""
    return _power_of_two_at_most(rounds // min_batches)


def choose_batch(
    median: float,
    cost: float,
    rounds: int,
    resolution: float = RESOLUTION,
    min_batches: int = MIN_BATCHES,
) -> int:
    """pingpong's rounds per stamp for the median (per one-way switch) of a trial run: the
    smallest power of two k with k x ``median`` >= ``resolution`` x ``cost``,
    at most ``batch_limit(rounds)``. A median at or below zero (the switch is shorter than
    the timer's jitter) takes the limit."""
    limit = batch_limit(rounds, min_batches)
    batch = 1
    while batch < limit and not is_resolved(median, cost, batch, resolution):
        batch *= 2
    return batch


def unresolved_reason(
    workload: str, median: float, cost: float, batch: int = 1, rounds: int | None = None
) -> str:
    """Why a cell reports no percentile: one sentence with its median and the timer's cost
    (``rounds``: pingpong's, which cap the batch)."""
    timer = f"the timer's cost ({format_duration(cost)})"
    if median <= 0:
        return (
            f"median sample {format_duration(median)}, at or below zero: the operation is "
            f"shorter than the timer's jitter ({timer})"
        )
    threshold = f"{RESOLUTION:g} {TIMES} {timer}"
    if not _latency_facts(workload).batched:
        facts = workload_facts(workload)
        assert facts is not None
        return (
            f"median sample {format_duration(median)}, below {threshold}; a sample is one "
            f"{facts.operation}'s own interval and cannot be batched"
        )
    why = ""
    if rounds is not None:
        rule = (
            f"at least {MIN_BATCHES} batches per run"
            if rounds >= 2 * MIN_BATCHES
            else f"a run of fewer than {2 * MIN_BATCHES} rounds is not batched"
        )
        why = (
            f"; a run of {_rounds(rounds)} allows batches of at most {_rounds(batch)} ({rule})"
            if batch >= batch_limit(rounds)
            else f"; {_rounds(batch)} per batch sufficed for the median of a trial run"
        )
    return (
        f"median {format_duration(median)} per one-way switch {TIMES} {_rounds(batch)} per "
        f"batch = {format_duration(batch * median)}, below {threshold}{why}"
    )


def _rounds(count: int) -> str:
    return f"{count} round" if count == 1 else f"{count} rounds"


def summarize(samples: Sequence[float]) -> dict[str, float | int]:
    """One run's summary: {count, p50, p90, p99, p99.9, max}."""
    ordered = sorted(samples)
    summary: dict[str, float | int] = {"count": len(ordered)}
    for key, q in zip(SUMMARY_KEYS, SUMMARY_QUANTILES, strict=True):
        summary[key] = quantile(ordered, q)
    summary["max"] = ordered[-1]
    return summary


def cdf(samples: Sequence[float]) -> list[list[float]]:
    """The pooled distribution as [q, value] pairs at the fixed grid ``CDF_GRID``."""
    ordered = sorted(samples)
    return [[q, quantile(ordered, q)] for q in CDF_GRID]


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


class BatchStamped:
    """Iterates ``range(rounds)``, stamping slot ``offset + j`` just before round ``j * batch``
    and slot ``offset + rounds // batch`` when the last whole batch ends; the rounds after it
    run unstamped. Between stamps the rounds come from a plain range through
    ``itertools.chain``, in C: an unstamped round costs the loop what a plain range costs."""

    def __init__(
        self,
        recorder: Recorder,
        rounds: int,
        batch: int,
        offset: int = 0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if batch < 1:
            raise ValueError(f"a batch is at least one round, got {batch}")
        self.recorder = recorder
        self.rounds = rounds
        self.batch = batch
        self.offset = offset
        self.clock = clock

    def __iter__(self) -> Iterator[int]:
        return itertools.chain.from_iterable(self._batches())

    def _batches(self) -> Iterator[range]:
        # chain asks for the next range only once the previous one is exhausted, that is when
        # the loop asks for the first round of the next batch: the stamp falls between batches.
        values, counts, clock = self.recorder.values, self.recorder.counts, self.clock
        batch, whole = self.batch, self.rounds // self.batch
        for index in range(whole):
            slot = self.offset + index
            values[slot] = clock()
            counts[slot] += 1.0
            yield range(index * batch, (index + 1) * batch)
        values[self.offset + whole] = clock()
        counts[self.offset + whole] += 1.0
        if whole * batch < self.rounds:
            yield range(whole * batch, self.rounds)


class _Instrumented:
    """What every instrumented spec adds to its workload's spec: the recorder, the plain spec
    it equals (name, parameters, hash and reference come from it), and pickling as both."""

    recorder: Recorder
    plain: Spec
    batch: int

    def _bind(self, plain: Spec, recorder: Recorder, batch: int) -> None:
        object.__setattr__(self, "plain", plain)
        object.__setattr__(self, "recorder", recorder)
        object.__setattr__(self, "batch", batch)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Instrumented):
            other = other.plain
        return self.plain == other

    def __hash__(self) -> int:
        return hash(self.plain)

    def __reduce__(self) -> tuple[Any, ...]:
        return (instrument, (self.plain, self.recorder, self.batch))

    def reference(self) -> tuple[int, ...]:
        # The plain spec's: computing the reference must not stamp anything.
        return self.plain.reference()


class TimedPingPong(_Instrumented, PingPong):
    """Slot j is the stamp before round j x batch; the last slot ends the last whole batch."""

    def each_round(self) -> Iterable[int]:
        if self.batch == 1:
            # A generator stamps a single round for less than chain's change of range.
            return Stamped(self.recorder, range(self.rounds), end_slot=self.rounds)
        return BatchStamped(self.recorder, self.rounds, self.batch)


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


def slots_needed(spec: Spec, batch: int = 1) -> int:
    """Stamp slots a run of ``spec`` writes, pingpong stamping every ``batch``-th round."""
    if isinstance(spec, PingPong):
        return spec.rounds // batch + 1
    if batch != 1:
        raise ValueError(f"{spec.workload} samples cannot be batched")
    if isinstance(spec, ProducerConsumer):
        return 2 * spec.items
    if isinstance(spec, FanOut):
        return spec.tasks
    raise ValueError(f"{spec.workload} has no latency pass")


def instrument(spec: Spec, recorder: Recorder, batch: int = 1) -> Spec:
    """``spec`` whose hooks stamp into ``recorder`` (pingpong every ``batch``-th round): equal
    to it, same name and parameters."""
    plain = spec.plain if isinstance(spec, _Instrumented) else spec
    timed_class = _TIMED.get(type(plain))
    if timed_class is None:
        raise ValueError(f"{plain.workload} has no latency pass")
    if batch < 1 or (batch != 1 and not isinstance(plain, PingPong)):
        raise ValueError(f"{plain.workload} cannot be stamped in batches of {batch}")
    fields = {field.name: getattr(plain, field.name) for field in dataclasses.fields(plain)}
    timed = timed_class(**fields)
    timed._bind(plain, recorder, batch)
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
    """A recorder with the slots a run of ``spec`` writes unbatched (a batched run writes
    fewer), plus those of the calibration."""
    return Recorder(slots_needed(spec) + CALIBRATION_SLOTS + 1)


def timer_cost(recorder: Recorder, first_slot: int, batch: int | None = None) -> float:
    """The median interval between consecutive stamps of a stamper driving an empty loop,
    over the calibration slots from ``first_slot``: the cost the stamping adds to an interval.
    The stamper is ``Stamped``, or with ``batch`` pingpong's ``BatchStamped`` of that many
    rounds per stamp (the cost of a batch's empty rounds included)."""
    intervals: list[float] = []
    for _ in range(CALIBRATION_REPEATS):
        # Cleared first: a model's warm-up may stamp past the run's slots (processes' fan-out
        # warms its pool with task numbers 0..workers-1, beyond N when N is small).
        recorder.reset(first_slot, CALIBRATION_SLOTS + 1)
        stamper: Iterable[int] = (
            Stamped(recorder, range(CALIBRATION_SLOTS), first_slot,
                    end_slot=first_slot + CALIBRATION_SLOTS)
            if batch is None
            else BatchStamped(recorder, CALIBRATION_SLOTS * batch, batch, first_slot)
        )  # fmt: skip
        for _ in stamper:
            pass
        stamps = recorder.read(first_slot, CALIBRATION_SLOTS + 1, "calibration stamps")
        intervals += [b - a for a, b in itertools.pairwise(stamps)]
    return statistics.median(intervals)


def pingpong_samples(stamps: Sequence[float], batch: int, cost: float) -> list[float]:
    """Seconds per one-way switch of each batch: (interval - cost) / (2 x batch rounds)."""
    switches = 2 * batch
    return [(b - a - cost) / switches for a, b in itertools.pairwise(stamps)]


def samples(
    spec: Spec, recorder: Recorder, meter: StartClock, cost: float, batch: int = 1
) -> list[float]:
    """One run's latency samples from its stamps, in seconds per operation. Every stamp must
    be present exactly once and inside the measured region, and every get after its put."""
    stamps = recorder.read(0, slots_needed(spec, batch), f"{spec.workload} stamps")
    if any(not meter.start_stamp <= stamp <= meter.stop_stamp for stamp in stamps):
        raise LatencyError(f"{spec.workload}: a stamp lies outside the measured region")
    if isinstance(spec, PingPong):
        return pingpong_samples(stamps, batch, cost)
    if isinstance(spec, ProducerConsumer):
        puts, gets = stamps[: spec.items], stamps[spec.items :]
        if any(got < put for put, got in zip(puts, gets, strict=True)):
            raise LatencyError("producer_consumer: an item was got before it was put")
        return [got - put - cost for put, got in zip(puts, gets, strict=True)]
    start = meter.start_stamp
    return [stamp - start - cost for stamp in stamps]


class LatencyPass:
    """A cell's latency pass in this process: its recorder, its instrumented cell, the timer's
    cost, and verified runs. Close it (or use it as a context manager) to remove the stamps.

    ``batch`` (pingpong only) is the rounds per stamp; setting it re-instruments the cell and,
    once calibrated, measures ``batch_cost``, the cost subtracted from a batch's interval."""

    def __init__(self, cell: Cell) -> None:
        if not supports(cell.spec.workload):
            raise ValueError(f"{cell.spec.workload} has no latency pass")
        self.workload = cell.spec.workload
        self._plain = cell
        self._calibration_slot = slots_needed(cell.spec)
        self.recorder = recorder_for(cell.spec)
        self.cell = Cell(cell.model, instrument(cell.spec, self.recorder))
        self._batch = 1
        self._calibrated = False
        self.timer_cost = 0.0
        self.batch_cost = 0.0

    @property
    def what(self) -> str:
        return describe(self.workload, self._batch)

    @property
    def batch(self) -> int:
        return self._batch

    @batch.setter
    def batch(self, batch: int) -> None:
        self.cell = Cell(self._plain.model, instrument(self._plain.spec, self.recorder, batch))
        self._batch = batch
        if self._calibrated:
            self._calibrate_batch()

    def calibrate(self) -> float:
        """Measure the timer's cost (``Stamped`` over an empty loop: one stamp per operation)
        and the cost subtracted from every later interval; return the timer's cost."""
        self.timer_cost = timer_cost(self.recorder, self._calibration_slot)
        self._calibrated = True
        self._calibrate_batch()
        return self.timer_cost

    def _calibrate_batch(self) -> None:
        self.batch_cost = (
            self.timer_cost
            if self._batch == 1
            else timer_cost(self.recorder, self._calibration_slot, self._batch)
        )

    def run(self) -> tuple[list[float], float]:
        """One run, verified by ``run_cell`` (operations, checksum) and by its stamps: its
        samples (seconds per operation) and the duration of its measured region."""
        meter = StartClock(self.recorder, slots_needed(self.cell.spec, self._batch))
        run_cell(self.cell, meter)
        found = samples(self.cell.spec, self.recorder, meter, self.batch_cost, self._batch)
        return found, meter.elapsed

    def close(self) -> None:
        self.recorder.close()

    def __enter__(self) -> LatencyPass:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
