"""generators: plain generators driven by ``send()``/``next()``, the seed article's coroutines.

- pingpong: the main code sends the round number into a generator, which yields it back
  unchanged; each ``send`` and each ``yield`` is a one-way switch. No scheduler is involved.
- producer_consumer: producers and consumers are generator tasks of a small round-robin scheduler
  (``bench.models._gensched``). A producer yields ``put`` requests on one bounded FIFO, which
  parks it while the FIFO is full (the backpressure); a consumer yields ``get`` requests, which
  park it while the FIFO is empty. A coordinator task joins the producers, puts the sentinels,
  joins the consumers and merges their tallies. A request that completes at once resumes the
  same task without a trip through the ready queue, as a non-blocking asyncio ``await`` would.
- fan_out: the main code spawns N scheduler tasks, runs the scheduler until it is idle and reads
  the results; ``sleep`` parks a task on the scheduler's timer heap, and the scheduler calls
  ``time.sleep`` only when no task is ready. ``echo`` uses non-blocking sockets: a task that
  would block yields a wait until its socket is readable or writable (a non-blocking connect
  waits until writable, then reads SO_ERROR), and the scheduler waits in ``selector.select``
  when no task is ready. The connection is the task's own (connect=each) or one opened for it
  before the region (connect=reuse).
- spawn: a task is a scheduler task (generator + task record + a place on the ready queue), run to
  completion by the scheduler, its result read back. A generator run to completion by ``next()``
  with nothing else scheduled would measure a function call, not a task.
- memory: N scheduler tasks each count themselves as parked and yield a wait on one shared event;
  a parked task is its generator frame, its task record and a slot in the event's waiter list.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Generator

from bench.measure.echoserver import echo_address
from bench.measure.meters import Meter, Outcome
from bench.models import _echo
from bench.models._gensched import (
    Event,
    Fifo,
    Scheduler,
    Task,
    TaskBody,
    connect,
    receive,
    send_all,
    sleep,
)
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

MODEL = ModelRecord(
    name="generators",
    summary="generators driven by send()/next(), and a round-robin scheduler of the suite's own",
    lightweight=True,
    order=60,
    colour="#e377c2",
    task_noun="generator",
    parallel="never",
    primitives={
        "pingpong": "generator.send() of the token and yield of it back",
        "producer_consumer": "generator tasks on a round-robin scheduler; bounded FIFO put/get",
        "fan_out": (
            "generator tasks on a round-robin scheduler; sleep on its timer heap; "
            "non-blocking sockets waited on by its selector for echo"
        ),
        "spawn": "generator task created, run and finished by a round-robin scheduler",
        "memory": "generator task parked on a scheduler event",
    },
)

Item = tuple[int, bytes] | None


def _ponger() -> Generator[int, int, None]:
    """The partner: yields back every token it is sent, unchanged."""
    token = yield -1
    while True:
        token = yield token


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    ponger = _ponger()
    next(ponger)  # started: parked at its first yield, ready to receive
    send = ponger.send
    rounds = spec.each_round()
    number = back = -1
    meter.start()
    for number in rounds:
        # send() cannot return without the generator having run, so a per-round check would
        # prove nothing more: the last token back is checked after the region. A store is all
        # this loop adds to the bare one (a comparison per round cost 2-10% of a switch).
        back = send(number)
    meter.stop()
    ponger.close()
    switches = spec.switches(number, back)
    return Outcome(switches, (switches,))


def _producer(fifo: Fifo[Item], numbers: range, gate: Event) -> TaskBody[None]:
    yield gate.wait()
    put = fifo.put
    payload = PAYLOAD
    for number in numbers:
        yield put((number, payload))


def _consumer(
    fifo: Fifo[Item], consume: Callable[[tuple[int, bytes]], int], gate: Event
) -> TaskBody[Checksum]:
    yield gate.wait()
    get = fifo.get()
    count = total = squares = 0
    while (item := (yield get)) is not None:
        value = consume(item)
        count += 1
        total += value
        squares += value * value
    return (count, total, squares)


def _coordinator(
    fifo: Fifo[Item], producers: list[Task[None]], consumers: list[Task[Checksum]], gate: Event
) -> TaskBody[Checksum]:
    yield gate.wait()
    for producer in producers:
        yield producer.join()
    for _ in consumers:
        yield fifo.put(None)
    tallies: list[Checksum] = []
    for consumer in consumers:
        tallies.append((yield consumer.join()))
    return merge_tallies(tallies)


def producer_consumer(spec: ProducerConsumer, meter: Meter, variant: VariantParameters) -> Outcome:
    scheduler = Scheduler()
    gate = Event(scheduler)
    fifo: Fifo[Item] = Fifo(spec.capacity)
    producers = [
        scheduler.spawn(_producer(fifo, spec.items_of(p), gate)) for p in range(spec.producers)
    ]
    consumers = [
        scheduler.spawn(_consumer(fifo, spec.consume, gate)) for _ in range(spec.consumers)
    ]
    coordinator = scheduler.spawn(_coordinator(fifo, producers, consumers, gate))
    scheduler.run()  # every task runs up to the gate and parks there
    meter.start()
    gate.set()
    scheduler.run()
    checksum = coordinator.result
    meter.stop()
    return Outcome(checksum[0], checksum)


def _fan_out_task(
    number: int, result: Callable[[int], int], sleeps: bool, delay: float
) -> TaskBody[int]:
    if sleeps:
        yield sleep(delay)
    return result(number)


def _warm_up(scheduler: Scheduler) -> None:
    """Run one task through a timer so the scheduler's paths are warm before the region."""
    scheduler.spawn(_fan_out_task(0, int, True, 0.0))
    scheduler.run()


