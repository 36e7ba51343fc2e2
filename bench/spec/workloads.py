"""Workload specs: what every model must do, and the checksum that proves it did.

A spec is an immutable value; its ``params`` string is canonical (declared field order, ``k=v``
joined by commas) so that results from different runs and machines match by name. ``reference()``
is computed here, independently of any model, and every run is checked against it.

Each spec class also carries its workload's facts (``WorkloadFacts``: what a value is, what
one operation is called, what a sweep varies, what a latency sample is) and how a table
abbreviates its parameters (``short_parts``): the analysis and rendering layers read them here,
so that no module but the specs and the models tests a workload's name.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import zlib
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal

from bench.units import format_bytes, format_duration, format_rate

# Bump when a change makes old results incomparable (and say so in CHANGELOG.md).
SPEC_VERSION = 2

Checksum = tuple[int, ...]
# Which models run a matrix entry: every one, the lightweight ones, the others, or the serial
# baseline and the models that can run CPU work on several cores at once ("parallel").
Scope = Literal["all", "lightweight", "heavyweight", "parallel"]

# A small payload travels with each producer-consumer item, so that models that copy or
# serialise items (processes) pay for it as a real pipeline would.
PAYLOAD = bytes(range(32))


def cpu_work(seed: int, iterations: int) -> int:
    """A fixed, small pure-Python computation (an LCG), the same in every model."""
    acc = seed
    for _ in range(iterations):
        acc = (acc * 1103515245 + 12345) & 0x7FFFFFFF
    return acc


def tally(values: Iterable[int]) -> Checksum:
    """Order-independent checksum of a multiset: (count, sum, sum of squares).

    A lost or duplicated value changes the count or the sums; two errors that cancel in all
    three at once would need a coincidence no model bug produces.
    """
    count = total = squares = 0
    for value in values:
        count += 1
        total += value
        squares += value * value
    return (count, total, squares)


def merge_tallies(parts: Iterable[Checksum]) -> Checksum:
    count = total = squares = 0
    for part_count, part_total, part_squares in parts:
        count += part_count
        total += part_total
        squares += part_squares
    return (count, total, squares)


def _applies(spec: object, field: dataclasses.Field[object]) -> bool:
    """Whether a field belongs in the spec's name. A field declared with ``metadata={"when":
    (other_field, value)}`` only matters when that other field has that value; leaving it out
    otherwise keeps the names of specs that existed before it was added (and their results
    comparable)."""
    condition = field.metadata.get("when")
    return condition is None or getattr(spec, condition[0]) == condition[1]


class SpecError(ValueError):
    """A workload parameter is invalid; the message names it and what is allowed."""


def _positive(spec: object, *names: str, limit: int = 10_000_000) -> None:
    for name in names:
        value = getattr(spec, name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
            raise SpecError(f"{name} must be an integer from 1 to {limit:,}, got {value!r}")


def _choice(spec: object, name: str, allowed: tuple[str, ...]) -> None:
    value = getattr(spec, name)
    if value not in allowed:
        raise SpecError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


@dataclass(frozen=True)
class LatencyFacts:
    """What one sample of a workload's latency pass is (``bench.measure.latency``): ``what``
    in words (the record's ``what`` of an unbatched pass), and whether the samples can be
    batched, several operations per stamp, when one is too short for the timer."""

    what: str
    batched: bool = False


@dataclass(frozen=True)
class WorkloadFacts:
    """What the layers above the specs need to know about a workload, in one place: summary,
    findings, charts, compare, the latency pass and sweeps read it here instead of testing the
    workload's name.

    ``value`` is what one stored value is in words ("time per one-way switch"); ``column`` the
    summary table's unit column ("per switch"); ``throughput``: shown as operations per second
    (1 / value) rather than as the value; ``operation`` and ``operations`` name one and several
    of what a value is per. ``size_parameters`` are the parameters a sweep varies together (all
    at the same size; none: the workload is not swept), ``size_label`` the size axis in words.
    ``latency`` is None for a workload without a latency pass."""

    value: str
    column: str
    operation: str
    operations: str
    throughput: bool = False
    size_parameters: tuple[str, ...] = ()
    size_label: str = "N"
    latency: LatencyFacts | None = None

    @property
    def rate_unit(self) -> str:
        """The unit of a throughput: "items/s"."""
        return f"{self.operations}/s"

    @property
    def swept(self) -> bool:
        return bool(self.size_parameters)


@dataclass(frozen=True)
class Spec:
    """Base of all workload specs. A subclass declares its name (``workload``), what one value
    is (``metric``, ``unit``) and its ``facts``."""

    workload: ClassVar[str]
    metric: ClassVar[str]
    unit: ClassVar[Literal["second", "byte"]] = "second"
    facts: ClassVar[WorkloadFacts]

    @property
    def params(self) -> str:
        return ",".join(
            f"{f.name}={getattr(self, f.name)}"
            for f in dataclasses.fields(self)
            if _applies(self, f)
        )

    @property
    def ops(self) -> int:
        """Operations one run performs: the count a per-operation value is divided by."""
        raise NotImplementedError

    def short_parts(self) -> tuple[tuple[str, str], ...]:
        """The parameters as a table row shows them, each with the field it shows: by default
        ``name=value`` of every field in the spec's name. Subclasses abbreviate."""
        return tuple(
            (f.name, f"{f.name}={getattr(self, f.name)}")
            for f in dataclasses.fields(self)
            if _applies(self, f)
        )

    def short_params(self, omit: Collection[str] = ()) -> str:
        """A compact row label ("P=1 C=1 Q=64 M=4000 no work"), without the fields in
        ``omit``; the full canonical params stay in the result file."""
        return " ".join(text for name, text in self.short_parts() if name not in omit)

    @classmethod
    def show(cls, per_op: float) -> str:
        """A stored value (per operation) in human units: a throughput as a rate."""
        if cls.facts.throughput and per_op > 0:
            return f"{format_rate(1.0 / per_op)} {cls.facts.rate_unit}"
        if cls.unit == "byte":
            return format_bytes(per_op)
        return format_duration(per_op)

    def reference(self) -> Checksum:
        raise NotImplementedError

    @classmethod
    def from_params(cls, params: str) -> Spec:
        """Parse a canonical ``k=v,...`` string back into a spec (the inverse of ``params``)."""
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        values: dict[str, object] = {}
        for item in filter(None, params.split(",")):
            key, sep, raw = item.partition("=")
            if not sep or key not in types:
                raise SpecError(
                    f"{cls.workload}: unknown parameter {key!r}; valid: {', '.join(types)}"
                )
            if types[key] in ("int", int):
                try:
                    values[key] = int(raw)
                except ValueError:
                    raise SpecError(f"{key} must be an integer, got {raw!r}") from None
            elif types[key] in ("float", float):
                try:
                    values[key] = float(raw)
                except ValueError:
                    raise SpecError(f"{key} must be a number, got {raw!r}") from None
            else:
                values[key] = raw
        try:
            return cls(**values)
        except TypeError as exc:
            raise SpecError(f"{cls.workload}: {exc}") from None


@dataclass(frozen=True)
class PingPong(Spec):
    """Two tasks hand a token back and forth through the model's lightest blocking hand-off.

    In round r the coordinator passes r to the partner, and the partner hands back what it
    received, unchanged; a round is two one-way switches. Where the primitive carries a value (a
    generator's send and yield, a future, a pipe, a call and its return) the token travels in it.
    Where it carries none (a lock, an event, a greenlet switch without arguments), it travels in
    a slot that each side writes for the other, and each side checks on every turn that the
    other's slot holds a new token: the coordinator, that the token it just sent came back; the
    partner, that it was not woken for the token it already handed back. A wait that returns
    without the other side's turn fails the run instead of counting a switch that did not happen.

    The coordinator stops at the first round whose token does not come back, so the count of
    switches comes from what crossed the primitive (``switches``: 2 x (last token back + 1)). It
    is also the checksum: a lost or repeated hand-off makes it fall short. The proof costs one
    comparison per turn and no arithmetic; a generator's ``send``, which cannot return without
    the generator having run, needs not even that: its coordinator keeps the token that came
    back and the last one is checked after the region.
    """

    workload: ClassVar[str] = "pingpong"
    metric: ClassVar[str] = "seconds per one-way switch"
    facts: ClassVar[WorkloadFacts] = WorkloadFacts(
        value="time per one-way switch",
        column="per switch",
        operation="switch",
        operations="switches",
        latency=LatencyFacts(
            what="one-way switch: a round trip timed by the coordinator, minus the timer's "
            "cost, halved",
            batched=True,
        ),
    )
    rounds: int = 2000

    def __post_init__(self) -> None:
        _positive(self, "rounds")

    @property
    def ops(self) -> int:
        return 2 * self.rounds

    def each_round(self) -> Iterable[int]:
        """What the coordinator's loop iterates, once per round. A plain range: the latency
        pass swaps in an iterable that time-stamps every round, with no change to the model."""
        return range(self.rounds)

    def switches(self, sent: int, back: int) -> int:
        """One-way switches that carried their token, from the coordinator's last round: it
        sent ``sent`` and got ``back`` back (both -1 before the first round). Every round before
        the last one completed, since the coordinator stops at the first token that fails."""
        return 2 * (back + 1) if back == sent else 2 * sent

    @staticmethod
    def partner_lost(found: object, handed_back: object) -> str:
        """The error of a run whose partner was woken for the token it had handed back."""
        return PingPong._lost("partner", found, f"a token after {handed_back}")

    @staticmethod
    def coordinator_lost(found: object, sent: object) -> str:
        """The error of a run whose coordinator did not get back the token it sent."""
        return PingPong._lost("coordinator", found, f"{sent}, the one it sent")

    @staticmethod
    def _lost(side: str, found: object, expected: str) -> str:
        return (
            f"pingpong: the {side} found token {found!r} where it expected {expected}: a wait "
            "returned without the other side's turn, so a switch did not happen"
        )

    def reference(self) -> Checksum:
        return (2 * self.rounds,)


@dataclass(frozen=True)
class ProducerConsumer(Spec):
    """P producers put M items ``(i, PAYLOAD)`` into one bounded FIFO of capacity Q; C consumers
    take them and each computes ``consume(item)``. Producer p puts the items i with
    ``i % P == p``, in increasing order. After the producers finish, exactly C sentinels
    (``None``) shut the consumers down. The checksum is the tally of consumed values.

    Capacity: at no moment have more than Q items been put and not yet taken by a consumer, which
    is how ``queue.Queue``, ``asyncio.Queue`` and ``gevent.queue.Queue`` count. An item occupies
    a slot from the moment its put completes until a get takes it, even when a consumer is
    already waiting for it: no item bypasses the FIFO. A put that finds Q items waits until a
    get has taken one; a get that finds none waits until a put has completed.
    """

    workload: ClassVar[str] = "producer_consumer"
    metric: ClassVar[str] = "seconds per item"
    # The sweep runs P = C: a cell with producers != consumers is not a point of any curve.
    facts: ClassVar[WorkloadFacts] = WorkloadFacts(
        value="time per item",
        column="items/s",
        operation="item",
        operations="items",
        throughput=True,
        size_parameters=("producers", "consumers"),
        size_label="N producers = N consumers",
        latency=LatencyFacts(
            what="put to get: from just before a producer puts an item to just after a "
            "consumer gets it, minus the timer's cost"
        ),
    )
    producers: int = 1
    consumers: int = 1
    capacity: int = 64
    items: int = 4000
    work: str = "none"
    cpu_iterations: int = 100

    def __post_init__(self) -> None:
        # A task per producer and consumer: beyond 100,000 no model here can hold them.
        _positive(self, "producers", "consumers", limit=100_000)
        _positive(self, "capacity", "items")
        _positive(self, "cpu_iterations", limit=1_000_000)
        _choice(self, "work", ("none", "cpu"))
        if self.producers > self.items:
            raise SpecError(f"producers ({self.producers}) must not exceed items ({self.items})")

    def short_parts(self) -> tuple[tuple[str, str], ...]:
        return (
            ("producers", f"P={self.producers}"),
            ("consumers", f"C={self.consumers}"),
            ("capacity", f"Q={self.capacity}"),
            ("items", f"M={self.items}"),
            ("work", "cpu" if self.work == "cpu" else "no work"),
        )

    @property
    def ops(self) -> int:
        return self.items

    def items_of(self, producer: int) -> range:
        """The item numbers producer ``producer`` puts, in order."""
        return range(producer, self.items, self.producers)

    def consume(self, item: tuple[int, bytes]) -> int:
        """A consumer's per-item work; its result goes into the consumer's tally."""
        number, payload = item
        if self.work == "cpu":
            return cpu_work(number, self.cpu_iterations) + len(payload)
        return number + len(payload)

    def drain(self, get: Callable[[], tuple[int, bytes] | None]) -> Checksum:
        """A consumer's loop for models whose ``get`` blocks: take items until the sentinel,
        consume each, and return the tally of the results."""
        consume = self.consume
        count = total = squares = 0
        while (item := get()) is not None:
            value = consume(item)
            count += 1
            total += value
            squares += value * value
        return (count, total, squares)

    def reference(self) -> Checksum:
        return tally(self.consume((i, PAYLOAD)) for i in range(self.items))


@dataclass(frozen=True)
class FanOutBound:
    """The fastest a fan-out can finish whatever the model (``FanOut.bound``): ``ideal``
    seconds with ``workers`` tasks waiting at once. cpu work has no model-independent bound:
    ``ideal`` and ``workers`` are None and ``text`` says so."""

    ideal: float | None
    workers: int | None
    text: str


# An echo request or reply: payload length and the server's delay in microseconds, then the
# payload. The server sends the whole frame back unchanged after the delay.
ECHO_HEADER = struct.Struct("!II")
ECHO_FILLER = bytes(range(256)) * 4096
MAX_REQUEST_BYTES = len(ECHO_FILLER)


@dataclass(frozen=True)
class FanOut(Spec):
    """A coordinator launches N tasks; task i does one unit of work and returns ``result(i)``;
    the coordinator gathers all N results. ``work=cpu`` computes; ``work=sleep`` waits
    ``delay_ms`` through the model's own non-blocking sleep; ``work=echo`` sends
    ``request(i)`` (``request_bytes`` of payload) over TCP to the suite's echo server, which
    holds it ``delay_ms`` before sending it back, and returns ``echo_result(i, reply)``. With
    ``connect=each`` every task opens (and closes) its own connection inside the region; with
    ``connect=reuse`` connections opened before the region are reused. Launching is part of
    the timing.
    """

    workload: ClassVar[str] = "fan_out"
    metric: ClassVar[str] = "seconds per task"
    facts: ClassVar[WorkloadFacts] = WorkloadFacts(
        value="time per task",
        column="makespan per task",
        operation="task",
        operations="tasks",
        size_parameters=("tasks",),
        size_label="N tasks launched and gathered",
        latency=LatencyFacts(
            what="fan-out start to result: from the start of the fan-out (the measured "
            "region's start) to the moment a task has its result, minus the timer's cost"
        ),
    )
    tasks: int = 100
    work: str = "cpu"
    delay_ms: float = 1.0
    cpu_iterations: int = 100
    request_bytes: int = dataclasses.field(default=64, metadata={"when": ("work", "echo")})
    connect: str = dataclasses.field(default="each", metadata={"when": ("work", "echo")})

    def __post_init__(self) -> None:
        _positive(self, "tasks", limit=1_000_000)
        _positive(self, "cpu_iterations", limit=1_000_000)
        _choice(self, "work", ("cpu", "sleep", "echo"))
        if isinstance(self.delay_ms, bool) or not isinstance(self.delay_ms, int | float):
            raise SpecError(f"delay_ms must be a number, got {self.delay_ms!r}")
        if not 0 <= self.delay_ms <= 60_000:
            raise SpecError(f"delay_ms must be from 0 to 60000, got {self.delay_ms!r}")
        # 10 and 10.0 must name the same cell.
        object.__setattr__(self, "delay_ms", float(self.delay_ms))
        if not isinstance(self.request_bytes, int) or not (
            8 <= self.request_bytes <= MAX_REQUEST_BYTES
        ):
            raise SpecError(
                f"request_bytes must be an integer from 8 to {MAX_REQUEST_BYTES:,}, "
                f"got {self.request_bytes!r}"
            )
        _choice(self, "connect", ("each", "reuse"))
        if self.work != "echo":
            # Left out of the cell's name, so a value given would silently mean nothing.
            for field in dataclasses.fields(self):
                if _applies(self, field) or getattr(self, field.name) == field.default:
                    continue
                raise SpecError(f"{field.name} applies to work=echo only, not work={self.work}")

    def short_parts(self) -> tuple[tuple[str, str], ...]:
        tasks = ("tasks", f"N={self.tasks}")
        if self.echoes:
            return (
                tasks,
                ("work", "echo"),
                ("delay_ms", f"D={self.delay_ms:g} ms"),
                ("request_bytes", f"{self.request_bytes} B"),
                ("connect", f"connect={self.connect}"),
            )
        if self.sleeps:
            return (tasks, ("work", f"sleep {self.delay_ms:g} ms"))
        return (tasks, ("work", "cpu"))

    def bound(self, concurrency: int) -> FanOutBound:
        """The ideal makespan when ``concurrency`` tasks can wait at once: each task waits D
        (its sleep, or the server's delay for echo), so ceil(N / W) waves of D; that is D when
        all tasks wait at once and N x D when one does. The work around the waits (launching,
        switching, the I/O itself) is what a model adds, and is left out."""
        if self.work == "cpu":
            return FanOutBound(None, None, "none: cpu work has no model-independent bound")
        tasks, workers = self.tasks, max(1, min(concurrency, self.tasks))
        waves = math.ceil(tasks / workers)
        wait = "sleep" if self.sleeps else "server delay"
        delay = f"{self.delay_ms:g} ms"
        total = f"{waves * self.delay_ms:g} ms"
        if waves == 1:
            who = "the one task waits" if tasks == 1 else f"all {tasks} tasks wait at once"
            text = f"D = {delay} ({wait}): {who}"
        elif workers == 1:
            text = f"N x D = {tasks} x {delay} = {total} ({wait}): one task waits at a time"
        else:
            text = (
                f"ceil(N / W) x D = ceil({tasks} / {workers}) x {delay} = {total} ({wait}): "
                f"{workers} tasks wait at once"
            )
        return FanOutBound(waves * self.delay, workers, text)

    @property
    def echoes(self) -> bool:
        return self.work == "echo"

    @property
    def reply_bytes(self) -> int:
        """Size of a whole echo frame (header and payload), request or reply."""
        return ECHO_HEADER.size + self.request_bytes

    def request(self, number: int) -> bytes:
        """The echo frame task ``number`` sends: its number first, so replies cannot be
        swapped between tasks without the checksum noticing."""
        payload = number.to_bytes(8, "big") + ECHO_FILLER[: self.request_bytes - 8]
        return ECHO_HEADER.pack(self.request_bytes, round(self.delay_ms * 1000)) + payload

    def echo_result(self, number: int, reply: bytes) -> int:
        """What task ``number`` returns once ``reply`` (the whole frame) has arrived."""
        return (number << 32) | zlib.crc32(reply)

    @property
    def ops(self) -> int:
        return self.tasks

    @property
    def sleeps(self) -> bool:
        return self.work == "sleep"

    @property
    def delay(self) -> float:
        """The sleep of one task, in seconds."""
        return self.delay_ms / 1000.0

    def result(self, number: int) -> int:
        """What task ``number`` returns (after its sleep, for ``work=sleep``)."""
        if self.work == "cpu":
            return cpu_work(number, self.cpu_iterations)
        return number

    def reference(self) -> Checksum:
        if self.echoes:
            return tally(self.echo_result(i, self.request(i)) for i in range(self.tasks))
        return tally(self.result(i) for i in range(self.tasks))


@dataclass(frozen=True)
class _TaskCount(Spec):
    """A spec whose only parameter is N tasks, each one operation (spawn and memory)."""

    tasks: int = 100

    def __post_init__(self) -> None:
        _positive(self, "tasks", limit=1_000_000)

    def short_parts(self) -> tuple[tuple[str, str], ...]:
        return (("tasks", f"N={self.tasks}"),)

    @property
    def ops(self) -> int:
        return self.tasks


@dataclass(frozen=True)
class Spawn(_TaskCount):
    """Create, start and finish N trivial tasks; task i returns ``i + 1``. Creation is timed."""

    workload: ClassVar[str] = "spawn"
    metric: ClassVar[str] = "seconds per task"
    facts: ClassVar[WorkloadFacts] = WorkloadFacts(
        value="time per task",
        column="per task",
        operation="task",
        operations="tasks",
        size_parameters=("tasks",),
        size_label="N tasks",
    )

    def reference(self) -> Checksum:
        return tally(i + 1 for i in range(self.tasks))


@dataclass(frozen=True)
class Memory(_TaskCount):
    """Park N tasks on one shared event; measure the unique memory they add, then release them.

    Task i returns ``i`` once released. The count of tasks parked at the moment of measurement
    is what the memory delta is divided by.
    """

    workload: ClassVar[str] = "memory"
    metric: ClassVar[str] = "bytes per parked task"
    unit: ClassVar[Literal["second", "byte"]] = "byte"
    facts: ClassVar[WorkloadFacts] = WorkloadFacts(
        value="bytes per parked task",
        column="per task",
        operation="task",
        operations="tasks",
        size_parameters=("tasks",),
        size_label="N parked tasks",
    )

    def reference(self) -> Checksum:
        return tally(range(self.tasks))


SPECS: dict[str, type[Spec]] = {
    cls.workload: cls for cls in (PingPong, ProducerConsumer, FanOut, Spawn, Memory)
}


def workload_facts(workload: object) -> WorkloadFacts | None:
    """The facts of a workload of this suite by name; None for any other name (a foreign
    benchmark, a workload of another suite version)."""
    spec_class = SPECS.get(workload) if isinstance(workload, str) else None
    return None if spec_class is None else spec_class.facts


# The workloads, in the suite's order, that have a latency pass; that are timed (their values
# are seconds, and a profile pass applies); whose time per operation is swept over sizes (a
# memory sweep is fitted as a line instead).
LATENCY_WORKLOADS = tuple(name for name, cls in SPECS.items() if cls.facts.latency is not None)
TIMED_WORKLOADS = tuple(name for name, cls in SPECS.items() if cls.unit == "second")
TIME_SWEEP_WORKLOADS = tuple(
    name for name, cls in SPECS.items() if cls.facts.swept and cls.unit == "second"
)

# The default matrix: every model runs the "all" sizes; the large sizes are for the models that
# declare themselves lightweight (a thread or process per task at 10,000 tasks would spend the
# whole time budget on one cell). The heavyweight models' memory is measured at three sizes and
# reported as the slope over them (a process's cost is not linear in N, so one ratio misleads;
# the kernel column of threads needs 1,000 of them to rise above the machine's noise); 100
# generators or coroutines add less than one of CPython's 1 MiB memory arenas, so their delta
# would be allocator noise: they are measured at 10,000.
# About 2 ms of pure-Python work on a 3.11 core of this decade (3 ms on a free-threaded 3.13).
PARALLEL_CPU_ITERATIONS = 20_000
PARALLEL_SPECS: tuple[tuple[Spec, Scope], ...] = (
    (FanOut(tasks=32, work="cpu", cpu_iterations=PARALLEL_CPU_ITERATIONS), "parallel"),
    (
        ProducerConsumer(
            producers=1,
            consumers=4,
            capacity=8,
            items=64,
            work="cpu",
            cpu_iterations=PARALLEL_CPU_ITERATIONS,
        ),
        "parallel",
    ),
)

DEFAULT_MATRIX: tuple[tuple[Spec, Scope], ...] = (
    (PingPong(rounds=2000), "all"),
    (ProducerConsumer(producers=1, consumers=1, capacity=1), "all"),
    (ProducerConsumer(producers=1, consumers=1, capacity=64), "all"),
    (ProducerConsumer(producers=4, consumers=4, capacity=64), "all"),
    (ProducerConsumer(producers=1, consumers=1, capacity=64, work="cpu"), "all"),
    (ProducerConsumer(producers=4, consumers=4, capacity=64, work="cpu"), "all"),
    (FanOut(tasks=100, work="cpu"), "all"),
    (FanOut(tasks=100, work="sleep"), "all"),
    (FanOut(tasks=10_000, work="cpu"), "lightweight"),
    (FanOut(tasks=10_000, work="sleep"), "lightweight"),
    # Real sockets: the connection and the round trip at no delay, then a thousand requests the
    # server holds 10 ms each, which only the models that overlap them can afford.
    (FanOut(tasks=100, work="echo", delay_ms=0.0), "all"),
    (FanOut(tasks=1000, work="echo", delay_ms=10.0), "lightweight"),
    # Parallel CPU work: each task or item computes for milliseconds (PARALLEL_CPU_ITERATIONS),
    # so that the work, not starting or handing over tasks, dominates and a speedup over serial
    # shows how many cores the model kept busy.
    *PARALLEL_SPECS,
    (Spawn(tasks=100), "all"),
    (Spawn(tasks=10_000), "lightweight"),
    (Memory(tasks=100), "heavyweight"),
    (Memory(tasks=300), "heavyweight"),
    (Memory(tasks=1000), "heavyweight"),
    (Memory(tasks=10_000), "lightweight"),
)

# Tiny sizes for smoke tests of the whole pipeline (``--matrix smoke``). They exercise the edge
# cases: a capacity of 1, more consumers than producers, item counts that do not divide evenly
# between producers, and an odd number of tasks. Their numbers mean nothing.
SMOKE_MATRIX: tuple[tuple[Spec, Scope], ...] = (
    (PingPong(rounds=5), "all"),
    (ProducerConsumer(producers=1, consumers=1, capacity=1, items=7), "all"),
    (
        ProducerConsumer(
            producers=2, consumers=3, capacity=2, items=11, work="cpu", cpu_iterations=3
        ),
        "all",
    ),
    (ProducerConsumer(producers=3, consumers=1, capacity=1, items=10), "all"),
    (FanOut(tasks=5, work="cpu", cpu_iterations=3), "all"),
    (FanOut(tasks=5, work="sleep", delay_ms=1.0), "all"),
    (FanOut(tasks=5, work="echo", delay_ms=0.0), "all"),
    (FanOut(tasks=5, work="echo", delay_ms=1.0, connect="reuse"), "all"),
    (Spawn(tasks=5), "all"),
    (Memory(tasks=5), "all"),
)

MATRICES: dict[str, tuple[tuple[Spec, Scope], ...]] = {
    "default": DEFAULT_MATRIX,
    "smoke": SMOKE_MATRIX,
}

# The scaling sweep (``--sweep``, ``--matrix sweep``): each workload over a range of task counts
# with every other parameter fixed. Every size has scope "all": the point of a sweep is to find
# where each model stops, so the runner (``runners.sweeps``) decides per model, at run time,
# that a size cannot usefully be measured (a smaller one failed, one run would exceed
# ``--sweep-run-limit``, or the size is above the model's ``sweep_limits``) and records why,
# instead of the matrix leaving the large sizes out in advance. producer_consumer moves a fixed
# 20,000 items at every P = C, so the per-item cost compares across sizes (and P <= items).
SWEEP_SIZES = (1, 10, 100, 1_000, 10_000, 100_000)
SWEEP_ITEMS = 20_000
SWEEP_MATRIX: tuple[tuple[Spec, Scope], ...] = (
    *((FanOut(tasks=n, work="sleep", delay_ms=1.0), "all") for n in SWEEP_SIZES),
    *(
        (ProducerConsumer(producers=n, consumers=n, capacity=64, items=SWEEP_ITEMS), "all")
        for n in SWEEP_SIZES
        if n <= 10_000
    ),
    *((Memory(tasks=n), "all") for n in SWEEP_SIZES if n >= 10),
)

# The same shape at tiny sizes, for tests of the sweep machinery; its numbers mean nothing.
SWEEP_SMOKE_MATRIX: tuple[tuple[Spec, Scope], ...] = (
    *((FanOut(tasks=n, work="sleep", delay_ms=1.0), "all") for n in (1, 3, 9)),
    *((ProducerConsumer(producers=n, consumers=n, capacity=2, items=9), "all") for n in (1, 3, 9)),
    *((Memory(tasks=n), "all") for n in (5, 10, 20)),
)

MATRICES["sweep"] = SWEEP_MATRIX
MATRICES["sweep-smoke"] = SWEEP_SMOKE_MATRIX
# The matrices run as sweeps: series in ascending size, with the sweep's skip rules.
SWEEP_MATRICES = frozenset({"sweep", "sweep-smoke"})
