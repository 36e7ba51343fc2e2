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
order, so before a region the coordinator yields (``anyio.sleep(0)``) until the event its
tasks park on counts them all (``until_parked``). A failing task cancels its task group, which
raises an exception group: the cell gets the first error itself (``_run``), as the asyncio and
trio models do, so that a resource limit is classified as one.

The workload bodies are the trio model's: both run those of ``_structured``, this module with
anyio's primitives (``_library``), its own FIFO (``_fifo``) and its own stream calls.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING

from bench.measure.meters import Meter, Outcome
from bench.models import _structured
from bench.models._echo import short_reply
from bench.models._structured import Fifo, Item, Library, first_error
from bench.spec.models import DeclarationError, ModelRecord, Variant, VariantParameters
from bench.spec.workloads import FanOut, Memory, PingPong, ProducerConsumer, Spawn

if TYPE_CHECKING:
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

BACKENDS = ("asyncio", "trio")


def backend_of(variant: VariantParameters) -> str:
    """The anyio backend the variant runs on: ``backend=...``, asyncio when it names none."""
    backend = variant.get("backend", "asyncio")
    if backend not in BACKENDS:
        raise DeclarationError(f"anyio: no backend named {backend!r}; valid: {', '.join(BACKENDS)}")
    return backend


def _library() -> Library[SocketStream]:
    """anyio's primitives, for the workloads of ``_structured``; built per call, so that the
    module imports anyio only when it runs."""
    import anyio

    return Library(
        name="anyio",
        new_event=anyio.Event,
        open_task_group=anyio.create_task_group,
        checkpoint=partial(anyio.sleep, 0),
        sleep=anyio.sleep,
        connect=_connect,
        round_trip=_round_trip,
        close_streams=_close_streams,
    )


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
        raise first_error(group) from None


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_structured.pingpong, variant, _library(), spec, meter)


@contextmanager
def _fifo(capacity: int) -> Iterator[Fifo]:
    """``put`` and ``get`` of a FIFO holding at most ``capacity`` items put and not yet taken
    (module docstring): a memory object stream, bounded by a semaphore of slots. The stream is
    closed on leaving (an unclosed one warns when collected)."""
    import anyio

    slots = anyio.Semaphore(capacity, max_value=capacity)
    sender, receiver = anyio.create_memory_object_stream[Item](capacity)
    fifo = _structured.bounded_fifo(slots, sender, receiver, anyio.WouldBlock)
    with sender, receiver:
        yield fifo


def producer_consumer(spec: ProducerConsumer, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_producer_consumer, variant, _library(), spec, meter)


async def _producer_consumer(
    library: Library[SocketStream], spec: ProducerConsumer, meter: Meter
) -> Outcome:
    with _fifo(spec.capacity) as (put, get):
        return await _structured.pipeline(library, spec, meter, put, get)


def fan_out(spec: FanOut, meter: Meter, variant: VariantParameters) -> Outcome:
    library = _library()
    if spec.echoes:
        return _run(_structured.fan_out_echo, variant, library, spec, meter)
    task = _structured.unit_of_work(library, spec)
    return _run(_structured.task_per_number, variant, library, task, spec.tasks, meter)


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


async def _round_trip(stream: SocketStream, request: bytes, size: int, number: int) -> bytes:
    """Sends ``request``, then receives exactly ``size`` bytes; the end of the stream before
    that is an error."""
    import anyio

    await stream.send(request)
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


async def _close_streams(streams: list[SocketStream]) -> None:
    import anyio

    # Shielded: closing yields to the loop, which a cancelled run would interrupt.
    with anyio.CancelScope(shield=True):
        for stream in streams:
            await stream.aclose()


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(
        _structured.task_per_number, variant, _library(), _structured.trivial, spec.tasks, meter
    )


def memory(spec: Memory, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_structured.memory, variant, _library(), spec, meter)
