"""What the capacity contract of ``tests/test_contract.py`` measures and how it judges a run
(issue 10, item 2): ``capacity`` means one thing in every model.

The spec's definition: at most Q items have been put and not yet taken by a consumer. Every model
in the registry runs ``producer_consumer`` with one producer and one consumer at Q = 1 and Q = 64
under a spec whose hooks record, for every call, ``time.perf_counter()``, the calling thread's
voluntary context switches and which OS thread and process called. No model-specific code: the
hooks are the ones every model already calls, and the run is verified like any other (operation
count, checksum, every hook call exactly once and inside the measured region).

- ``items_of(p)`` records "put k starts" before yielding item k; the producer's next record (item
  k + 1's, or a final one when the iteration ends) is "put k has returned".
- ``consume(item)`` records "get k returned" at its start and "the next get starts" at its end.
  The first get has no start record, so only the other M - 1 gets are counted.

From these: items in flight at time t = puts returned - gets returned, and its peak over the run.
Whether an operation blocked:

- One task at a time (every record from one OS thread, or from threads sharing a GIL): nothing
  of the other side runs during an operation unless it blocked, so the other side's records
  tell. A put blocked iff the consumer took *another* item meanwhile (a slot freed; its own item
  taken inside means the put is a call of the consumer, not a wait); a get blocked iff the put of
  its item returned meanwhile. A thread gives the GIL up where it blocks, or when another has
  waited for it a switch interval. At the default 5 ms the counts came out exact in every run
  tried, also with both CPUs kept busy by other processes; at 0.5 ms one run in 25 of threads
  at Q = 64 counted an extra blocking put. The test raises the interval for its run, so that a
  machine busy enough to deschedule the GIL's holder that long cannot force a switch the model
  did not make.
  A model that sets a shorter interval itself lets the interpreter preempt a thread in the
  middle of an operation (``threads[switch_interval=0.1]`` failed the exact counts in every
  run at Q = 64, e.g. 17 blocking puts for 9): the interleaving is no longer the model's, and
  the run is judged like one of tasks running at the same time (``preempted``).
- Tasks running at the same time (several processes; threads without a GIL, or in
  interpreters with a GIL each): an operation blocked iff the calling thread's voluntary
  context switch count grew during it. The count is ``getrusage(RUSAGE_THREAD).ru_nvcsw``, the
  counter ``/proc/thread-self/status`` prints as ``voluntary_ctxt_switches`` (a test below
  checks that they agree), read without releasing the GIL, as reading the file would. It misses
  waits whose wake-up arrives before the waiter sleeps, which two CPUs make common (threads
  under the GIL showed a switch in 0 to 199 of their 199 blocking puts), so it is shown, not
  asserted.

What is expected, from the capacity rule and asyncio.Queue's semantics (an operation that need
not wait does not switch; a woken task takes its item or slot when it runs): the producer puts Q
items and blocks on the next; the consumer takes all Q and blocks on the next; and so on. So the
puts and the gets of items Q, 2Q, ... block, (M - 1) // Q of each, and the peak in flight is Q:
at Q = 1, one blocking put and one blocking get per item, as in asyncio, gevent and threads.

- One task at a time (cooperative models; threads under the GIL): the model decides the
  interleaving, and all three counts are asserted exactly.
- Tasks running at the same time: the OS decides the interleaving and the blocking counts vary,
  so only what capacity guarantees is asserted, peak in flight <= Q, with the counts in the
  message. A get's record comes after it took its item, and on another CPU a put may return in
  between (processes at Q = 1 show a peak of 2 that way), so there an item counts as taken from
  the start of its get: a peak that cannot overstate what was in flight.
- A model whose put is a call of the consumer (the consumer's work on item k runs inside put k:
  serial) has no FIFO: nothing blocks and nothing is ever in flight.

The negative control, ``LooseFifo``, is the generator scheduler's FIFO as it was before issue 10
(a put hands its item straight to a parked getter; a get refills the freed slot from a parked
putter at once): plugged into the generators model, the same checker must reject it.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
import resource
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bench.measure.cells import Cell, run_cell
from bench.measure.latency import Recorder, StartClock
from bench.models import _gensched
from bench.spec.models import Model
from bench.spec.workloads import Checksum, ProducerConsumer

# Per-thread voluntary context switch counts (Linux): without them the contract cannot run.
THREAD_SWITCHES = hasattr(resource, "RUSAGE_THREAD")
# (capacity, items): tiny runs, several rounds of filling and draining the FIFO.
SIZES = ((1, 200), (64, 640))
# Long enough that no forced GIL switch falls into a run of the test.
SWITCH_INTERVAL = 10.0

T = TypeVar("T")

# The fields every hook call records, each in a block of its own in the recorder.
TIME, SWITCHES, THREAD, PROCESS = range(4)
FIELDS = 4


@dataclass(frozen=True)
class Layout:
    """Event numbers of a run with M items and P producers (one event per hook call)."""

    items: int
    producers: int

    @property
    def events(self) -> int:
        return 3 * self.items + self.producers

    def put_starts(self, item: int) -> int:
        return item

    def producer_ends(self, producer: int) -> int:
        return self.items + producer

    def got(self, item: int) -> int:
        return self.items + self.producers + item

    def consumed(self, item: int) -> int:
        return 2 * self.items + self.producers + item

    def put_returned(self, item: int) -> int:
        """The producer's next stamp after "put ``item`` starts"."""
        following = item + self.producers
        if following < self.items:
            return self.put_starts(following)
        return self.producer_ends(item % self.producers)


