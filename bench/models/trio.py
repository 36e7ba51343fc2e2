"""trio: tasks of trio nurseries on a fresh ``trio.run`` per call, with trio's own primitives.

- pingpong: the coordinating task and one partner task wake each other through ``trio.Event``s.
  trio's events are one-shot (no ``clear``), so each side waits on a fresh event per hand-off,
  created before the hand-off that it answers. An event carries no value: the token travels in a
  slot per side, checked on every turn (see ``PingPong``), so a wait that returned without the
  other side's ``set`` fails the cell. Events rather than a zero-capacity channel pair because
  a hand-off is then one ``set`` (it reschedules the waiter and does not yield) and one
  ``wait`` that parks, as asyncio's futures do; ``await send(...)`` on a channel is a schedule
  point even when a receiver is waiting, which adds a pass through the scheduler to every
  hand-off (per one-way switch, best of 5 runs of 20,000 rounds on a shared 2-core machine:
  an event pair 8.4 us, a zero-capacity channel pair with ``send_nowait`` first 10.3 us, with
  plain ``await send`` 14.7 us; asyncio's futures 4.4 us there).
- producer_consumer: producers and consumers are tasks of one nursery (the producers of a nested
  one, so that the coordinator knows when they have all returned), parked on a ``trio.Event``
  (the start gate). The FIFO (``_fifo``) is ``trio.open_memory_channel(capacity)`` with a
  ``trio.Semaphore(capacity)`` of slots: a put takes a slot, waiting while none is free (the
  backpressure), then ``send_nowait``s; a get receives, then gives its slot back. Once every
  producer has returned, the coordinator puts one ``None`` sentinel per consumer.

  Why the slots: the channel alone does not keep the suite's capacity. Its ``send`` hands an
  item straight to a waiting receiver without taking a buffer place, so while a consumer waits
  ``open_memory_channel(Q)`` lets Q + 1 items be put and not yet taken (the capacity contract
  counted a peak of 2 in flight at Q = 1 and 65 at Q = 64). A buffer of Q - 1 keeps the peak,
  but at Q = 1 it is a rendezvous whose ``receive`` takes a blocked sender's item before that
  put has returned (the contract counted half the blocking puts and gets a FIFO of one place
  has). The slots count an item from its put to the get that takes it, handed over or
  buffered, which is the suite's meaning; the channel's Q places are then never full.

  Why ``*_nowait`` first: every put and get tries it and awaits only when it must wait. trio
  makes every ``await`` of a channel or a semaphore a schedule point even when it need not
  wait, and runs each batch of ready tasks in either order (it reverses half of them), so with
  plain awaits producer and consumer alternate at random item by item instead of filling and
  draining the FIFO as the other models do (the contract counted 93 to 108 blocking puts of
  the 199 at Q = 1, and a peak of 1 or 2 in flight at Q = 64, different on every run).
- fan_out: one ``nursery.start_soon`` per task, the results gathered when the nursery exits
  (each task appends its result: a trio task returns nothing to its nursery); the sleep is
  ``trio.sleep``; ``echo`` uses trio's streams (``trio.open_tcp_stream``, which sets
  TCP_NODELAY, then ``send_all`` and ``receive_some``), over a connection the task opens and
  closes (connect=each) or one opened for it before the region (connect=reuse).
- spawn: trivial tasks started with ``nursery.start_soon``, gathered when the nursery exits.
- memory: N tasks of a nursery parked on one shared ``trio.Event``.

``trio.run`` creates the run loop before the function that calls ``meter.start()`` runs and
tears it down after that function returns, so neither is measured and no loop outlives a call.
Tasks started with ``start_soon`` take their first step in the scheduler's next batch, in either
order with the coordinator, so before a region the coordinator yields until the event its tasks
park on counts them all (``_until_parked``), where asyncio's one yield suffices. A failing
task cancels its nursery, which raises an exception group: the cell gets the first error
itself (``_run``), so that a resource limit is classified as one (asyncio's echo fan-out
unwraps its TaskGroup's errors the same way).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from bench.measure.cells import CellError
from bench.measure.echoserver import echo_address
from bench.measure.meters import Meter, Outcome
from bench.models._echo import short_reply
from bench.spec.models import ModelRecord, VariantParameters
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
    import trio

MODEL = ModelRecord(
    name="trio",
    summary="trio tasks in nurseries, trio.open_memory_channel as the FIFO",
    requires=("trio",),
    libraries=("trio",),
    lightweight=True,
    order=35,
    colour="#bcbd22",
    task_noun="trio task",
    parallel="never",
    primitives={
        "pingpong": (
            "a fresh trio.Event per hand-off, set by the sender; the token in a slot per side, "
            "checked on every turn"
        ),
        "producer_consumer": (
            "trio.open_memory_channel(Q) with a trio.Semaphore(Q) of slots, *_nowait first; "
            "Event start gate; nursery"
        ),
        "fan_out": "nursery.start_soon; trio.sleep; trio.open_tcp_stream for echo",
        "spawn": "nursery.start_soon",
        "memory": "nursery tasks waiting on one trio.Event",
    },
    default_matrix=("pingpong", "producer_consumer:capacity=1", "spawn:tasks=10000", "memory"),
)

T = TypeVar("T")
Item = tuple[int, bytes] | None
# A task of fan_out or spawn: its number and the list it appends its result to.
NumberedTask = Callable[[int, list[int]], Awaitable[None]]

# How often the coordinator yields for its tasks to park before a region: two always suffice
# (the batch that runs them, in either order, then one that resumes the coordinator alone).
_SETTLE_YIELDS = 4


def _run(main: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``main(*args)`` run to completion by a fresh ``trio.run``; an error of a task comes out
    as itself rather than in the nursery's exception group."""
    import trio

    try:
        return trio.run(main, *args)
    except BaseExceptionGroup as group:
        raise _first_error(group) from None


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def _until_parked(event: trio.Event, count: int) -> None:
    """Yield until ``count`` tasks wait on ``event``; a CellError if they do not get there."""
    import trio

    checkpoint = trio.lowlevel.checkpoint
    for _ in range(_SETTLE_YIELDS):
        if event.statistics().tasks_waiting >= count:
            return
        await checkpoint()
    waiting = event.statistics().tasks_waiting
    if waiting < count:
        raise CellError(f"trio: only {waiting} of {count} tasks were parked before the region")


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_pingpong, spec, meter)


