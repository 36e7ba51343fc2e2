"""asyncio: coroutines run as Tasks on a fresh event loop of the default policy, one per call.

- pingpong: the coordinating coroutine and one task each await a future the other resolves;
  every hand-off sends the token as the future's result, and the task hands back the token it
  received, unchanged.
- producer_consumer: producers and consumers are tasks of one ``asyncio.TaskGroup``, parked on
  an ``asyncio.Event`` (the start gate). The bounded FIFO is ``asyncio.Queue(maxsize=capacity)``:
  ``await put`` suspends a producer while the queue is full, which is the backpressure. Once every
  producer has finished, the coordinator puts one ``None`` sentinel per consumer.
- fan_out: one task per unit of work in an ``asyncio.TaskGroup``, gathered when the group exits;
  the sleep is ``asyncio.sleep``; ``echo`` uses streams (``asyncio.open_connection``, then
  ``write`` and ``readexactly``), over a connection the task opens and closes (connect=each) or a
  reader-writer pair opened for it before the region (connect=reuse). Streams rather than a
  hand-written protocol because streams are how asyncio clients are written; their transports
  set TCP_NODELAY themselves.
- spawn: trivial coroutines run as tasks of an ``asyncio.TaskGroup``.
- memory: N tasks of a TaskGroup parked on one shared ``asyncio.Event``.

An ``asyncio.Runner``, as ``asyncio.run`` uses, creates the loop before the coroutine that calls
``meter.start()`` runs, and cancels leftovers, shuts the loop down and closes it after that
coroutine returns, so neither loop creation nor clean-up is measured and no loop outlives a call.
The variant ``asyncio[loop=uvloop]`` runs the same code on uvloop's loop (the Runner's loop
factory, ``_loop_factory``); the plain model uses the default policy's loop.

The variant ``asyncio[tasks=eager]`` (Python 3.12+) runs the same code with
``loop.set_task_factory(asyncio.eager_task_factory)`` on the call's loop, set before the loop
runs (``_task_factory``): a task created while the loop runs takes its first step inside
``create_task``, up to its first suspension, instead of from the loop's next iteration. So the
ponger, the producers and consumers and the memory tasks park inside ``create_task`` (the yield
that parks lazy tasks then finds them parked), and spawn's trivial tasks and fan_out's cpu tasks
finish inside it, never scheduled. The hand-offs themselves (futures, the queue, the event) are
the plain model's. The coroutine the Runner runs is created before the loop runs, so it starts
lazily either way.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

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
    from asyncio import AbstractEventLoop, Future

# What loop.set_task_factory takes: (loop, coroutine, **options) -> a Task.
TaskFactory = Callable[..., Any]

MODEL = ModelRecord(
    name="asyncio",
    summary="asyncio tasks on the default event loop, asyncio.Queue as the FIFO",
    lightweight=True,
    order=30,
    colour="#d62728",
    task_noun="asyncio task",
    parallel="never",
    # On a free-threaded build, what the GIL costs an event loop's switch and task start.
    gil_on=("pingpong", "spawn:tasks=10000"),
    primitives={
        "pingpong": (
            "a fresh loop.create_future() per hand-off, awaited by the receiver, the token as its "
            "result"
        ),
        "producer_consumer": "asyncio.Queue(maxsize); Event start gate; TaskGroup",
        "fan_out": "asyncio.TaskGroup.create_task; asyncio.sleep; streams for echo",
        "spawn": "asyncio.TaskGroup.create_task",
        "memory": "TaskGroup tasks awaiting one asyncio.Event",
    },
    variants=(
        Variant(
            parameters={"loop": "uvloop"},
            summary="the same tasks, queue and streams on uvloop's event loop (libuv)",
            requires=("uvloop",),
            libraries=("uvloop",),
            # where a loop's cost shows: hand-offs, a capacity-1 pipeline, sockets, task start-up
            default_matrix=(
                "pingpong",
                "producer_consumer:capacity=1",
                "fan_out:work=echo",
                "spawn:tasks=10000",
                "memory",
            ),
        ),
        Variant(
            parameters={"tasks": "eager"},
            summary=(
                "the same code with asyncio.eager_task_factory: a new task runs at once, up to "
                "its first suspension (Python 3.12+)"
            ),
            # Importable only where asyncio has eager_task_factory: elsewhere the variant is
            # reported unavailable with the reason that module gives.
            requires=("bench.models._asyncio_eager",),
            default_matrix=(
                "pingpong",
                "producer_consumer:capacity=1",
                "spawn:tasks=10000",
                "memory",
            ),
            primitives={
                "pingpong": (
                    "a fresh loop.create_future() per hand-off, awaited by the receiver, the token "
                    "as its result; the ponger started by asyncio.eager_task_factory"
                ),
                "producer_consumer": (
                    "asyncio.Queue(maxsize); Event start gate; TaskGroup; "
                    "asyncio.eager_task_factory"
                ),
                "fan_out": (
                    "asyncio.TaskGroup.create_task with asyncio.eager_task_factory; "
                    "asyncio.sleep; streams for echo"
                ),
                "spawn": "asyncio.TaskGroup.create_task with asyncio.eager_task_factory",
                "memory": (
                    "TaskGroup tasks awaiting one asyncio.Event, started by "
                    "asyncio.eager_task_factory"
                ),
            },
        ),
    ),
)


def _loop_factory(variant: VariantParameters) -> Callable[[], AbstractEventLoop] | None:
    """The event loop the variant asks for with ``loop=...``; None, asyncio.Runner's default
    (a new loop of the default policy), when it asks for none."""
    loop = variant.get("loop")
    if loop is None:
        return None
    if loop == "uvloop":
        # Imported by name: uvloop is optional, and the registry has already checked that it
        # imports (the variant requires it) before a cell gets here.
        factory: Callable[[], AbstractEventLoop] = importlib.import_module("uvloop").new_event_loop
        return factory
    raise DeclarationError(f"asyncio: no event loop named {loop!r}")


def _task_factory(variant: VariantParameters) -> TaskFactory | None:
    """The task factory the variant asks for with ``tasks=...``; None, the loop's own (lazy
    tasks), when it asks for none."""
    tasks = variant.get("tasks")
    if tasks is None:
        return None
    if tasks == "eager":
        # Raises ImportError, with the reason, before Python 3.12; the registry has already
        # reported the variant unavailable there (it requires this module).
        from bench.models._asyncio_eager import eager_task_factory

        return eager_task_factory
    raise DeclarationError(f"asyncio: no task factory named {tasks!r}; valid: eager")


def _run(main: Coroutine[Any, Any, Outcome], variant: VariantParameters) -> Outcome:
    """``main`` run to completion on a fresh loop of the variant's kind, with the variant's
    task factory, as ``asyncio.run`` runs it (``asyncio.run`` is a Runner with the default
    loop factory)."""
    import asyncio

    try:
        factory = _loop_factory(variant)
        task_factory = _task_factory(variant)
    except BaseException:
        main.close()  # never awaited: closed, so that it does not warn
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        if task_factory is not None:
            # Set before the loop runs, so every task of the call is created by it; the task
            # the Runner wraps main in is too, but starts lazily: the loop is not running yet.
            runner.get_loop().set_task_factory(task_factory)
        return runner.run(main)


async def _noop() -> None:
    return None


async def _warm_up_loop() -> None:
    """Run one task through a TaskGroup, so first-use costs fall outside the region."""
    import asyncio

    async with asyncio.TaskGroup() as group:
        group.create_task(_noop())


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_pingpong(spec, meter), variant)


class _Inboxes:
    """Where the two sides of a pingpong receive. A future resolves only once, so each side
    takes a fresh inbox for every hand-off, and the sender resolves the receiver's current one."""

    __slots__ = ("new", "to_pinger", "to_ponger")

    def __init__(self, new: Callable[[], Future[int]]) -> None:
        self.new = new
        self.to_ponger = new()
        self.to_pinger = new()


