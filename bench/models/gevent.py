"""gevent: greenlets run by gevent's hub, with gevent's own primitives (never monkey-patching).

- pingpong: the coordinator greenlet and one spawned greenlet wake each other through a pair of
  ``gevent.event.Event``. An Event carries no value: the token travels in a slot per side
  (greenlets switch only when they block, so the slots need no lock), checked on every turn (see
  ``PingPong``), so a wait that returned without the other side's ``set`` fails the cell.
- producer_consumer: producers and consumers are spawned greenlets parked on an Event (the start
  gate). The bounded FIFO is ``gevent.queue.Queue(maxsize=capacity)``: its ``put`` blocks a
  producer while the queue is full, which is the backpressure. Once every producer has finished,
  the coordinator puts one ``None`` sentinel per consumer.
- fan_out: one ``gevent.spawn`` per task, results gathered with ``Greenlet.get()``; the sleep is
  ``gevent.sleep``; ``echo`` is ``gevent.socket`` (cooperative: a blocked call parks the greenlet
  and the hub's loop waits for the socket), over a connection the greenlet opens
  (connect=each) or one opened for it before the region (connect=reuse).
- spawn: ``gevent.spawn`` of a trivial function, gathered with ``Greenlet.get()``.
- memory: N spawned greenlets parked on one shared Event.

The hub (gevent's per-thread event loop) is created and warmed up before every measured region
and then kept, as a gevent program keeps it for its whole life; no greenlet outlives a call.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from bench.measure.cells import CellError
from bench.measure.echoserver import echo_address
from bench.measure.meters import Meter, Outcome
from bench.models._echo import connect, echo_each, exchange
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
    name="gevent",
    summary="gevent greenlets on gevent's hub, gevent.queue.Queue as the FIFO",
    requires=("gevent",),
    libraries=("gevent", "greenlet"),
    lightweight=True,
    order=40,
    colour="#9467bd",
    task_noun="gevent greenlet",
    parallel="never",
    primitives={
        "pingpong": (
            "two gevent.event.Event signals; the token in a slot per side, checked on every turn"
        ),
        "producer_consumer": "gevent.queue.Queue(maxsize); Event start gate",
        "fan_out": "gevent.spawn + Greenlet.get(); gevent.sleep; gevent.socket for echo",
        "spawn": "gevent.spawn + Greenlet.get()",
        "memory": "greenlets parked on one gevent.event.Event",
    },
)


def _noop() -> None:
    return None


def _warm_up_hub(gevent: ModuleType) -> None:
    """Start the hub and run one greenlet through spawn, start and join, outside any region."""
    gevent.spawn(_noop).get()


def _kill_on_error(gevent: ModuleType, greenlets: list[Any]) -> None:
    # Only reached when a greenlet failed: the others must not outlive the call.
    gevent.killall(greenlets)


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    import gevent
    from gevent.event import Event

    # Event pairs are the lightest idiomatic gevent hand-off measured here (per one-way switch:
    # Event ~2.0 us, Queue/SimpleQueue pairs ~2.3 us, Channel pairs ~2.6 us, a fresh
    # AsyncResult per hand-off ~2.8 us). Lighter still is hub.Waiter driven by loop callbacks,
    # but that is gevent's internal plumbing, not what gevent code is written with.
    rounds = spec.rounds
    sent = back = -1
    to_ponger, to_pinger = Event(), Event()
    # Kept, not raised, by the ponger: the hub would only print an error raised in a greenlet.
    ponger_errors: list[CellError] = []

    def ponger() -> None:
        nonlocal back
        wait, clear, reply = to_ponger.wait, to_ponger.clear, to_pinger.set
        for _ in range(rounds):
            wait()
            clear()
            received = sent
            if received == back:
                ponger_errors.append(CellError(spec.partner_lost(received, back)))
                reply()  # wake the coordinator to raise it
                return
            back = received
            reply()

    ponger_greenlet = gevent.spawn(ponger)
    # Yielding once starts the hub and runs the ponger until it parks on its event.
    gevent.sleep(0)
    wait, clear, send = to_pinger.wait, to_pinger.clear, to_ponger.set
    number = -1
    lost: int | None = None
    try:
        meter.start()
        for number in spec.each_round():
            sent = number
            send()
            wait()
            clear()
            if back != number:
                lost = back
                break
        meter.stop()
        if lost is None:
            ponger_greenlet.get()
        else:
            ponger_greenlet.kill()
    except BaseException:
        _kill_on_error(gevent, [ponger_greenlet])
        raise
    if ponger_errors:
        raise ponger_errors[0]
    if lost is not None:
        raise CellError(spec.coordinator_lost(lost, number))
    switches = spec.switches(number, back)
    return Outcome(switches, (switches,))


def producer_consumer(spec: ProducerConsumer, meter: Meter, variant: VariantParameters) -> Outcome:
    import gevent
    from gevent.event import Event
    from gevent.queue import Queue

    fifo = Queue(maxsize=spec.capacity)
    gate = Event()

    def produce(numbers: range) -> None:
        put = fifo.put
        gate.wait()
        for number in numbers:
            put((number, PAYLOAD))

    def consume_until_sentinel() -> Checksum:
        gate.wait()
        return spec.drain(fifo.get)

    spawn = gevent.spawn
    producers = [spawn(produce, spec.items_of(p)) for p in range(spec.producers)]
    consumers = [spawn(consume_until_sentinel) for _ in range(spec.consumers)]
    everyone = producers + consumers
    # Spawned greenlets start in spawn order when the hub runs: one yield parks them all.
    gevent.sleep(0)
    try:
        meter.start()
        gate.set()
        for producer in producers:
            producer.get()
        # put() returned, so every item is in the FIFO before the sentinels follow them.
        for _ in consumers:
            fifo.put(None)
        parts: list[Checksum] = [consumer.get() for consumer in consumers]
        meter.stop()
    except BaseException:
        _kill_on_error(gevent, everyone)
        raise
    checksum = merge_tallies(parts)
    return Outcome(checksum[0], checksum)


def fan_out(spec: FanOut, meter: Meter, variant: VariantParameters) -> Outcome:
    import gevent

    if spec.echoes:
        return _fan_out_echo(gevent, spec, meter)
    result, sleeps, delay = spec.result, spec.sleeps, spec.delay
    sleep = gevent.sleep

    def task(number: int) -> int:
        if sleeps:
            sleep(delay)
        return result(number)

    return _greenlet_per_task(gevent, task, spec.tasks, meter)


def _fan_out_echo(gevent: ModuleType, spec: FanOut, meter: Meter) -> Outcome:
    from gevent import socket as gsocket

    address = echo_address()
    new_socket = gsocket.socket
    sockets: list[Any] = []
    try:
        if spec.connect == "reuse":
            sockets.extend(connect(address, new_socket) for _ in range(spec.tasks))

            def task(number: int) -> int:
                return exchange(sockets[number], spec, number)

        else:

            def task(number: int) -> int:
                return echo_each(spec, address, number, new_socket)

        return _greenlet_per_task(gevent, task, spec.tasks, meter)
    finally:
        for sock in sockets:
            sock.close()


def _trivial(number: int) -> int:
    return number + 1


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    import gevent

    return _greenlet_per_task(gevent, _trivial, spec.tasks, meter)


def _greenlet_per_task(
    gevent: ModuleType, task: Callable[[int], int], count: int, meter: Meter
) -> Outcome:
    """The measured launch of fan_out and spawn: gevent.spawn per task number, then every
    result gathered with get(); the hub is started and warm before the region."""
    spawn = gevent.spawn
    _warm_up_hub(gevent)
    greenlets: list[Any] = []
    try:
        meter.start()
        greenlets = [spawn(task, number) for number in range(count)]
        results: list[int] = [greenlet.get() for greenlet in greenlets]
        meter.stop()
    except BaseException:
        _kill_on_error(gevent, greenlets)
        raise
    return Outcome(len(results), tally(results))


def memory(spec: Memory, meter: Meter, variant: VariantParameters) -> Outcome:
    import gevent
    from gevent.event import Event

    release = Event()
    parked = 0

    def parked_task(number: int) -> int:
        nonlocal parked
        parked += 1
        release.wait()
        return number

    # Warm-up: one greenlet parks on an event of its own and finishes, so the first use of the
    # hub, Greenlet and Event.wait is not charged to the N tasks.
    warm_release = Event()
    warm = gevent.spawn(warm_release.wait)
    gevent.sleep(0)
    warm_release.set()
    warm.get()

    spawn = gevent.spawn
    greenlets: list[Any] = []
    try:
        meter.start()
        greenlets = [spawn(parked_task, number) for number in range(spec.tasks)]
        # The hub starts greenlets in spawn order, before it resumes this one: after one yield
        # every task has run up to release.wait(). The tasks' own count proves it.
        gevent.sleep(0)
        meter.stop()
        parked_when_measured = parked
        release.set()
        results: list[int] = [greenlet.get() for greenlet in greenlets]
    except BaseException:
        _kill_on_error(gevent, greenlets)
        raise
    return Outcome(parked_when_measured, tally(results))