class _Slots:
    """What the two sides of a pingpong share: the event each waits on next, and the token
    each side last wrote for the other."""

    __slots__ = ("back", "sent", "to_pinger", "to_ponger")

    def __init__(self, new_event: Callable[[], trio.Event]) -> None:
        self.to_ponger = new_event()
        self.to_pinger = new_event()
        self.sent = -1
        self.back = -1


async def _ponger(slots: _Slots, spec: PingPong) -> None:
    """The partner: hands every token back unchanged, through the coordinator's slot."""
    import trio

    new_event = trio.Event
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
    import trio

    new_event = trio.Event
    slots = _Slots(new_event)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_ponger, slots, spec)
        await _until_parked(slots.to_ponger, 1)
        number = -1
        meter.start()
        for number in spec.each_round():
            slots.to_pinger = reply = new_event()
            slots.sent = number
            slots.to_ponger.set()
            await reply.wait()
            if slots.back != number:
                break
        meter.stop()
        if slots.back != number:
            # The ponger may still wait for a token that will not come.
            nursery.cancel_scope.cancel()
            raise CellError(spec.coordinator_lost(slots.back, number))
    switches = spec.switches(number, slots.back)
    return Outcome(switches, (switches,))


def _fifo(
    capacity: int,
) -> tuple[Callable[[Item], Awaitable[None]], Callable[[], Awaitable[Item]]]:
    """``put`` and ``get`` of a FIFO holding at most ``capacity`` items put and not yet taken
    (module docstring): a memory channel, bounded by a semaphore of slots."""
    import trio

    slots = trio.Semaphore(capacity, max_value=capacity)
    sender, receiver = trio.open_memory_channel[Item](capacity)
    take_slot_nowait, take_slot, free_slot = slots.acquire_nowait, slots.acquire, slots.release
    send_nowait = sender.send_nowait
    receive_nowait, receive = receiver.receive_nowait, receiver.receive
    would_block = trio.WouldBlock

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


def producer_consumer(spec: ProducerConsumer, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_producer_consumer, spec, meter)