def _record(recorder: Recorder, events: int, event: int) -> None:
    values = recorder.values
    values[TIME * events + event] = time.perf_counter()
    values[SWITCHES * events + event] = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
    values[THREAD * events + event] = threading.get_native_id()
    values[PROCESS * events + event] = os.getpid()
    recorder.counts[event] += 1.0


class _RecordedItems:
    """A producer's item numbers, recording "put k starts" before yielding k and a final event
    when the iteration ends. Picklable: it travels to producer processes."""

    def __init__(self, recorder: Recorder, layout: Layout, producer: int, numbers: range) -> None:
        self.recorder = recorder
        self.layout = layout
        self.producer = producer
        self.numbers = numbers

    def __iter__(self) -> Iterator[int]:
        recorder, events = self.recorder, self.layout.events
        for number in self.numbers:
            _record(recorder, events, number)
            yield number
        _record(recorder, events, self.layout.producer_ends(self.producer))


class RecordedProducerConsumer(ProducerConsumer):
    """A ProducerConsumer whose hooks record every call; pickles as its plain spec and recorder,
    as ``bench.measure.latency``'s instrumented specs do."""

    plain: ProducerConsumer
    recorder: Recorder
    layout: Layout

    def items_of(self, producer: int) -> _RecordedItems:  # type: ignore[override]
        return _RecordedItems(self.recorder, self.layout, producer, super().items_of(producer))

    def consume(self, item: tuple[int, bytes]) -> int:
        events, number = self.layout.events, item[0]
        _record(self.recorder, events, self.layout.got(number))
        value = super().consume(item)
        _record(self.recorder, events, self.layout.consumed(number))
        return value

    def reference(self) -> Checksum:
        return self.plain.reference()  # computing it must not record anything

    def __reduce__(self) -> tuple[Any, ...]:
        return (recorded, (self.plain, self.recorder))


def recorded(plain: ProducerConsumer, recorder: Recorder) -> RecordedProducerConsumer:
    spec = RecordedProducerConsumer(
        producers=plain.producers,
        consumers=plain.consumers,
        capacity=plain.capacity,
        items=plain.items,
        work=plain.work,
        cpu_iterations=plain.cpu_iterations,
    )
    object.__setattr__(spec, "plain", plain)
    object.__setattr__(spec, "recorder", recorder)
    object.__setattr__(spec, "layout", Layout(plain.items, plain.producers))
    return spec


