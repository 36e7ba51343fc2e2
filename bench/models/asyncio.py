"""asyncio: coroutines run as Tasks on a fresh event loop of the default policy, one per call.

- pingpong: the coordinating coroutine and one task each await a future the other resolves;
  every hand-off sends the token as the future's result.
- producer_consumer: producers and consumers are tasks of one ``asyncio.TaskGroup``, parked on
  an ``asyncio.Event`` (the start gate). The bounded FIFO is ``asyncio.Queue(maxsize=capacity)``:
  ``await put`` suspends a producer while the queue is full, which is the backpressure. Once every
  producer has finished, the coordinator puts one ``None`` sentinel per consumer.
- fan_out: one task per unit of work in an ``asyncio.TaskGroup``, gathered when the group exits;
  the sleep is ``asyncio.sleep``.
- spawn: trivial coroutines run as tasks of an ``asyncio.TaskGroup``.
- memory: N tasks of a TaskGroup parked on one shared ``asyncio.Event``.

``asyncio.run`` creates the loop before the coroutine that calls ``meter.start()`` runs, and
cancels leftovers, shuts the loop down and closes it after that coroutine returns, so neither
loop creation nor clean-up is measured and no loop outlives a call.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from bench.meters import Meter, Outcome
from bench.workloads import (
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

REQUIRES: tuple[str, ...] = ()
LIGHTWEIGHT = True
PRIMITIVES = {
    "pingpong": "a fresh loop.create_future() per hand-off, awaited by the receiver",
    "producer_consumer": "asyncio.Queue(maxsize); Event start gate; TaskGroup",
    "fan_out": "asyncio.TaskGroup.create_task; asyncio.sleep",
    "spawn": "asyncio.TaskGroup.create_task",
    "memory": "TaskGroup tasks awaiting one asyncio.Event",
}


def _run(main: Coroutine[Any, Any, Outcome]) -> Outcome:
    import asyncio

    return asyncio.run(main)


async def _noop() -> None:
    return None


async def _warm_up_loop() -> None:
    """Run one task through a TaskGroup, so first-use costs fall outside the region."""
    import asyncio

    async with asyncio.TaskGroup() as group:
        group.create_task(_noop())


def pingpong(spec: PingPong, meter: Meter) -> Outcome:
    return _run(_pingpong(spec, meter))


async def _pingpong(spec: PingPong, meter: Meter) -> Outcome:
    import asyncio

    # Futures are the lightest asyncio hand-off measured here (per one-way switch: futures
    # ~2.6 us, an Event pair ~3.3 us, a Queue pair ~3.7 us); each wakes the receiver through one
    # loop callback.
    new_inbox = asyncio.get_running_loop().create_future
    rounds = spec.rounds
    to_ponger: asyncio.Future[int] = new_inbox()
    to_pinger: asyncio.Future[int] = new_inbox()

    async def ponger() -> None:
        nonlocal to_ponger
        for _ in range(rounds):
            received = await to_ponger
            # The next inbox exists before the reply, so the pinger's next send finds it.
            to_ponger = new_inbox()
            to_pinger.set_result(received + 1)

    ponger_task = asyncio.create_task(ponger())
    # Yielding once runs the ponger until it awaits its first inbox.
    await asyncio.sleep(0)
    token = 0
    meter.start()
    for _ in spec.each_round():
        to_pinger = new_inbox()
        to_ponger.set_result(token + 1)
        token = await to_pinger
    meter.stop()
    await ponger_task
    return Outcome(token, (token,))


def producer_consumer(spec: ProducerConsumer, meter: Meter) -> Outcome:
    return _run(_producer_consumer(spec, meter))


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


def fan_out(spec: FanOut, meter: Meter) -> Outcome:
    import asyncio

    result, sleeps, delay = spec.result, spec.sleeps, spec.delay
    sleep = asyncio.sleep

    async def task(number: int) -> int:
        if sleeps:
            await sleep(delay)
        return result(number)

    return _run(_task_per_number(task, spec.tasks, meter))


async def _trivial(number: int) -> int:
    return number + 1


def spawn(spec: Spawn, meter: Meter) -> Outcome:
    return _run(_task_per_number(_trivial, spec.tasks, meter))


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


def memory(spec: Memory, meter: Meter) -> Outcome:
    return _run(_memory(spec, meter))


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