async def _producer_consumer(spec: ProducerConsumer, meter: Meter) -> Outcome:
    import trio

    put, get = _fifo(spec.capacity)
    gate = trio.Event()
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

    async with trio.open_nursery() as everyone:
        for _ in range(spec.consumers):
            everyone.start_soon(consume_until_sentinel)
        async with trio.open_nursery() as producing:
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
    import trio

    if spec.echoes:
        return _run(_fan_out_echo, spec, meter)
    result, sleeps, delay = spec.result, spec.sleeps, spec.delay
    sleep = trio.sleep

    async def task(number: int, results: list[int]) -> None:
        if sleeps:
            await sleep(delay)
        results.append(result(number))

    return _run(_task_per_number, task, spec.tasks, meter)


# connect=reuse opens this many connections at a time before the region: concurrently, but not
# all at once, which would overflow the server's accept queue (asyncio's model does the same).
_OPEN_BATCH = 256


async def _connect(host: str, port: int) -> trio.SocketStream:
    import trio

    try:
        return await trio.open_tcp_stream(host, port)
    except OSError as exc:
        # trio says "all attempts to connect to ... failed" and keeps each attempt's error
        # (with its errno) in the cause: the cell reports that error, as the other models do.
        cause = exc.__cause__
        if exc.errno is not None or not isinstance(cause, ExceptionGroup):
            raise
        attempt = _first_error(cause)
        if not isinstance(attempt, OSError) or attempt.errno is None:
            raise
        raise attempt from None


async def _receive_exactly(stream: trio.SocketStream, size: int, number: int) -> bytes:
    """Exactly ``size`` bytes from ``stream``; the end of the stream before that is an error."""
    reply = await stream.receive_some(size)
    if len(reply) == size:
        return reply
    parts = [reply]
    received = len(reply)
    while received < size:
        if not reply:
            raise short_reply(number, received, size)
        reply = await stream.receive_some(size - received)
        parts.append(reply)
        received += len(reply)
    return b"".join(parts)


async def _fan_out_echo(spec: FanOut, meter: Meter) -> Outcome:
    import trio

    host, port = echo_address()
    size = spec.reply_bytes
    request, echo_result = spec.request, spec.echo_result
    streams: list[trio.SocketStream] = []

    async def exchange(stream: trio.SocketStream, number: int, results: list[int]) -> None:
        await stream.send_all(request(number))
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
                async with trio.open_nursery() as opening:
                    for _ in range(first, min(first + _OPEN_BATCH, spec.tasks)):
                        opening.start_soon(open_one)
        return await _task_per_number(reuse if streams else each, spec.tasks, meter)
    finally:
        # Closed without a checkpoint, which a cancelled run would interrupt.
        for stream in streams:
            stream.socket.close()


async def _trivial(number: int, results: list[int]) -> None:
    results.append(number + 1)


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_task_per_number, _trivial, spec.tasks, meter)


async def _task_per_number(task: NumberedTask, count: int, meter: Meter) -> Outcome:
    """The measured launch of fan_out and spawn: a nursery task per task number, every result
    gathered when the nursery exits; the run loop is warm before the region. The count is of
    the results the tasks appended, not of the tasks started."""
    import trio

    async with trio.open_nursery() as warm_up:
        warm_up.start_soon(_trivial, 0, [])
    results: list[int] = []
    meter.start()
    async with trio.open_nursery() as nursery:
        start_soon = nursery.start_soon
        for number in range(count):
            start_soon(task, number, results)
    meter.stop()
    return Outcome(len(results), tally(results))


def memory(spec: Memory, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_memory, spec, meter)


async def _memory(spec: Memory, meter: Meter) -> Outcome:
    import trio

    release = trio.Event()
    parked = 0
    results: list[int] = []

    async def parked_task(number: int) -> None:
        nonlocal parked
        parked += 1
        await release.wait()
        results.append(number)

    # Warm-up: one task parks on an event of its own and finishes, so the first use of the
    # nursery, a task and Event.wait is not charged to the N tasks.
    warm_release = trio.Event()
    async with trio.open_nursery() as warm_up:
        warm_up.start_soon(warm_release.wait)
        await _until_parked(warm_release, 1)
        warm_release.set()

    meter.start()
    async with trio.open_nursery() as nursery:
        start_soon = nursery.start_soon
        for number in range(spec.tasks):
            start_soon(parked_task, number)
        await _until_parked(release, spec.tasks)
        meter.stop()
        # The tasks' own count proves that every one of them got to its wait.
        parked_when_measured = parked
        release.set()
    return Outcome(parked_when_measured, tally(results))