@dataclass(frozen=True)
class Trace:
    """What the hooks recorded, by event number."""

    layout: Layout
    times: Sequence[float]
    switches: Sequence[float]
    threads: Sequence[float]
    processes: Sequence[float]


@dataclass(frozen=True)
class Counts:
    """What a run shows about its FIFO, and how it was decided."""

    items: int
    capacity: int
    blocking_puts: int
    blocking_gets: int
    gets_counted: int
    peak_in_flight: int
    # Items certainly in flight: a get counts as having taken its item from its start.
    peak_certainly_in_flight: int
    threads: int
    processes: int
    # Whether tasks ran at the same time (several processes, or threads without a GIL); if
    # not, one task ran at a time and the stamps decided what blocked.
    parallel: bool
    calls_consumer: bool
    # With several threads: (puts, gets) during which the calling thread's voluntary context
    # switch count grew.
    switched: tuple[int, int] | None

    def __str__(self) -> str:
        how = "voluntary context switches" if self.parallel else "stamps, one task at a time"
        switched = ""
        if self.switched is not None and not self.parallel:
            switched = f", with a context switch: {self.switched[0]} puts, {self.switched[1]} gets"
        return (
            f"M={self.items}, Q={self.capacity}: "
            f"blocking puts {self.blocking_puts} ({self.blocking_puts / self.items:.3f}/item), "
            f"blocking gets {self.blocking_gets} "
            f"({self.blocking_gets / self.gets_counted:.3f}/get counted), "
            f"peak in flight {self.peak_in_flight} "
            f"(certainly {self.peak_certainly_in_flight}); "
            f"{self.threads} thread(s), {self.processes} process(es), "
            f"blocking decided by {how}{switched}"
        )


def _peak(changes: list[tuple[float, int]]) -> int:
    # On equal times the decrease comes first: a tie never makes the peak higher.
    level = peak = 0
    for _, change in sorted(changes):
        level += change
        peak = max(peak, level)
    return peak


def analyse(trace: Trace, capacity: int, gil_enabled: bool, preempted: bool = False) -> Counts:
    """The counts of a run with one producer and one consumer; ``preempted``: its threads ran
    under a switch interval shorter than ``SWITCH_INTERVAL``."""
    layout = trace.layout
    if layout.producers != 1:
        raise ValueError("the analysis reads runs with one producer and one consumer")
    times, switches, items = trace.times, trace.switches, layout.items
    threads = {(trace.processes[e], trace.threads[e]) for e in range(layout.events)}
    processes = {trace.processes[e] for e in range(layout.events)}
    parallel = len(processes) > 1 or (len(threads) > 1 and (preempted or not gil_enabled))
    # The consumer's gets in the order they returned; get i > 0 starts as get i - 1's work ends.
    order = sorted(range(items), key=lambda item: times[layout.got(item)])
    gets = list(itertools.pairwise(order))
    puts = [(layout.put_starts(item), layout.put_returned(item)) for item in range(items)]

    got_times = sorted(times[layout.got(item)] for item in range(items))

    def put_waited(item: int) -> bool:
        # The consumer took another item during it (its own: the put is a call, not a wait).
        low, high = times[layout.put_starts(item)], times[layout.put_returned(item)]
        took = bisect.bisect_left(got_times, high) - bisect.bisect_right(got_times, low)
        return took - (low < times[layout.got(item)] < high) > 0

    def get_waited(previous: int, item: int) -> bool:
        # The put of its item returned during it.
        returned = times[layout.put_returned(item)]
        return times[layout.consumed(previous)] < returned < times[layout.got(item)]

    switched_puts = sum(switches[end] > switches[start] for start, end in puts)
    switched_gets = sum(
        switches[layout.got(item)] > switches[layout.consumed(previous)] for previous, item in gets
    )
    if parallel:
        blocking_puts, blocking_gets = switched_puts, switched_gets
    else:
        blocking_puts = sum(put_waited(item) for item in range(items))
        blocking_gets = sum(get_waited(previous, item) for previous, item in gets)

    get_starts = {item: times[layout.consumed(previous)] for previous, item in gets}
    returned = [(times[end], +1) for _, end in puts]
    peak = _peak([*returned, *((times[layout.got(item)], -1) for item in range(items))])
    certain = _peak([*returned, *((get_starts.get(item, -math.inf), -1) for item in range(items))])
    calls_consumer = all(
        times[layout.put_starts(item)]
        < times[layout.got(item)]
        < times[layout.consumed(item)]
        < times[layout.put_returned(item)]
        for item in range(items)
    )
    return Counts(
        items=items,
        capacity=capacity,
        blocking_puts=blocking_puts,
        blocking_gets=blocking_gets,
        gets_counted=len(gets),
        peak_in_flight=peak,
        peak_certainly_in_flight=certain,
        threads=len(threads),
        processes=len(processes),
        parallel=parallel,
        calls_consumer=calls_consumer,
        switched=(switched_puts, switched_gets) if len(threads) > 1 else None,
    )


