"""The workloads of the structured-concurrency models (trio, anyio), written once over a record of
a library's primitives (``Library``): the pingpong pair, the producer-consumer pipeline and its
FIFO of a channel bounded by a semaphore of slots, the measured launch of fan_out and spawn, the
echo fan-out and the parked tasks of memory.

A model builds its record inside each call, where it imports its library (the registry and
spawn children never do), and says in its own docstring how the workloads map onto its
primitives. The two libraries' primitives behave alike where these bodies rely on them: a
one-shot event that counts its waiters, tasks started with ``start_soon`` in a task group that
waits for them on exit and cancels them all when one fails (raising an exception group), and
``*_nowait`` forms of a semaphore's acquire and a channel's receive.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, TypeVarTuple

from bench.measure.cells import CellError
from bench.measure.echoserver import echo_address
from bench.measure.meters import Meter, Outcome
from bench.spec.workloads import (
    PAYLOAD,
    Checksum,
    FanOut,
    Memory,
    PingPong,
    ProducerConsumer,
    merge_tallies,
    tally,
)

Item = tuple[int, bytes] | None
# A FIFO's put and get.
Fifo = tuple[Callable[[Item], Awaitable[None]], Callable[[], Awaitable[Item]]]
# A task of fan_out or spawn: its number and the list it appends its result to.
NumberedTask = Callable[[int, list[int]], Coroutine[Any, Any, None]]
Arguments = TypeVarTuple("Arguments")
StreamT = TypeVar("StreamT", bound="AbstractAsyncContextManager[object]")

# How often the coordinator yields for its tasks to park before a region: two always suffice
# (on trio: the batch that runs them, in either order, then one that resumes the coordinator
# alone; on asyncio one).
_SETTLE_YIELDS = 4
# connect=reuse opens this many connections at a time before the region: concurrently, but not
# all at once, which would overflow the server's accept queue (asyncio's model does the same).
OPEN_BATCH = 256


class EventStatistics(Protocol):
    @property
    def tasks_waiting(self) -> int: ...


class Event(Protocol):
    def set(self) -> None: ...

    async def wait(self) -> None: ...

    def statistics(self) -> EventStatistics: ...


class CancelScope(Protocol):
    def cancel(self) -> None: ...


class TaskGroup(Protocol):
    """A trio nursery or an anyio task group."""

    @property
    def cancel_scope(self) -> CancelScope: ...

    def start_soon(
        self,
        func: Callable[[*Arguments], Coroutine[Any, Any, object]],
        /,
        *args: *Arguments,
        name: object = None,
    ) -> object: ...


class Semaphore(Protocol):
    def acquire_nowait(self) -> None: ...

    async def acquire(self) -> None: ...

    def release(self) -> None: ...


class Sender(Protocol):
    def send_nowait(self, item: Item, /) -> None: ...


class Receiver(Protocol):
    def receive_nowait(self) -> Item: ...

    async def receive(self) -> Item: ...


@dataclass(frozen=True, slots=True)
class Library(Generic[StreamT]):
    """The primitives of one library that the workloads use; ``StreamT`` is its TCP stream."""

    name: str
    new_event: Callable[[], Event]
    open_task_group: Callable[[], AbstractAsyncContextManager[TaskGroup]]
    # One pass through the scheduler.
    checkpoint: Callable[[], Awaitable[None]]
    sleep: Callable[[float], Awaitable[None]]
    connect: Callable[[str, int], Awaitable[StreamT]]
    # Sends the request (stream, request, reply size, task number) and returns the whole reply.
    round_trip: Callable[[StreamT, bytes, int, int], Awaitable[bytes]]
    # Closes the streams of connect=reuse, also when the run is cancelled.
    close_streams: Callable[[list[StreamT]], Awaitable[None]]


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of ``group``, out of any nested groups: what the cell reports."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def until_parked(lib: Library[Any], event: Event, count: int) -> None:
    """Yield until ``count`` tasks wait on ``event``; a CellError if they do not get there."""
    checkpoint = lib.checkpoint
    for _ in range(_SETTLE_YIELDS):
        if event.statistics().tasks_waiting >= count:
            return
        await checkpoint()
    waiting = event.statistics().tasks_waiting
    if waiting < count:
        raise CellError(
            f"{lib.name}: only {waiting} of {count} tasks were parked before the region"
        )


class _Slots:
    """What the two sides of a pingpong share: the event each waits on next, and the token
    each side last wrote for the other."""

    __slots__ = ("back", "sent", "to_pinger", "to_ponger")

    def __init__(self, new_event: Callable[[], Event]) -> None:
        self.to_ponger = new_event()
        self.to_pinger = new_event()
        self.sent = -1
        self.back = -1


async def _ponger(lib: Library[Any], slots: _Slots, spec: PingPong) -> None:
    """The partner: hands every token back unchanged, through the coordinator's slot."""
    new_event = lib.new_event
    for _ in range(spec.rounds):
        await slots.to_ponger.wait()
        # The next event exists before the reply, so the coordinator's next set finds it.
        slots.to_ponger = new_event()
        received = slots.sent
        if received == slots.back:
            raise CellError(spec.partner_lost(received, slots.back))
        slots.back = received
        slots.to_pinger.set()