async def _ponger(inboxes: _Inboxes, rounds: int) -> None:
    """The partner: hands every token back unchanged, through the coordinator's inbox."""
    new_inbox = inboxes.new
    for _ in range(rounds):
        received = await inboxes.to_ponger
        # The next inbox exists before the reply, so the coordinator's next send finds it.
        inboxes.to_ponger = new_inbox()
        inboxes.to_pinger.set_result(received)


async def _pingpong(spec: PingPong, meter: Meter) -> Outcome:
    import asyncio

    # Futures are the lightest asyncio hand-off measured here (per one-way switch: futures
    # ~2.6 us, an Event pair ~3.3 us, a Queue pair ~3.7 us); each wakes the receiver through one
    # loop callback.
    inboxes = _Inboxes(asyncio.get_running_loop().create_future)
    new_inbox = inboxes.new
    ponger_task = asyncio.create_task(_ponger(inboxes, spec.rounds))
    # Yielding once runs the ponger until it awaits its first inbox.
    await asyncio.sleep(0)
    number = back = -1
    meter.start()
    for number in spec.each_round():
        inboxes.to_pinger = reply = new_inbox()
        inboxes.to_ponger.set_result(number)
        back = await reply
        if back != number:
            break
    meter.stop()
    if back != number:
        # The ponger may still wait for a token that will not come.
        ponger_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ponger_task
    else:
        await ponger_task
    switches = spec.switches(number, back)
    return Outcome(switches, (switches,))


def producer_consumer(spec: ProducerConsumer, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_producer_consumer(spec, meter), variant)


async def _producer_consumer(spec: ProducerConsumer, meter: Meter) -> Outcome:
    import asyncio

    fifo: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=spec.capacity)
    gate = asyncio.Event()
    consume = spec.consume

    async def produce(numbers: range) -> None:
        put = fifo.put
        await gate.wait()
        for number in numbers:
            await put((number, PAYLOAD))

    async def consume_until_sentinel() -> Checksum:
        get = fifo.get
        count = total = squares = 0
        await gate.wait()
        while (item := await get()) is not None:
            value = consume(item)
            count += 1
            total += value
            squares += value * value
        return (count, total, squares)

    async with asyncio.TaskGroup() as group:
        create_task = group.create_task
        producers = [create_task(produce(spec.items_of(p))) for p in range(spec.producers)]
        consumers = [create_task(consume_until_sentinel()) for _ in range(spec.consumers)]
        # Tasks take their first step in creation order, before this coroutine resumes: one
        # yield parks them all on the gate.
        await asyncio.sleep(0)
        meter.start()
        gate.set()
        for producer in producers:
            await producer
        # put() returned, so every item is in the FIFO before the sentinels follow them.
        for _ in consumers:
            await fifo.put(None)
        parts = [await consumer for consumer in consumers]
        meter.stop()
    checksum = merge_tallies(parts)
    return Outcome(checksum[0], checksum)


