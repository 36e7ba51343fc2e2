"""anyio: tasks of anyio task groups, on anyio's asyncio backend or, as ``anyio[backend=trio]``,
on its trio backend. The model uses anyio's API only, never the backend's, so that its cells
show what the portability layer costs over the native library (the ``asyncio`` and ``trio``
models).

- pingpong: the coordinating task and one partner task wake each other through
  ``anyio.Event``s, as the trio and gevent models do with their events. anyio's events are
  one-shot (no ``clear``), so each side waits on a fresh event per hand-off, created before the
  hand-off that it answers. An event carries no value: the token travels in a slot per side,
  checked on every turn (see ``PingPong``), so a wait that returned without the other side's
  ``set`` fails the cell. Events rather than a pair of memory object streams of buffer size 0,
  whose ``send`` and ``receive`` yield to the scheduler on every call and record a receiver and
  an event per wait (per one-way switch, on a busy machine, asyncio backend: an event pair
  ~13 us, a stream pair ~43 us). A pair of ``anyio.Semaphore(0)`` used as binary semaphores was
  lighter on asyncio (~5 us: anyio's asyncio semaphore parks on a bare future) and no lighter on
  trio; events are kept as anyio's signalling primitive and the trio model's, so that
  ``anyio[backend=trio]`` and ``trio`` hand off through the same trio primitive.
- producer_consumer: producers and consumers are tasks of task groups (the producers of a
  nested one, so that the coordinator knows when they have all returned), parked on an
  ``anyio.Event`` (the start gate). The FIFO is ``anyio.create_memory_object_stream(capacity)``
  with an ``anyio.Semaphore(capacity)`` of slots: a put takes a slot, waiting while none is free
  (the backpressure), then ``send_nowait``s; a get receives, then gives the slot back. The
  stream alone does not keep the suite's capacity: ``send`` hands an item straight to a
  receiver parked in ``receive``, where it takes no buffer place, so with consumers waiting
  more than Q items are put and not yet taken (with the stream alone the capacity trace
  counted a peak of 3 at Q = 1 with 3 consumers on asyncio, and of 2 at Q = 1 with one
  consumer on trio, which runs a batch of ready tasks in either order). The slots count an item
  from its put to the get that takes it, handed over or buffered, which is the suite's meaning;
  the stream's Q places are then never full. Every put and get tries the ``*_nowait`` form first
  and awaits only when it must wait: anyio's ``send``, ``receive`` and ``acquire`` yield to the
  scheduler on every call even when they need not wait, and the consumer then took each item
  as soon as it was put (at Q = 64: a blocking put per item and a peak of 1 in flight), where
  the other models' FIFOs fill and drain. Once every producer has returned, the coordinator
  puts one ``None`` sentinel per consumer, through a slot like an item.
- fan_out: one task per unit of work, ``start_soon`` in a task group, the results gathered
  when the group exits (each task appends its result: ``start_soon`` hands back no result
  before anyio 4.14); the sleep is ``anyio.sleep``; ``echo`` uses ``anyio.connect_tcp`` socket
  streams (both backends set TCP_NODELAY), ``send`` then ``receive`` until the whole reply,
  over a connection the task opens and closes (connect=each) or one opened for it before the
  region (connect=reuse).
- spawn: trivial tasks started with ``start_soon`` in a task group, gathered when it exits.
- memory: N tasks of a task group parked on one shared ``anyio.Event``.

``anyio.run`` creates the event loop (asyncio) or the run loop (trio) before the function that
calls ``meter.start()`` runs and tears it down after that function returns, so neither is
measured and no loop outlives a call. Tasks started with ``start_soon`` take their first step
after the coordinator yields: on asyncio in creation order, on trio in a batch run in either
order, so before a region the coordinator yields until the event its tasks park on counts them
all (``_until_parked``). A failing task cancels its task group, which raises an exception
group: the cell gets the first error itself (``_run``), as the asyncio and trio models do, so
that a resource limit is classified as one.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bench.measure.cells import CellError
from bench.measure.echoserver import echo_address
from bench.measure.meters import Meter, Outcome
from bench.models._echo import short_reply
from bench.spec.models import DeclarationError, ModelRecord, Variant, VariantParameters
from bench.spec.workloads import (
    PAYLOAD,
    Checksum,
    FanOut,
    Memory,
    PingPong,
    ProducerConsumer,
    Spawn,
    merge_tallies,
    tally,
)

if TYPE_CHECKING:
    import anyio
    from anyio.abc import SocketStream

MODEL = ModelRecord(
    name="anyio",
    summary="anyio task groups and memory object streams on anyio's asyncio backend",
    requires=("anyio",),
    libraries=("anyio",),
    lightweight=True,
    order=37,
    colour="#393b79",
    task_noun="anyio task",
    parallel="never",
    primitives={
        "pingpong": (
            "a fresh anyio.Event per hand-off, set by the sender; the token in a slot per side, "
            "checked on every turn"
        ),
        "producer_consumer": (
            "anyio.create_memory_object_stream(Q) with an anyio.Semaphore(Q) of slots, "
            "*_nowait first; Event start gate; task groups"
        ),
        "fan_out": "task group start_soon; anyio.sleep; anyio.connect_tcp for echo",
        "spawn": "task group start_soon",
        "memory": "task group tasks waiting on one anyio.Event",
    },
    default_matrix=("pingpong", "producer_consumer:capacity=1", "spawn:tasks=10000", "memory"),
    variants=(
        Variant(
            parameters={"backend": "trio"},
            summary="the same anyio tasks, streams and sockets on anyio's trio backend",
            requires=("trio",),
            libraries=("trio",),
        ),
    ),
)

Item = tuple[int, bytes] | None
# A FIFO's put and get.
Fifo = tuple[Callable[[Item], Awaitable[None]], Callable[[], Awaitable[Item]]]
# A task of fan_out or spawn: its number and the list it appends its result to.
NumberedTask = Callable[[int, list[int]], Coroutine[Any, Any, None]]

BACKENDS = ("asyncio", "trio")
# How often the coordinator yields for its tasks to park before a region: two always suffice
# (on trio: the batch that runs them, in either order, then one that resumes the coordinator).
_SETTLE_YIELDS = 4


def backend_of(variant: VariantParameters) -> str:
    """The anyio backend the variant runs on: ``backend=...``, asyncio when it names none."""
    backend = variant.get("backend", "asyncio")
    if backend not in BACKENDS:
        raise DeclarationError(f"anyio: no backend named {backend!r}; valid: {', '.join(BACKENDS)}")
    return backend


def _run(
    main: Callable[..., Awaitable[Outcome]], variant: VariantParameters, *args: object
) -> Outcome:
    """``main(*args)`` run to completion by a fresh ``anyio.run`` on the variant's backend; an
    error of a task comes out as itself rather than in its task group's exception group."""
    import anyio

    backend = backend_of(variant)
    try:
        return anyio.run(main, *args, backend=backend)
    except BaseExceptionGroup as group:
        raise _first_error(group) from None


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def _until_parked(event: anyio.Event, count: int) -> None:
    """Yield until ``count`` tasks wait on ``event``; a CellError if they do not get there."""
    import anyio

    sleep = anyio.sleep
    for _ in range(_SETTLE_YIELDS):
        if event.statistics().tasks_waiting >= count:
            return
        await sleep(0)
    waiting = event.statistics().tasks_waiting
    if waiting < count:
        raise CellError(f"anyio: only {waiting} of {count} tasks were parked before the region")


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_pingpong, variant, spec, meter)