async def pingpong(lib: Library[Any], spec: PingPong, meter: Meter) -> Outcome:
    """Coordinator and partner hand the token over through a fresh one-shot event per turn."""
    new_event = lib.new_event
    slots = _Slots(new_event)
    number = -1
    lost: int | None = None
    async with lib.open_task_group() as group:
        group.start_soon(_ponger, lib, slots, spec)
        await until_parked(lib, slots.to_ponger, 1)
        meter.start()
        for number in spec.each_round():
            slots.to_pinger = reply = new_event()
            slots.sent = number
            slots.to_ponger.set()
            await reply.wait()
            if slots.back != number:
                # Kept: the ponger, woken already, still writes its slot before it is cancelled.
                lost = slots.back
                break
        meter.stop()
        if lost is not None:
            # The ponger may still wait for a token that will not come.
            group.cancel_scope.cancel()
    if lost is not None:
        raise CellError(spec.coordinator_lost(lost, number))
    switches = spec.switches(number, slots.back)
    return Outcome(switches, (switches,))


def bounded_fifo(
    slots: Semaphore, sender: Sender, receiver: Receiver, would_block: type[Exception]
) -> Fifo:
    """``put`` and ``get`` of a FIFO holding at most Q items put and not yet taken: a channel of
    Q places bounded by ``slots``, a semaphore of Q. A put takes a slot, then sends without
    waiting; a get receives, then frees its slot. Each tries the ``*_nowait`` form first and
    awaits only when it must wait (the models' docstrings say why)."""
    take_slot_nowait, take_slot, free_slot = slots.acquire_nowait, slots.acquire, slots.release
    send_nowait = sender.send_nowait
    receive_nowait, receive = receiver.receive_nowait, receiver.receive

    async def put(item: Item) -> None:
        try:
            take_slot_nowait()
        except would_block:
            await take_slot()
        # Never full: the slots let at most Q items into the channel's Q places.
        send_nowait(item)

    async def get() -> Item:
        try:
            item = receive_nowait()
        except would_block:
            item = await receive()
        free_slot()
        return item

    return put, get


async def pipeline(
    lib: Library[Any],
    spec: ProducerConsumer,
    meter: Meter,
    put: Callable[[Item], Awaitable[None]],
    get: Callable[[], Awaitable[Item]],
) -> Outcome:
    """producer_consumer through ``put`` and ``get``: every task parked on the start gate
    before the region; one ``None`` sentinel per consumer once every producer has returned."""
    gate = lib.new_event()
    consume = spec.consume
    parts: list[Checksum] = []

    async def produce(numbers: Iterable[int]) -> None:
        await gate.wait()
        for number in numbers:
            await put((number, PAYLOAD))

    async def consume_until_sentinel() -> None:
        count = total = squares = 0
        await gate.wait()
        while (item := await get()) is not None:
            value = consume(item)
            count += 1
            total += value
            squares += value * value
        parts.append((count, total, squares))

    open_task_group = lib.open_task_group
    async with open_task_group() as everyone:
        for _ in range(spec.consumers):
            everyone.start_soon(consume_until_sentinel)
        async with open_task_group() as producing:
            for producer in range(spec.producers):
                producing.start_soon(produce, spec.items_of(producer))
            await until_parked(lib, gate, spec.producers + spec.consumers)
            meter.start()
            gate.set()
        # Every producer has returned, so every item is in the FIFO before the sentinels.
        for _ in range(spec.consumers):
            await put(None)
    meter.stop()
    checksum = merge_tallies(parts)
    return Outcome(checksum[0], checksum)


