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
order with the coordinator, so before a region the coordinator yields
(``trio.lowlevel.checkpoint``) until the event its tasks park on counts them all
(``until_parked``), where asyncio's one yield suffices. A failing task cancels its nursery,
which raises an exception group: the cell gets the first error itself (``_run``), so that a
resource limit is classified as one (asyncio's echo fan-out unwraps its TaskGroup's errors the
same way).

The workload bodies are the anyio model's: both run those of ``_structured``, this module with
trio's primitives (``_library``), its own FIFO (``_fifo``) and its own stream calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from bench.measure.meters import Meter, Outcome
from bench.models import _structured
from bench.models._echo import short_reply
from bench.models._structured import Fifo, Item, Library, first_error
from bench.spec.models import ModelRecord, VariantParameters
from bench.spec.workloads import FanOut, Memory, PingPong, ProducerConsumer, Spawn

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


def _library() -> Library[trio.SocketStream]:
    """trio's primitives, for the workloads of ``_structured``; built per call, so that the
    module imports trio only when it runs."""
    import trio

    return Library(
        name="trio",
        new_event=trio.Event,
        open_task_group=trio.open_nursery,
        checkpoint=trio.lowlevel.checkpoint,
        sleep=trio.sleep,
        connect=_connect,
        round_trip=_round_trip,
        close_streams=_close_streams,
    )


def _run(main: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``main(*args)`` run to completion by a fresh ``trio.run``; an error of a task comes out
    as itself rather than in the nursery's exception group."""
    import trio

    try:
        return trio.run(main, *args)
    except BaseExceptionGroup as group:
        raise first_error(group) from None


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_structured.pingpong, _library(), spec, meter)


def _fifo(capacity: int) -> Fifo:
    """``put`` and ``get`` of a FIFO holding at most ``capacity`` items put and not yet taken
    (module docstring): a memory channel, bounded by a semaphore of slots."""
    import trio

    slots = trio.Semaphore(capacity, max_value=capacity)
    sender, receiver = trio.open_memory_channel[Item](capacity)
    return _structured.bounded_fifo(slots, sender, receiver, trio.WouldBlock)


def producer_consumer(spec: ProducerConsumer, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_producer_consumer, _library(), spec, meter)


async def _producer_consumer(
    library: Library[trio.SocketStream], spec: ProducerConsumer, meter: Meter
) -> Outcome:
    put, get = _fifo(spec.capacity)
    return await _structured.pipeline(library, spec, meter, put, get)


def fan_out(spec: FanOut, meter: Meter, variant: VariantParameters) -> Outcome:
    library = _library()
    if spec.echoes:
        return _run(_structured.fan_out_echo, library, spec, meter)
    task = _structured.unit_of_work(library, spec)
    return _run(_structured.task_per_number, library, task, spec.tasks, meter)


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
        attempt = first_error(cause)
        if not isinstance(attempt, OSError) or attempt.errno is None:
            raise
        raise attempt from None


async def _round_trip(stream: trio.SocketStream, request: bytes, size: int, number: int) -> bytes:
    """Sends ``request``, then receives exactly ``size`` bytes; the end of the stream before
    that is an error."""
    await stream.send_all(request)
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


async def _close_streams(streams: list[trio.SocketStream]) -> None:
    # Closed without a checkpoint, which a cancelled run would interrupt.
    for stream in streams:
        stream.socket.close()


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_structured.task_per_number, _library(), _structured.trivial, spec.tasks, meter)


def memory(spec: Memory, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_structured.memory, _library(), spec, meter)