class _Slots:
    """What the two sides of a pingpong share: the event each waits on next, and the token
    each side last wrote for the other."""

    __slots__ = ("back", "sent", "to_pinger", "to_ponger")

    def __init__(self, new_event: Callable[[], anyio.Event]) -> None:
        self.to_ponger = new_event()
        self.to_pinger = new_event()
        self.sent = -1
        self.back = -1


async def _ponger(slots: _Slots, spec: PingPong) -> None:
    """The partner: hands every token back unchanged, through the coordinator's slot."""
    import anyio

    new_event = anyio.Event
    for _ in range(spec.rounds):
        await slots.to_ponger.wait()
        # The next event exists before the reply, so the coordinator's next set finds it.
        slots.to_ponger = new_event()
        received = slots.sent
        if received == slots.back:
            raise CellError(spec.partner_lost(received, slots.back))
        slots.back = received
        slots.to_pinger.set()


async def _pingpong(spec: PingPong, meter: Meter) -> Outcome:
    import anyio

    new_event = anyio.Event
    slots = _Slots(new_event)
    number = -1
    lost: int | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(_ponger, slots, spec)
        await _until_parked(slots.to_ponger, 1)
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


@contextmanager
def _fifo(capacity: int) -> Iterator[Fifo]:
    """``put`` and ``get`` of a FIFO holding at most ``capacity`` items put and not yet taken
    (module docstring): a memory object stream, bounded by a semaphore of slots. The stream is
    closed on leaving (an unclosed one warns when collected)."""
    import anyio

    slots = anyio.Semaphore(capacity, max_value=capacity)
    sender, receiver = anyio.create_memory_object_stream[Item](capacity)
    take_slot_nowait, take_slot, free_slot = slots.acquire_nowait, slots.acquire, slots.release
    send_nowait = sender.send_nowait
    receive_nowait, receive = receiver.receive_nowait, receiver.receive
    would_block = anyio.WouldBlock

    async def put(item: Item) -> None:
        try:
            take_slot_nowait()
        except would_block:
            await take_slot()
        # Never full: the slots let at most Q items into the stream's Q places.
        send_nowait(item)

    async def get() -> Item:
        try:
            item = receive_nowait()
        except would_block:
            item = await receive()
        free_slot()
        return item

    with sender, receiver:
        yield put, get