def fan_out(spec: FanOut, meter: Meter, variant: VariantParameters) -> Outcome:
    import asyncio

    if spec.echoes:
        return _run(_fan_out_echo(spec, meter), variant)
    result, sleeps, delay = spec.result, spec.sleeps, spec.delay
    sleep = asyncio.sleep

    async def task(number: int) -> int:
        if sleeps:
            await sleep(delay)
        return result(number)

    return _run(_task_per_number(task, spec.tasks, meter), variant)


# connect=reuse opens this many connections at a time before the region: concurrently, so that
# ten thousand of them take a fraction of a second, but not all at once, which would overflow
# the server's accept queue and leave connects waiting a second for the SYN to be resent.
_OPEN_BATCH = 256


async def _fan_out_echo(spec: FanOut, meter: Meter) -> Outcome:
    import asyncio

    host, port = echo_address()
    size = spec.reply_bytes
    request, echo_result = spec.request, spec.echo_result
    open_connection = asyncio.open_connection
    streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def exchange(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int
    ) -> int:
        writer.write(request(number))
        try:
            reply = await reader.readexactly(size)
        except asyncio.IncompleteReadError as exc:
            raise short_reply(number, len(exc.partial), size) from None
        return echo_result(number, reply)

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await open_connection(host, port)
        except OSError as exc:
            # asyncio says "Connect call failed (address)"; the other models say what failed.
            if exc.errno is None or exc.strerror == os.strerror(exc.errno):
                raise
            raise type(exc)(exc.errno, f"{os.strerror(exc.errno)}: {exc.strerror}") from None

    async def each(number: int) -> int:
        reader, writer = await connect()
        try:
            return await exchange(reader, writer, number)
        finally:
            writer.close()
            await writer.wait_closed()

    async def reuse(number: int) -> int:
        return await exchange(*streams[number], number)

    try:
        if spec.connect == "reuse":
            for first in range(0, spec.tasks, _OPEN_BATCH):
                batch = range(first, min(first + _OPEN_BATCH, spec.tasks))
                opened = await asyncio.gather(*(connect() for _ in batch), return_exceptions=True)
                failures = [item for item in opened if isinstance(item, BaseException)]
                streams.extend(item for item in opened if not isinstance(item, BaseException))
                if failures:
                    raise failures[0]
        return await _task_per_number(reuse if streams else each, spec.tasks, meter)
    except BaseExceptionGroup as group:
        # The TaskGroup wraps a task's error; the cell reports (and classifies) the error itself.
        raise _first_error(group) from None
    finally:
        for _, writer in streams:
            writer.close()
        for _, writer in streams:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def _trivial(number: int) -> int:
    return number + 1


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_task_per_number(_trivial, spec.tasks, meter), variant)


async def _task_per_number(
    task: Callable[[int], Coroutine[Any, Any, int]], count: int, meter: Meter
) -> Outcome:
    """The measured launch of fan_out and spawn: a TaskGroup task per task number, every
    result gathered when the group exits; the loop is warm before the region."""
    import asyncio

    await _warm_up_loop()
    meter.start()
    async with asyncio.TaskGroup() as group:
        create_task = group.create_task
        tasks = [create_task(task(number)) for number in range(count)]
    results = [finished.result() for finished in tasks]
    meter.stop()
    return Outcome(len(results), tally(results))


def memory(spec: Memory, meter: Meter, variant: VariantParameters) -> Outcome:
    return _run(_memory(spec, meter), variant)


async def _memory(spec: Memory, meter: Meter) -> Outcome:
    import asyncio

    release = asyncio.Event()
    parked = 0

    async def parked_task(number: int) -> int:
        nonlocal parked
        parked += 1
        await release.wait()
        return number

    # Warm-up: one task parks on an event of its own and finishes, so the first use of
    # TaskGroup, Task and Event.wait is not charged to the N tasks.
    warm_release = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        group.create_task(warm_release.wait())
        await asyncio.sleep(0)
        warm_release.set()

    meter.start()
    async with asyncio.TaskGroup() as group:
        create_task = group.create_task
        tasks = [create_task(parked_task(number)) for number in range(spec.tasks)]
        # Tasks take their first step in creation order, before this coroutine resumes: after
        # one yield every task awaits the release. The tasks' own count proves it.
        await asyncio.sleep(0)
        meter.stop()
        parked_when_measured = parked
        release.set()
    results = [finished.result() for finished in tasks]
    return Outcome(parked_when_measured, tally(results))
