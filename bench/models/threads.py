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

The variants run the same code with one thing changed:

- ``executor=pool`` (fan_out, spawn): a task is a callable submitted to a
  ``concurrent.futures.ThreadPoolExecutor``. Every worker thread is started before the measured
  region (each parks in a warm-up call until all have started); the region is one ``submit``
  per task and the ``result()`` of every future, so no thread starts inside it; the pool is shut
  down after it. fan_out's pool has N workers for sleep and echo, the plain model's
  concurrency: every task can wait at once, so its ideal makespan is the plain model's; for cpu
  it has one worker per usable CPU (at most N), the pool CPU-bound work is given, which runs in
  parallel only on a free-threaded build with the GIL off. spawn's has min(32, usable CPUs + 4)
  workers, ``ThreadPoolExecutor``'s default in CPython 3.13 (3.11 and 3.12 count every CPU
  rather than the usable ones), made explicit so that it is the same on every version: spawn
  times handing N trivial callables to running workers and taking their results back.
- ``switch_interval=S`` (pingpong, producer_consumer): ``sys.setswitchinterval`` is set to S
  milliseconds when the call starts, before any of its threads exists, and the previous interval
  is restored when the call ends, an error included. The plain model runs at the interpreter's
  default, 5 ms.
- ``placement=same|spread`` (pingpong): the coordinator and the partner each pin themselves
  with ``os.sched_setaffinity(0, {cpu})``, which on Linux applies to the calling thread: both to
  the first CPU of the process's affinity mask (same), or the coordinator to the first and the
  partner to the second (spread). The partner ends with the call; the coordinator's mask is
  restored. Where no thread can be pinned, or spread finds one usable CPU, the cell raises
  ``ResourceLimitError`` (reported skipped) rather than measure unpinned threads.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from bench.measure.affinity import placement_cpus, usable_cpus
from bench.measure.cells import CellError
from bench.measure.echoserver import echo_address
from bench.measure.meters import Meter, Outcome
from bench.models._echo import connect, echo_each, exchange
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
    from concurrent.futures import Executor

MODEL = ModelRecord(
    name="threads",
    summary="one OS thread per task, queue.Queue as the FIFO",
    lightweight=False,
    order=20,
    colour="#2ca02c",
    task_noun="thread",
    parallel="without-gil",
    # On a free-threaded build the same cells with the GIL on: the parallel rows show what the
    # GIL costs parallel work, the others what it costs a switch and a thread's start.
    gil_on=(
        "pingpong",
        "producer_consumer:capacity=64,producers=1,work=none",
        "fan_out:cpu_iterations=20000",
        "producer_consumer:cpu_iterations=20000",
        "spawn:tasks=100",
    ),
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
    variants=(
        Variant(
            parameters={"executor": "pool"},
            colour="#98df8a",
            summary="tasks submitted to a concurrent.futures.ThreadPoolExecutor started beforehand",
            workloads=("fan_out", "spawn"),
            # a pool of N threads per fan_out run costs seconds a cell in set-up outside the
            # region; the default run measures spawn (submit to running workers) and the
            # parallel cpu fan-out (a worker per CPU), --spec the rest
            default_matrix=("spawn", "fan_out:cpu_iterations=20000"),
            gil_on=("fan_out:cpu_iterations=20000",),
            primitives={
                "fan_out": (
                    "ThreadPoolExecutor(max_workers=N; usable CPUs for cpu), its workers started "
                    "before the region; timed: N submit() and every future's result(); "
                    "time.sleep; blocking sockets for echo"
                ),
                "spawn": (
                    "ThreadPoolExecutor(max_workers=min(32, usable CPUs + 4)), its workers "
                    "started before the region; timed: N submit() of a trivial callable and "
                    "every future's result(), no thread start"
                ),
            },
        ),
        Variant(
            parameters={"switch_interval": "0.1"},
            colour="#0b6623",
            summary="the plain threads with sys.setswitchinterval(0.1 ms) (default 5 ms)",
            workloads=("pingpong", "producer_consumer"),
            default_matrix=("pingpong", "producer_consumer:producers=4,work=cpu"),
            primitive_note="sys.setswitchinterval(0.1 ms)",
        ),
        Variant(
            parameters={"switch_interval": "1"},
            colour="#4caf50",
            summary="the plain threads with sys.setswitchinterval(1 ms) (default 5 ms)",
            workloads=("pingpong", "producer_consumer"),
            default_matrix=("pingpong", "producer_consumer:producers=4,work=cpu"),
            primitive_note="sys.setswitchinterval(1 ms)",
        ),
        Variant(
            parameters={"switch_interval": "20"},
            colour="#b5e61d",
            summary="the plain threads with sys.setswitchinterval(20 ms) (default 5 ms)",
            workloads=("pingpong", "producer_consumer"),
            default_matrix=("pingpong", "producer_consumer:producers=4,work=cpu"),
            primitive_note="sys.setswitchinterval(20 ms)",
        ),
        Variant(
            parameters={"placement": "same"},
            colour="#00796b",
            summary="pingpong's two threads pinned to one CPU",
            workloads=("pingpong",),
            default_matrix=("pingpong",),
            primitive_note=(
                "both threads pinned by os.sched_setaffinity(0, {cpu}) to the first CPU of the "
                "process's affinity"
            ),
        ),
        Variant(
            parameters={"placement": "spread"},
            colour="#80cbc4",
            summary="pingpong's two threads pinned to two different CPUs",
            workloads=("pingpong",),
            default_matrix=("pingpong",),
            primitive_note=(
                "the coordinator pinned by os.sched_setaffinity(0, {cpu}) to the first CPU of "
                "the process's affinity, the partner to the second"
            ),
        ),
    ),
)