def producer_consumer(spec: ProducerConsumer, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_producer_consumer, variant, spec, meter)


async def _producer_consumer(spec: ProducerConsumer, meter: Meter) -> Outcome:
    with _fifo(spec.capacity) as (put, get):
        return await _pipeline(spec, meter, put, get)


async def _pipeline(
    spec: ProducerConsumer,
    meter: Meter,
    put: Callable[[Item], Awaitable[None]],
    get: Callable[[], Awaitable[Item]],
) -> Outcome:
    import anyio

    gate = anyio.Event()
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

    async with anyio.create_task_group() as everyone:
        for _ in range(spec.consumers):
            everyone.start_soon(consume_until_sentinel)
        async with anyio.create_task_group() as producing:
            for producer in range(spec.producers):
                producing.start_soon(produce, spec.items_of(producer))
            await _until_parked(gate, spec.producers + spec.consumers)
            meter.start()
            gate.set()
        # Every producer has returned, so every item is in the FIFO before the sentinels.
        for _ in range(spec.consumers):
            await put(None)
    meter.stop()
    checksum = merge_tallies(parts)
    return Outcome(checksum[0], checksum)


def fan_out(spec: FanOut, meter: Meter, variant: VariantParameters) -> Outcome:
    import anyio

    if spec.echoes:
        return _run(_fan_out_echo, variant, spec, meter)
    result, sleeps, delay = spec.result, spec.sleeps, spec.delay
    sleep = anyio.sleep

    async def task(number: int, results: list[int]) -> None:
        if sleeps:
            await sleep(delay)
        results.append(result(number))

    return _run(_task_per_number, variant, task, spec.tasks, meter)


# connect=reuse opens this many connections at a time before the region: concurrently, but not
# all at once, which would overflow the server's accept queue (asyncio's model does the same).
_OPEN_BATCH = 256


async def _connect(host: str, port: int) -> SocketStream:
    import anyio

    try:
        return await anyio.connect_tcp(host, port)
    except OSError as exc:
        # anyio says "All connection attempts failed" and chains the attempt's error, which
        # the cell reports, with its errno, as the other models do.
        raise _attempt_error(exc) from None