def expected_blocking(items: int, capacity: int) -> int:
    """Blocking puts, and blocking gets, that asyncio.Queue's rules give one producer and one
    consumer: those of items Q, 2Q, ... (the producer fills the FIFO, the consumer drains it)."""
    return (items - 1) // capacity


def expected_peak(items: int, capacity: int) -> int:
    return min(capacity, items)


def check_contract(model: str, counts: Counts) -> None:
    """Assert what the capacity rule guarantees for this kind of run (module docstring)."""
    where = f"{model}: {counts}"
    if counts.calls_consumer:
        assert (counts.blocking_puts, counts.blocking_gets, counts.peak_in_flight) == (0, 0, 0), (
            f"{where}; a put that calls the consumer can neither block nor leave items in flight"
        )
        return
    capacity, items = counts.capacity, counts.items
    if counts.parallel:
        assert counts.peak_certainly_in_flight <= capacity, (
            f"{where}; more than Q={capacity} items were in flight"
        )
        return
    blocking = expected_blocking(items, capacity)
    assert (counts.blocking_puts, counts.blocking_gets, counts.peak_in_flight) == (
        blocking,
        blocking,
        expected_peak(items, capacity),
    ), (
        f"{where}; expected {blocking} blocking puts, {blocking} blocking gets and a peak of "
        f"{expected_peak(items, capacity)} in flight, as asyncio.Queue gives"
    )


def measure(model: Model, capacity: int, items: int) -> Counts:
    """Run the model's producer_consumer once with the recording spec (verified like any run:
    operation count and checksum) and analyse what it recorded."""
    plain = ProducerConsumer(producers=1, consumers=1, capacity=capacity, items=items)
    layout = Layout(items, 1)
    events = layout.events
    with Recorder(FIELDS * events) as recorder:
        meter = _IntervalClock(recorder, FIELDS * events)
        interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        try:
            run_cell(Cell(model, recorded(plain, recorder)), meter)
        finally:
            sys.setswitchinterval(interval)
        times = recorder.read(0, events, "hook calls")
        assert all(meter.start_stamp <= stamp <= meter.stop_stamp for stamp in times), (
            f"{model.name}: a hook was called outside the measured region"
        )
        values = recorder.values
        trace = Trace(
            layout,
            times,
            values[SWITCHES * events : (SWITCHES + 1) * events].tolist(),
            values[THREAD * events : (THREAD + 1) * events].tolist(),
            values[PROCESS * events : (PROCESS + 1) * events].tolist(),
        )
    # Threads share one GIL only on a build with it and only within one interpreter: the tasks
    # of a model whose interpreters have a GIL each (subinterpreters: parallel="always") run
    # at the same time, as processes do.
    gil_enabled: bool = getattr(sys, "_is_gil_enabled", lambda: True)()
    preempted = meter.interval < SWITCH_INTERVAL
    return analyse(trace, capacity, gil_enabled and model.parallel != "always", preempted)