# How long a failed pingpong waits for its partner thread to end before raising.
_STRANDED_PARTNER_SECONDS = 1.0
# The longest a pool's workers may take to start before the cell gives up.
_POOL_START_SECONDS = 60.0


# The variants' parameters (module docstring). Every function reads the ones of its workload
# on every call, so a variant's cell never measures the plain model under its name.


@contextlib.contextmanager
def _switch_interval(variant: VariantParameters) -> Iterator[None]:
    """The variant's ``switch_interval`` (milliseconds) in effect for the block, the previous
    interval restored after it, also after an error; nothing changed for the plain model."""
    if variant.get("switch_interval") is None:
        yield
        return
    milliseconds = variant.number("switch_interval", 0.0)
    if milliseconds <= 0:
        raise DeclarationError(f"threads: switch_interval must be positive, got {milliseconds}")
    previous = sys.getswitchinterval()
    sys.setswitchinterval(milliseconds / 1000)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@contextlib.contextmanager
def _pinned(cpu: int | None) -> Iterator[None]:
    """The calling thread pinned to ``cpu`` for the block (None: left alone), its mask
    restored after it."""
    if cpu is None:
        yield
        return
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


def _uses_pool(variant: VariantParameters) -> bool:
    executor = variant.get("executor")
    if executor not in (None, "pool"):
        raise DeclarationError(f"threads: no executor named {executor!r}; valid: pool")
    return executor == "pool"


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    cpus = placement_cpus(MODEL.name, variant)
    with _switch_interval(variant), _pinned(None if cpus is None else cpus[0]):
        return _pingpong(spec, meter, None if cpus is None else cpus[1])


def _pingpong(spec: PingPong, meter: Meter, partner_cpu: int | None) -> Outcome:
    # Two locks start acquired and act as binary semaphores: release() wakes the one waiter,
    # acquire() blocks until woken. That is the bare OS hand-off (one wake and one wait per
    # switch); a Condition or a Queue would add its own lock and waiter list on top of it.
    to_partner = threading.Lock()
    to_coordinator = threading.Lock()
    to_partner.acquire()
    to_coordinator.acquire()
    rounds = spec.rounds
    sent = back = -1
    # The partner's failures happen in its own thread; the coordinator raises them.
    partner_errors: list[Exception] = []

    def partner() -> None:
        nonlocal back
        wait_turn, pass_turn = to_partner.acquire, to_coordinator.release
        if partner_cpu is not None:
            try:
                os.sched_setaffinity(0, {partner_cpu})
            except OSError as exc:
                partner_errors.append(exc)
                pass_turn()
                return
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
    if partner_errors:  # before the first round: with locks that wait, only its pinning fails
        thread.join()
        raise partner_errors[0]
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
    with _switch_interval(variant):
        return _producer_consumer(spec, meter)


