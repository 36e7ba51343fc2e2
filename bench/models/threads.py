"""threads: one OS thread per task, synchronised with ``threading`` primitives.

- pingpong: the coordinator and one partner thread; a pair of plain locks used as binary
  semaphores hands the turn back and forth. A lock carries no value: the token travels in a slot
  per side, checked on every turn (see ``PingPong``), so a wait that returned without the other
  side's release fails the cell.
- producer_consumer: every producer and every consumer is a thread; the bounded FIFO is
  ``queue.Queue(maxsize=capacity)``, whose blocking ``put`` on a full queue is the backpressure.
  They park on a ``threading.Event`` start gate; the coordinator puts the sentinels once every
  producer has reported done, and each consumer hands its tally back through a
  ``queue.SimpleQueue``.
- fan_out: one thread per task, started inside the measured region; task i stores its result at
  index i and the coordinator gathers them by joining the threads; ``sleep`` uses ``time.sleep``;
  ``echo`` is a blocking socket's ``sendall`` and ``recv`` in the task's thread, over a connection
  the thread opens (connect=each) or one opened for it before the region (connect=reuse).
- spawn: create, start and join one thread per task.
- memory: N threads parked on one ``threading.Event``.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable

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
    name="threads",
    summary="one OS thread per task, queue.Queue as the FIFO",
    lightweight=False,
    order=20,
    colour="#2ca02c",
    task_noun="thread",
    parallel="without-gil",
    primitives={
        "pingpong": (
            "threading.Lock pair used as binary semaphores; the token in a slot per side, "
            "checked on every turn"
        ),
        "producer_consumer": "queue.Queue(maxsize=capacity); threading.Event start gate",
        "fan_out": (
            "threading.Thread per task, results by index, gathered by join; time.sleep; "
            "blocking sockets for echo"
        ),
        "spawn": "threading.Thread create + start + join",
        "memory": "threads blocked on one threading.Event",
    },
)

# How long a failed pingpong waits for its partner thread to end before raising.
_STRANDED_PARTNER_SECONDS = 1.0


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    # Two locks start acquired and act as binary semaphores: release() wakes the one waiter,
    # acquire() blocks until woken. That is the bare OS hand-off (one wake and one wait per
    # switch); a Condition or a Queue would add its own lock and waiter list on top of it.
    to_partner = threading.Lock()
    to_coordinator = threading.Lock()
    to_partner.acquire()
    to_coordinator.acquire()
    rounds = spec.rounds
    sent = back = -1
    # The partner's check fails in its own thread; the coordinator raises it.
    partner_errors: list[CellError] = []

    def partner() -> None:
        nonlocal back
        wait_turn, pass_turn = to_partner.acquire, to_coordinator.release
        pass_turn()  # ready: the coordinator starts the clock only once this thread has run
        for _ in range(rounds):
            wait_turn()
            received = sent
            if received == back:
                partner_errors.append(CellError(spec.partner_lost(received, back)))
                # Wake the coordinator to raise it; its lock is already free if it is not waiting.
                with contextlib.suppress(RuntimeError):
                    pass_turn()
                return
            back = received
            pass_turn()

    # A daemon: should a broken hand-off leave it waiting, it must not keep the process alive.
    thread = threading.Thread(target=partner, name="pingpong-partner", daemon=True)
    thread.start()
    pass_turn, wait_turn = to_partner.release, to_coordinator.acquire
    wait_turn()
    number = -1
    lost: int | None = None
    meter.start()
    for number in spec.each_round():
        sent = number
        pass_turn()
        wait_turn()
        if back != number:
            lost = back
            break
    meter.stop()
    # After a lost turn the partner has stopped at its own check or waits for a turn that will
    # not come: the join is bounded, the error raised either way.
    thread.join(None if lost is None else _STRANDED_PARTNER_SECONDS)
    if partner_errors:
        raise partner_errors[0]
    if lost is not None:
        raise CellError(spec.coordinator_lost(lost, number))
    switches = spec.switches(number, back)
    return Outcome(switches, (switches,))


def producer_consumer(spec: ProducerConsumer, meter: Meter, variant: VariantParameters) -> Outcome:
    fifo: queue.Queue[tuple[int, bytes] | None] = queue.Queue(maxsize=spec.capacity)
    gate = threading.Event()
    parked = threading.Semaphore(0)
    producers_done = threading.Semaphore(0)
    tallies: queue.SimpleQueue[Checksum] = queue.SimpleQueue()

    def produce(numbers: range) -> None:
        put, payload = fifo.put, PAYLOAD
        parked.release()
        gate.wait()
        for number in numbers:
            put((number, payload))
        producers_done.release()

    def consume() -> None:
        parked.release()
        gate.wait()
        tallies.put(spec.drain(fifo.get))

    workers = [
        threading.Thread(target=produce, args=(spec.items_of(p),), name=f"producer-{p}")
        for p in range(spec.producers)
    ]
    workers += [
        threading.Thread(target=consume, name=f"consumer-{c}") for c in range(spec.consumers)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        parked.acquire()
    meter.start()
    gate.set()
    for _ in range(spec.producers):
        producers_done.acquire()
    for _ in range(spec.consumers):
        fifo.put(None)
    parts = [tallies.get() for _ in range(spec.consumers)]
    meter.stop()
    for worker in workers:
        worker.join()
    checksum = merge_tallies(parts)
    return Outcome(checksum[0], checksum)


def fan_out(spec: FanOut, meter: Meter, variant: VariantParameters) -> Outcome:
    if spec.echoes:
        return _fan_out_echo(spec, meter)
    result, sleeps, delay = spec.result, spec.sleeps, spec.delay
    results: list[int | None] = [None] * spec.tasks

    def task(number: int) -> None:
        if sleeps:
            time.sleep(delay)
        results[number] = result(number)

    return _thread_per_task(task, results, meter)


def _fan_out_echo(spec: FanOut, meter: Meter) -> Outcome:
    address = echo_address()
    results: list[int | None] = [None] * spec.tasks
    # A thread's exception would only reach threading.excepthook; keep it to raise it here.
    errors: list[BaseException] = []
    sockets: list[socket.socket] = []
    try:
        if spec.connect == "reuse":
            sockets.extend(connect(address) for _ in range(spec.tasks))

        def task(number: int) -> None:
            try:
                if sockets:
                    results[number] = exchange(sockets[number], spec, number)
                else:
                    results[number] = echo_each(spec, address, number)
            except BaseException as exc:  # noqa: BLE001 - re-raised by the coordinator
                errors.append(exc)

        outcome = _thread_per_task(task, results, meter)
    finally:
        for sock in sockets:
            sock.close()
    if errors:
        raise errors[0]
    return outcome


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    results: list[int | None] = [None] * spec.tasks

    def task(number: int) -> None:
        results[number] = number + 1

    return _thread_per_task(task, results, meter)


def _thread_per_task(
    target: Callable[[int], None], results: list[int | None], meter: Meter
) -> Outcome:
    """The measured launch of fan_out and spawn: one thread per task number, created, started
    and joined; ``target`` stores its task's result by index, so a task that never ran leaves
    a gap the count shows."""
    meter.start()
    threads = [threading.Thread(target=target, args=(number,)) for number in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    meter.stop()
    gathered = [value for value in results if value is not None]
    return Outcome(len(gathered), tally(gathered))


def memory(spec: Memory, meter: Meter, variant: VariantParameters) -> Outcome:
    release = threading.Event()
    all_parked = threading.Event()
    count_lock = threading.Lock()
    results: list[int | None] = [None] * spec.tasks
    parked = 0
    expected = spec.tasks

    def task(number: int) -> None:
        nonlocal parked
        with count_lock:
            parked += 1
            if parked == expected:
                all_parked.set()
        release.wait()
        results[number] = number

    # Warm-up: one thread started, waiting on an event, released and joined, so that lazily
    # created interpreter and threading state is not charged to the measured tasks.
    warm_up_release = threading.Event()
    warm_up = threading.Thread(target=warm_up_release.wait)
    warm_up.start()
    warm_up_release.set()
    warm_up.join()

    meter.start()
    threads = [threading.Thread(target=task, args=(number,)) for number in range(spec.tasks)]
    for thread in threads:
        thread.start()
    all_parked.wait()
    meter.stop()
    with count_lock:
        parked_at_stop = parked
    release.set()
    for thread in threads:
        thread.join()
    return Outcome(parked_at_stop, tally(value for value in results if value is not None))