class _IntervalClock(StartClock):
    """Notes the switch interval in effect when the region starts: a model may set its own."""

    interval = SWITCH_INTERVAL

    def start(self) -> None:
        self.interval = sys.getswitchinterval()
        super().start()


# The negative control: the generator scheduler's FIFO before issue 10.


class LooseFifo(Generic[T]):
    """Hands a put's item straight to a parked getter (it occupies no slot) and refills a freed
    slot from a parked putter at once, before the putter runs."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: deque[T] = deque()
        self.getters: deque[_gensched.Task[Any]] = deque()
        self.putters: deque[tuple[_gensched.Task[Any], T]] = deque()

    def put(self, item: T) -> _gensched.Request:
        return _LoosePut(self, item)

    def get(self) -> _gensched.Request:
        return _LooseGet(self)


class _LoosePut(_gensched.Request, Generic[T]):
    __slots__ = ("fifo", "item")

    def __init__(self, fifo: LooseFifo[T], item: T) -> None:
        self.fifo = fifo
        self.item = item

    def trap(self, scheduler: _gensched.Scheduler, task: _gensched.Task[Any]) -> object:
        fifo = self.fifo
        if fifo.getters:
            scheduler.resume(fifo.getters.popleft(), self.item)
            return None
        if len(fifo.items) < fifo.capacity:
            fifo.items.append(self.item)
            return None
        fifo.putters.append((task, self.item))
        return _gensched.PARKED


class _LooseGet(_gensched.Request, Generic[T]):
    __slots__ = ("fifo",)

    def __init__(self, fifo: LooseFifo[T]) -> None:
        self.fifo = fifo

    def trap(self, scheduler: _gensched.Scheduler, task: _gensched.Task[Any]) -> object:
        fifo = self.fifo
        if fifo.items:
            item = fifo.items.popleft()
            if fifo.putters:
                putter, pending = fifo.putters.popleft()
                fifo.items.append(pending)
                scheduler.resume(putter, None)
            return item
        fifo.getters.append(task)
        return _gensched.PARKED


# Hand-made traces, for the paths of the checker no real model here can break.


def trace_from_rows(layout: Layout, rows: list[tuple[int, float, int, int, int]]) -> Trace:
    """A trace from (event, time, switches, thread, process) rows."""
    times = [math.nan] * layout.events
    switches = [0.0] * layout.events
    thread_ids = [0.0] * layout.events
    process_ids = [0.0] * layout.events
    for event, at, switched, thread, process in rows:
        times[event], switches[event] = at, switched
        thread_ids[event], process_ids[event] = thread, process
    assert not any(math.isnan(at) for at in times)
    return Trace(layout, times, switches, thread_ids, process_ids)


def pipeline_rows(layout: Layout, put_returns: list[float], gets: list[float]) -> list[Any]:
    """Rows of a two-process run: the producer (pid 1) and the consumer (pid 2); item k's put
    starts just before ``put_returns[k - 1]`` and its get returns at ``gets[k]``, its work
    taking 0.1."""
    rows: list[Any] = []
    starts = [0.0, *put_returns[:-1]]
    for item in range(layout.items):
        rows.append((layout.put_starts(item), starts[item], 0, 10, 1))
        rows.append((layout.got(item), gets[item], 0, 20, 2))
        rows.append((layout.consumed(item), gets[item] + 0.1, 0, 20, 2))
    rows.append((layout.producer_ends(0), put_returns[-1], 0, 10, 1))
    return rows