def _producer_consumer(spec: ProducerConsumer, meter: Meter) -> Outcome:
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
    pooled = _uses_pool(variant)
    if spec.echoes:
        return _fan_out_echo(spec, meter, pooled)
    result, sleeps, delay = spec.result, spec.sleeps, spec.delay
    if pooled:

        def work(number: int) -> int:
            if sleeps:
                time.sleep(delay)
            return result(number)

        # Waiting tasks want a worker each; computing ones a worker per core, more only switch.
        workers = spec.tasks if sleeps else min(spec.tasks, usable_cpus())
        return _pool_per_task(work, spec.tasks, workers, meter)
    results: list[int | None] = [None] * spec.tasks

    def task(number: int) -> None:
        if sleeps:
            time.sleep(delay)
        results[number] = result(number)

    return _thread_per_task(task, results, meter)


def _fan_out_echo(spec: FanOut, meter: Meter, pooled: bool) -> Outcome:
    address = echo_address()
    results: list[int | None] = [None] * spec.tasks
    # A thread's exception would only reach threading.excepthook; keep it to raise it here.
    errors: list[BaseException] = []
    sockets: list[socket.socket] = []

    def work(number: int) -> int:
        if sockets:
            return exchange(sockets[number], spec, number)
        return echo_each(spec, address, number)

    def task(number: int) -> None:
        try:
            results[number] = work(number)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the coordinator
            errors.append(exc)

    try:
        if spec.connect == "reuse":
            sockets.extend(connect(address) for _ in range(spec.tasks))
        if pooled:
            # A future keeps its task's exception; result() raises it in the coordinator.
            return _pool_per_task(work, spec.tasks, spec.tasks, meter)
        outcome = _thread_per_task(task, results, meter)
    finally:
        for sock in sockets:
            sock.close()
    if errors:
        raise errors[0]
    return outcome


def _successor(number: int) -> int:
    return number + 1


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    if _uses_pool(variant):
        return _pool_per_task(_successor, spec.tasks, _default_pool_size(), meter)
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


def _default_pool_size() -> int:
    """min(32, usable CPUs + 4): ThreadPoolExecutor's default since CPython 3.13, which counts
    the CPUs the process may run on (3.11 and 3.12 count every CPU of the machine)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(32, (usable or 1) + 4)


def _pool_per_task(work: Callable[[int], int], tasks: int, workers: int, meter: Meter) -> Outcome:
    """The measured launch of ``executor=pool``: a ThreadPoolExecutor of ``workers`` threads,
    all started before the region; inside it one ``submit`` per task number and every future's
    result, gathered in task order; the pool shut down after it."""
    # Imported here: concurrent.futures loads logging, which no other cell needs.
    from concurrent import futures

    pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pool-worker")
    try:
        _start_workers(pool, workers)
        meter.start()
        submit = pool.submit
        pending = [submit(work, number) for number in range(tasks)]
        results = [future.result() for future in pending]
        meter.stop()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return Outcome(len(results), tally(results))


def _start_workers(pool: Executor, workers: int) -> None:
    """Make the pool start all its worker threads: it starts one per submit until it has
    ``workers`` (or an idle one takes the call), so each warm-up call waits until ``workers``
    calls are running at once, on as many threads. Afterwards every worker is idle and a
    submit starts no thread."""
    everyone = threading.Barrier(workers)
    try:
        started = [pool.submit(everyone.wait, _POOL_START_SECONDS) for _ in range(workers)]
        for future in started:
            future.result()
    except threading.BrokenBarrierError:
        raise CellError(
            f"the pool did not run {workers} warm-up calls at once within "
            f"{_POOL_START_SECONDS:.0f} s: fewer worker threads than it was asked for"
        ) from None
    except BaseException:
        everyone.abort()  # the workers already waiting return at once, so shutdown is quick
        raise


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
