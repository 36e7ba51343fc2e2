"""greenlet: raw ``greenlet.switch()`` with explicit hand-offs, the seed article's second version.

- pingpong: the main greenlet and one partner greenlet switch back and forth with
  ``switch()``; each ``switch`` is a one-way switch. No hub is involved. The switches carry no
  value: the token travels in a slot per side, checked on every turn (see ``PingPong``).
- producer_consumer: producers and consumers are greenlets under a small hub
  (``bench.models._greensched``): a loop greenlet with a ready queue and a timer heap. A producer
  puts into one bounded FIFO whose ``put`` parks the producer and switches to the hub while the
  FIFO is full (the backpressure); a consumer's ``get`` parks it while the FIFO is empty. A
  coordinator greenlet joins the producers, puts the sentinels, joins the consumers and merges
  their tallies. A put or get that need not wait does not switch at all.
- fan_out: the main greenlet spawns N task greenlets on the hub, runs the hub until it is idle and
  reads the results; ``sleep`` parks a greenlet on the hub's timer heap, and the hub calls
  ``time.sleep`` only when no greenlet is ready. ``echo`` uses non-blocking sockets: a greenlet
  that would block parks on the hub's selector until its socket is readable or writable
  (``wait_readable``/``wait_writable``; a non-blocking connect waits until writable, then reads
  SO_ERROR), and the hub waits in ``selector.select`` when no greenlet is ready. The connection
  is the greenlet's own (connect=each) or one opened for it before the region (connect=reuse).
- spawn: a task is a new greenlet (a greenlet subclass that keeps its result) put on the hub's
  ready queue, switched into by the hub and run to completion, its result read back.
- memory: N task greenlets each count themselves as parked and wait on one shared event; a parked
  greenlet keeps its saved slice of the C stack, its Python frame and a slot in the waiter list.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import greenlet

from bench.measure.cells import CellError
from bench.measure.echoserver import echo_address
from bench.measure.meters import Meter, Outcome
from bench.models import _echo
from bench.models._greensched import Event, Fifo, Hub, Task, connect, receive, send_all
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
    name="greenlet",
    summary="raw greenlet switches, and a small scheduler of the suite's own",
    requires=("greenlet",),
    libraries=("greenlet",),
    lightweight=True,
    order=50,
    colour="#8c564b",
    task_noun="greenlet",
    parallel="never",
    primitives={
        "pingpong": (
            "greenlet.switch() without a value between the main greenlet and one partner; "
            "the token in a slot per side"
        ),
        "producer_consumer": "greenlets on a small hub; bounded FIFO whose put/get park and switch",
        "fan_out": (
            "greenlets on a small hub; sleep on its timer heap; "
            "non-blocking sockets waited on by its selector for echo"
        ),
        "spawn": "greenlet created, switched into by a small hub and run to completion",
        "memory": "greenlet parked on a hub event",
    },
)

Item = tuple[int, bytes] | None


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    # No value in the switches: with one, greenlet packs a tuple per switch (1.2x the bare
    # switch here), and a switch to a dead greenlet returns its own arguments at once, so a
    # token echoed through it would prove nothing. The slots prove each turn.
    sent = back = -1
    main = greenlet.getcurrent()

    def ponger() -> None:
        nonlocal back
        to_main = main.switch
        while True:
            to_main()
            received = sent
            if received == back:
                raise CellError(spec.partner_lost(received, back))
            back = received

    partner = greenlet.greenlet(ponger)
    partner.switch()  # started: parked in its first switch
    switch = partner.switch
    rounds = spec.each_round()
    number = -1
    lost: int | None = None
    meter.start()
    for number in rounds:
        sent = number
        switch()
        if back != number:
            lost = back
            break
    meter.stop()
    if not partner.dead:
        partner.throw()  # GreenletExit ends it and returns here
    if lost is not None:
        raise CellError(spec.coordinator_lost(lost, number))
    switches = spec.switches(number, back)
    return Outcome(switches, (switches,))


def _producer(fifo: Fifo[Item], numbers: range, gate: Event) -> None:
    gate.wait()
    put = fifo.put
    payload = PAYLOAD
    for number in numbers:
        put((number, payload))


def _consumer(fifo: Fifo[Item], spec: ProducerConsumer, gate: Event) -> Checksum:
    gate.wait()
    return spec.drain(fifo.get)


def _coordinator(
    hub: Hub,
    fifo: Fifo[Item],
    producers: list[Task[None]],
    consumers: list[Task[Checksum]],
    gate: Event,
) -> Checksum:
    gate.wait()
    for producer in producers:
        hub.join(producer)
    for _ in consumers:
        fifo.put(None)
    return merge_tallies([hub.join(consumer) for consumer in consumers])


def producer_consumer(spec: ProducerConsumer, meter: Meter, variant: VariantParameters) -> Outcome:
    hub = Hub()
    try:
        gate = Event(hub)
        fifo: Fifo[Item] = Fifo(hub, spec.capacity)
        producers = [
            hub.spawn(_producer, fifo, spec.items_of(p), gate) for p in range(spec.producers)
        ]
        consumers = [hub.spawn(_consumer, fifo, spec, gate) for _ in range(spec.consumers)]
        coordinator = hub.spawn(_coordinator, hub, fifo, producers, consumers, gate)
        hub.run()  # every greenlet runs up to the gate and parks there
        meter.start()
        gate.set()
        hub.run()
        checksum = coordinator.result
        meter.stop()
    finally:
        hub.close()
    return Outcome(checksum[0], checksum)


def _fan_out_task(
    number: int, hub: Hub, result: Callable[[int], int], sleeps: bool, delay: float
) -> int:
    if sleeps:
        hub.sleep(delay)
    return result(number)


def _warm_up(hub: Hub) -> None:
    """Run one greenlet through a timer so the hub is started and warm before the region."""
    hub.spawn(_fan_out_task, 0, hub, int, True, 0.0)
    hub.run()


def fan_out(spec: FanOut, meter: Meter, variant: VariantParameters) -> Outcome:
    if spec.echoes:
        return _fan_out_echo(spec, meter)
    hub = Hub()
    try:
        extra = (hub, spec.result, spec.sleeps, spec.delay)
        return _greenlet_per_task(hub, _fan_out_task, extra, spec.tasks, meter)
    finally:
        hub.close()


def _exchange(number: int, hub: Hub, spec: FanOut, sock: socket.socket) -> int:
    size = spec.reply_bytes
    send_all(hub, sock, spec.request(number))
    reply = receive(hub, sock, size)
    if len(reply) < size:
        raise _echo.short_reply(number, len(reply), size)
    return spec.echo_result(number, reply)


def _echo_each(
    number: int, hub: Hub, spec: FanOut, address: tuple[str, int], opened: list[socket.socket]
) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Listed so that the coordinator can close it should the run fail while it is parked.
        opened.append(sock)
        sock.setblocking(False)
        _echo.configure(sock)
        connect(hub, sock, address)
        return _exchange(number, hub, spec, sock)


def _echo_reuse(number: int, hub: Hub, spec: FanOut, sockets: list[socket.socket]) -> int:
    return _exchange(number, hub, spec, sockets[number])


def _fan_out_echo(spec: FanOut, meter: Meter) -> Outcome:
    address = echo_address()
    hub = Hub()
    sockets: list[socket.socket] = []
    try:
        if spec.connect == "reuse":
            sockets.extend(_echo.connect(address) for _ in range(spec.tasks))
            for sock in sockets:
                sock.setblocking(False)
            return _greenlet_per_task(hub, _echo_reuse, (hub, spec, sockets), spec.tasks, meter)
        return _greenlet_per_task(hub, _echo_each, (hub, spec, address, sockets), spec.tasks, meter)
    finally:
        hub.close()
        for sock in sockets:
            sock.close()


def _trivial(number: int) -> int:
    return number + 1


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    hub = Hub()
    try:
        return _greenlet_per_task(hub, _trivial, (), spec.tasks, meter)
    finally:
        hub.close()


def _greenlet_per_task(
    hub: Hub, function: Callable[..., int], extra: tuple[Any, ...], count: int, meter: Meter
) -> Outcome:
    """The measured launch of fan_out and spawn: a task greenlet per task number running
    ``function(number, *extra)``, the hub run until all return, every result gathered."""
    _warm_up(hub)
    spawn_task = hub.spawn
    numbers = range(count)
    meter.start()
    tasks = [spawn_task(function, number, *extra) for number in numbers]
    hub.run()
    results = [task.result for task in tasks]
    meter.stop()
    return Outcome(len(results), tally(results))


def _parked(number: int, event: Event, parked: list[int]) -> int:
    parked[0] += 1
    event.wait()
    return number


def memory(spec: Memory, meter: Meter, variant: VariantParameters) -> Outcome:
    hub = Hub()
    try:
        event = Event(hub)
        parked = [0]
        warm_up_event = Event(hub)
        warm_up = [hub.spawn(_parked, number, warm_up_event, [0]) for number in range(2)]
        hub.run()
        warm_up_event.set()
        hub.run()
        if not all(task.done for task in warm_up):
            raise RuntimeError("warm-up greenlets did not finish")
        spawn_task = hub.spawn
        numbers = range(spec.tasks)
        meter.start()
        tasks = [spawn_task(_parked, number, event, parked) for number in numbers]
        hub.run()  # returns once every greenlet is parked on the event
        meter.stop()
        parked_when_measured = parked[0]
        event.set()
        hub.run()
        results = [task.result for task in tasks]
    finally:
        hub.close()
    return Outcome(parked_when_measured, tally(results))