def _attempt_error(exc: OSError) -> OSError:
    cause = exc.__cause__
    if exc.errno is not None or not isinstance(cause, OSError) or cause.errno is None:
        return exc
    if cause.strerror == os.strerror(cause.errno):
        return cause
    # asyncio says "Connect call failed (address)": the error comes first, as in the others.
    return type(cause)(cause.errno, f"{os.strerror(cause.errno)}: {cause.strerror}")


async def _receive_exactly(stream: SocketStream, size: int, number: int) -> bytes:
    """Exactly ``size`` bytes from ``stream``; the end of the stream before that is an error."""
    import anyio

    parts: list[bytes] = []
    received = 0
    while received < size:
        try:
            part = await stream.receive(size - received)
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            raise short_reply(number, received, size) from None
        parts.append(part)
        received += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def _fan_out_echo(spec: FanOut, meter: Meter) -> Outcome:
    import anyio

    host, port = echo_address()
    size = spec.reply_bytes
    request, echo_result = spec.request, spec.echo_result
    streams: list[SocketStream] = []

    async def exchange(stream: SocketStream, number: int, results: list[int]) -> None:
        await stream.send(request(number))
        reply = await _receive_exactly(stream, size, number)
        results.append(echo_result(number, reply))

    async def each(number: int, results: list[int]) -> None:
        async with await _connect(host, port) as stream:
            await exchange(stream, number, results)

    async def reuse(number: int, results: list[int]) -> None:
        await exchange(streams[number], number, results)

    async def open_one() -> None:
        streams.append(await _connect(host, port))

    try:
        if spec.connect == "reuse":
            for first in range(0, spec.tasks, _OPEN_BATCH):
                async with anyio.create_task_group() as opening:
                    for _ in range(first, min(first + _OPEN_BATCH, spec.tasks)):
                        opening.start_soon(open_one)
        return await _task_per_number(reuse if streams else each, spec.tasks, meter)
    finally:
        # Shielded: closing yields to the loop, which a cancelled run would interrupt.
        with anyio.CancelScope(shield=True):
            for stream in streams:
                await stream.aclose()


async def _trivial(number: int, results: list[int]) -> None:
    results.append(number + 1)


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_task_per_number, variant, _trivial, spec.tasks, meter)


async def _task_per_number(task: NumberedTask, count: int, meter: Meter) -> Outcome:
    """The measured launch of fan_out and spawn: a task group task per task number, every
    result gathered when the group exits; the backend is warm before the region. The count is
    of the results the tasks appended, not of the tasks started."""
    import anyio

    async with anyio.create_task_group() as warm_up:
        warm_up.start_soon(_trivial, 0, [])
    results: list[int] = []
    meter.start()
    async with anyio.create_task_group() as group:
        start_soon = group.start_soon
        for number in range(count):
            start_soon(task, number, results)
    meter.stop()
    return Outcome(len(results), tally(results))


def memory(spec: Memory, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_memory, variant, spec, meter)


async def _memory(spec: Memory, meter: Meter) -> Outcome:
    import anyio

    release = anyio.Event()
    parked = 0
    results: list[int] = []

    async def parked_task(number: int) -> None:
        nonlocal parked
        parked += 1
        await release.wait()
        results.append(number)

    # Warm-up: one task parks on an event of its own and finishes, so the first use of a task
    # group, a task and Event.wait is not charged to the N tasks.
    warm_release = anyio.Event()
    async with anyio.create_task_group() as warm_up:
        warm_up.start_soon(warm_release.wait)
        await _until_parked(warm_release, 1)
        warm_release.set()

    meter.start()
    async with anyio.create_task_group() as group:
        start_soon = group.start_soon
        for number in range(spec.tasks):
            start_soon(parked_task, number)
        await _until_parked(release, spec.tasks)
        meter.stop()
        # The tasks' own count: every one of them has reached its wait.
        parked_when_measured = parked
        release.set()
    return Outcome(parked_when_measured, tally(results))