def fan_out(spec: FanOut, meter: Meter, variant: VariantParameters) -> Outcome:
    if spec.echoes:
        return _fan_out_echo(spec, meter)
    scheduler = Scheduler()
    _warm_up(scheduler)
    spawn_task = scheduler.spawn
    result, sleeps, delay = spec.result, spec.sleeps, spec.delay
    numbers = range(spec.tasks)
    meter.start()
    tasks = [spawn_task(_fan_out_task(number, result, sleeps, delay)) for number in numbers]
    scheduler.run()
    results = [task.result for task in tasks]
    meter.stop()
    return Outcome(len(results), tally(results))


def _exchange(sock: socket.socket, spec: FanOut, number: int) -> TaskBody[int]:
    size = spec.reply_bytes
    yield from send_all(sock, spec.request(number))
    reply = yield from receive(sock, size)
    if len(reply) < size:
        raise _echo.short_reply(number, len(reply), size)
    return spec.echo_result(number, reply)


def _echo_each(spec: FanOut, address: tuple[str, int], number: int) -> TaskBody[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        _echo.configure(sock)
        yield from connect(sock, address)
        return (yield from _exchange(sock, spec, number))


def _fan_out_echo(spec: FanOut, meter: Meter) -> Outcome:
    address = echo_address()
    scheduler = Scheduler()
    sockets: list[socket.socket] = []
    tasks: list[Task[int]] = []
    try:
        if spec.connect == "reuse":
            sockets.extend(_echo.connect(address) for _ in range(spec.tasks))
            for sock in sockets:
                sock.setblocking(False)
        _warm_up(scheduler)
        spawn_task = scheduler.spawn
        numbers = range(spec.tasks)
        meter.start()
        if sockets:
            tasks = [spawn_task(_exchange(sockets[number], spec, number)) for number in numbers]
        else:
            tasks = [spawn_task(_echo_each(spec, address, number)) for number in numbers]
        scheduler.run()
        results = [task.result for task in tasks]
        meter.stop()
    finally:
        # After a failure, the tasks still parked close their connections (GeneratorExit).
        for task in tasks:
            task.body.close()
        scheduler.close()
        for sock in sockets:
            sock.close()
    return Outcome(len(results), tally(results))


def _trivial(number: int) -> TaskBody[int]:
    return number + 1
    yield  # never reached: makes this a generator function, a task that returns at once


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    scheduler = Scheduler()
    _warm_up(scheduler)
    spawn_task = scheduler.spawn
    numbers = range(spec.tasks)
    meter.start()
    tasks = [spawn_task(_trivial(number)) for number in numbers]
    scheduler.run()
    results = [task.result for task in tasks]
    meter.stop()
    return Outcome(len(results), tally(results))


def _parked(number: int, event: Event, parked: list[int]) -> TaskBody[int]:
    parked[0] += 1
    yield event.wait()
    return number


def memory(spec: Memory, meter: Meter, variant: VariantParameters) -> Outcome:
    scheduler = Scheduler()
    event = Event(scheduler)
    parked = [0]
    warm_up_event = Event(scheduler)
    warm_up = [scheduler.spawn(_parked(number, warm_up_event, [0])) for number in range(2)]
    scheduler.run()
    warm_up_event.set()
    scheduler.run()
    if not all(task.done for task in warm_up):
        raise RuntimeError("warm-up tasks did not finish")
    spawn_task = scheduler.spawn
    numbers = range(spec.tasks)
    meter.start()
    tasks = [spawn_task(_parked(number, event, parked)) for number in numbers]
    scheduler.run()  # returns once every task is parked on the event
    meter.stop()
    parked_when_measured = parked[0]
    event.set()
    scheduler.run()
    return Outcome(parked_when_measured, tally(task.result for task in tasks))