def unit_of_work(lib: Library[Any], spec: FanOut) -> NumberedTask:
    """A task of fan_out with ``work`` cpu or sleep (the library's own sleep)."""
    result, sleeps, delay = spec.result, spec.sleeps, spec.delay
    sleep = lib.sleep

    async def task(number: int, results: list[int]) -> None:
        if sleeps:
            await sleep(delay)
        results.append(result(number))

    return task


async def fan_out_echo(lib: Library[StreamT], spec: FanOut, meter: Meter) -> Outcome:
    """fan_out with ``work=echo``: one request-reply exchange per task, over a connection the
    task opens and closes (connect=each) or one opened for it before the region (reuse)."""
    host, port = echo_address()
    size = spec.reply_bytes
    request, echo_result = spec.request, spec.echo_result
    connect, round_trip = lib.connect, lib.round_trip
    streams: list[StreamT] = []

    async def exchange(stream: StreamT, number: int, results: list[int]) -> None:
        reply = await round_trip(stream, request(number), size, number)
        results.append(echo_result(number, reply))

    async def each(number: int, results: list[int]) -> None:
        stream = await connect(host, port)
        async with stream:
            await exchange(stream, number, results)

    async def reuse(number: int, results: list[int]) -> None:
        await exchange(streams[number], number, results)

    async def open_one() -> None:
        streams.append(await connect(host, port))

    try:
        if spec.connect == "reuse":
            for first in range(0, spec.tasks, OPEN_BATCH):
                async with lib.open_task_group() as opening:
                    for _ in range(first, min(first + OPEN_BATCH, spec.tasks)):
                        opening.start_soon(open_one)
        return await task_per_number(lib, reuse if streams else each, spec.tasks, meter)
    finally:
        await lib.close_streams(streams)


async def trivial(number: int, results: list[int]) -> None:
    """The task of spawn (and of the warm-up before a launch)."""
    results.append(number + 1)


async def task_per_number(
    lib: Library[Any], task: NumberedTask, count: int, meter: Meter
) -> Outcome:
    """The measured launch of fan_out and spawn: a task group task per task number, every
    result gathered when the group exits; the run loop is warm before the region. The count is
    of the results the tasks appended, not of the tasks started."""
    open_task_group = lib.open_task_group
    async with open_task_group() as warm_up:
        warm_up.start_soon(trivial, 0, [])
    results: list[int] = []
    meter.start()
    async with open_task_group() as group:
        start_soon = group.start_soon
        for number in range(count):
            start_soon(task, number, results)
    meter.stop()
    return Outcome(len(results), tally(results))


async def memory(lib: Library[Any], spec: Memory, meter: Meter) -> Outcome:
    """N tasks of a task group parked on one shared event while the meter measures."""
    new_event, open_task_group = lib.new_event, lib.open_task_group
    release = new_event()
    parked = 0
    results: list[int] = []

    async def parked_task(number: int) -> None:
        nonlocal parked
        parked += 1
        await release.wait()
        results.append(number)

    # Warm-up: one task parks on an event of its own and finishes, so the first use of a task
    # group, a task and Event.wait is not charged to the N tasks.
    warm_release = new_event()
    async with open_task_group() as warm_up:
        warm_up.start_soon(warm_release.wait)
        await until_parked(lib, warm_release, 1)
        warm_release.set()

    meter.start()
    async with open_task_group() as group:
        start_soon = group.start_soon
        for number in range(spec.tasks):
            start_soon(parked_task, number)
        await until_parked(lib, release, spec.tasks)
        meter.stop()
        # The tasks' own count proves that every one of them got to its wait.
        parked_when_measured = parked
        release.set()
    return Outcome(parked_when_measured, tally(results))
