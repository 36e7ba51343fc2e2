"""processes: one OS process per task, started by ``multiprocessing`` with the selected start
method (``bench.measure.mpcontext``: fork, forkserver or spawn).

- pingpong: the coordinator and one partner process exchange an 8-byte token over two one-way
  ``multiprocessing.Pipe`` connections (``send_bytes``/``recv_bytes``); the partner sends back
  the bytes it received, unchanged.
- producer_consumer: every producer and every consumer is a process; the bounded FIFO is
  ``multiprocessing.Queue(maxsize=capacity)``, whose ``put`` blocks while capacity items are in
  flight (the backpressure). They park on a ``multiprocessing.Event`` start gate. A producer
  flushes its queue's feeder thread before it reports done, so the sentinels the coordinator
  puts afterwards cannot overtake its items; each consumer sends its tally back through a pipe.
- fan_out: a ``Pool`` with one worker process per usable CPU (``os.cpu_count()``, less any CPUs
  the affinity mask excludes, e.g. under pyperf's ``--affinity``), created and warmed before the
  measured region; the region is ``Pool.map`` over the N tasks; ``sleep`` uses ``time.sleep``;
  ``echo`` is a blocking socket's ``sendall`` and ``recv`` in the worker running the task, over a
  connection the task opens (connect=each) or the one its worker opened in the pool's
  initializer, before the region, and uses for every task it runs (connect=reuse). W workers
  let W tasks wait at once (``fan_out_concurrency``), so a sleep or echo fan-out cannot finish
  before ceil(N / W) x D.
- spawn: create, start and join one process per task; task i sends i + 1 back through a pipe.
- memory: N processes parked on one ``multiprocessing.Event``; the meter reads the memory of the
  whole process tree as the sum of its PSS (proportional set size).

Variants:

- ``processes[executor=pool]``: fan_out and spawn through
  ``concurrent.futures.ProcessPoolExecutor(max_workers=usable CPUs, mp_context=the run's
  context)``, the same worker initializer as the ``Pool``. Before the region every worker is
  started, initialised and has run one warm-up task (each warm-up task holds its worker until
  all workers are up, so that an executor that starts workers on demand starts all of them).
  fan_out's region is ``executor.map`` over the N tasks (its default chunksize, 1: a work item
  per task); spawn's region is a ``submit`` per trivial task and the result of each future: a
  task is a work item handed to a running worker, not a process, which is what an executor
  offers over a process per task.
- ``processes[start=fork|forkserver|spawn]``: pingpong, spawn and memory with that start method
  instead of the run's ``--start-method`` (``bench.measure.mpcontext.method_for``).
- ``processes[placement=same|spread]``: pingpong with the coordinator and its partner pinned
  (``os.sched_setaffinity``) to the first CPU this process may use (same), or the coordinator
  to the first and the partner to the second (spread), from the region's set-up until after
  it; the coordinator's own affinity is restored afterwards. Where it cannot apply (no
  ``sched_setaffinity``, spread with one usable CPU) the cell raises ``ResourceLimitError``: a
  skip with the reason, never a measurement of another placement.

Everything a child runs is a module-level function, so that spawn and forkserver children can
import it. No feeder or pool thread outlives a call, so the next fork never happens while this
process has other threads. A child that dies makes the coordinator raise instead of hang.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event, Semaphore
from typing import TYPE_CHECKING, Any

from bench.measure.affinity import placement_cpus, usable_cpus
from bench.measure.mpcontext import context, method_for
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
    from concurrent.futures import Future, ProcessPoolExecutor

    from bench.measure.meters import Meter, Outcome


MODEL = ModelRecord(
    name="processes",
    summary="one OS process per task (multiprocessing), a pool of one per usable CPU for fan-out",
    lightweight=False,
    order=10,
    colour="#ff7f0e",
    task_noun="process",
    parallel="always",
    # Each process has its own GIL: on a free-threaded build the twins show it does not matter.
    gil_on=("fan_out:cpu_iterations=20000", "producer_consumer:cpu_iterations=20000"),
    # Summed over the tree, PSS counts the pages a forked child still shares with its parent
    # once; USS would drop them from the parent and undercount (see
    # bench.measure.meters.MemoryMeter).
    memory_measure="pss",
    # The largest sizes a scaling sweep attempts: a process holds about 1.6 MiB, so 10,000
    # parked processes would need some 16 GiB, and P = C = 1,000 means 2,000 processes forked
    # before the timed region, where the sweep's per-run time limit cannot see their cost.
    sweep_limits={"memory": 1_000, "producer_consumer": 100},
    fan_out_concurrency=usable_cpus,
    primitives={
        "pingpong": (
            "two one-way multiprocessing.Pipe()s, send_bytes/recv_bytes of an 8-byte token, sent "
            "back unchanged"
        ),
        "producer_consumer": (
            "multiprocessing.Queue(maxsize=capacity) between producer and consumer processes; "
            "multiprocessing.Event start gate"
        ),
        "fan_out": (
            "Pool(usable CPUs).map with its default chunksize (N / (4 x workers), rounded up); "
            "time.sleep; blocking sockets for echo"
        ),
        "spawn": "multiprocessing Process create + start + join; result back through a pipe",
        "memory": "processes blocked on one multiprocessing.Event",
    },
    variants=(
        Variant(
            parameters={"executor": "pool"},
            summary=(
                "concurrent.futures.ProcessPoolExecutor of one worker per usable CPU, started "
                "before the region: tasks are work items"
            ),
            colour="#ffbb78",
            workloads=("fan_out", "spawn"),
            default_matrix=("fan_out:work=cpu", "spawn"),
            gil_on=("fan_out:cpu_iterations=20000",),
            primitives={
                "fan_out": (
                    "ProcessPoolExecutor(usable CPUs, mp_context).map with its default "
                    "chunksize (1); time.sleep; blocking sockets for echo"
                ),
                "spawn": (
                    "ProcessPoolExecutor(usable CPUs, mp_context).submit per task, then each "
                    "future's result; workers started before the region"
                ),
            },
        ),
        Variant(
            parameters={"start": "fork"},
            summary="one OS process per task, started by fork whatever the run's start method",
            # posix imports on the POSIX platforms, where multiprocessing offers fork.
            requires=("posix",),
            colour="#b35806",
            workloads=("pingpong", "spawn", "memory"),
            default_matrix=("pingpong", "spawn"),
        ),
        Variant(
            parameters={"start": "forkserver"},
            summary=(
                "one OS process per task, forked by multiprocessing's fork server whatever the "
                "run's start method"
            ),
            # It raises ImportError where the platform cannot pass descriptors (no forkserver).
            requires=("multiprocessing.popen_forkserver",),
            colour="#fdb863",
            workloads=("pingpong", "spawn", "memory"),
            default_matrix=("pingpong", "spawn"),
        ),
        Variant(
            parameters={"start": "spawn"},
            summary=(
                "one OS process per task, a fresh interpreter each (spawn) whatever the run's "
                "start method"
            ),
            colour="#993404",
            workloads=("pingpong", "spawn", "memory"),
            # 100 spawned interpreters take about 3 s a run, 35 s a cell: the default run
            # measures this method's pingpong; its spawn and memory run with --spec.
            default_matrix=("pingpong",),
        ),
        Variant(
            parameters={"placement": "same"},
            summary="pingpong with both processes pinned to one CPU (sched_setaffinity)",
            colour="#d95f0e",
            workloads=("pingpong",),
        ),
        Variant(
            parameters={"placement": "spread"},
            summary="pingpong with the two processes pinned to two different CPUs",
            colour="#fec44f",
            workloads=("pingpong",),
        ),
    ),
)

# How often a coordinator waiting on its children checks that none of them has died.
_LIVENESS_POLL_SECONDS = 0.5
# The longest a pool may take to start and initialise its workers before we give up.
_POOL_START_TIMEOUT_SECONDS = 60.0
_TOKEN = struct.Struct("<q")

Tally = tuple[int, int, int]
Item = tuple[int, bytes]


class ChildFailed(RuntimeError):
    """A child process died before doing its part of the workload."""


def _outcome(ops: int, checksum: Checksum) -> Outcome:
    # Imported here rather than at module level: every spawn or forkserver child imports this
    # module, and bench.measure.meters pulls in psutil, which would add to each child's start-up and
    # memory a cost that belongs to the harness, not to the model.
    from bench.measure.meters import Outcome

    return Outcome(ops, checksum)


def _context(variant: VariantParameters) -> BaseContext:
    """The context of the variant's start method (``start=...``), else of the run's."""
    ctx = context(method_for(variant))
    if ctx.get_start_method() == "forkserver":
        # The server imports this module once, so that the children it forks start with it
        # loaded, as a forkserver is meant to be used. Only a hint: it takes effect when the
        # server starts (the first start with this method). "__main__" is left out on purpose:
        # CPython ignored it until gh-126631 (fixed in 2025, backported to 3.13), so with it
        # every child would re-import the main module on some versions and not on others.
        ctx.set_forkserver_preload([__name__])
    return ctx


def _new_process(
    ctx: BaseContext, target: Callable[..., None], args: tuple[Any, ...], name: str
) -> BaseProcess:
    # typeshed's BaseContext omits the Process attribute every concrete context has.
    process_class: type[BaseProcess] = ctx.Process  # type: ignore[attr-defined]
    # daemon: should the coordinator itself die, its children go with it.
    return process_class(target=target, args=args, name=name, daemon=True)


def _raise_if_failed(children: list[BaseProcess]) -> None:
    for child in children:
        if child.exitcode not in (None, 0):
            raise ChildFailed(f"{child.name} exited with code {child.exitcode}")


@contextmanager
def _supervised(children: list[BaseProcess]) -> Iterator[None]:
    """On any failure, terminate and join the children started so far: none outlives the call.

    When the failure is a symptom of a child that died (a pipe at EOF, say), raise ChildFailed.
    """
    try:
        yield
    except BaseException as error:
        terminated = [child for child in children if child.is_alive()]
        for child in terminated:
            child.terminate()
        for child in children:
            child.join()
        if isinstance(error, Exception) and not isinstance(error, ChildFailed):
            # A child that had died by itself keeps its own exit code even if we terminated it.
            _raise_if_failed(
                [
                    child
                    for child in children
                    if not (child in terminated and child.exitcode == -signal.SIGTERM)
                ]
            )
        raise


def _acquire(semaphore: Semaphore, times: int, children: list[BaseProcess]) -> None:
    for _ in range(times):
        while not semaphore.acquire(timeout=_LIVENESS_POLL_SECONDS):
            _raise_if_failed(children)


def _wait(event: Event, children: list[BaseProcess]) -> None:
    while not event.wait(timeout=_LIVENESS_POLL_SECONDS):
        _raise_if_failed(children)


class _ResultPipe:
    """Many children send small results to the coordinator, which never waits on a dead child.

    A ``SimpleQueue`` would do the same but offers no timed receive to check the children with.
    """

    def __init__(self, ctx: BaseContext) -> None:
        self._reader, self._writer = ctx.Pipe(duplex=False)
        self._write_lock = ctx.Lock()

    def send(self, value: object) -> None:
        with self._write_lock:
            self._writer.send(value)

    def receive(self, count: int, children: list[BaseProcess]) -> list[Any]:
        poll, recv = self._reader.poll, self._reader.recv
        values = []
        for _ in range(count):
            while not poll(_LIVENESS_POLL_SECONDS):
                _raise_if_failed(children)
            values.append(recv())
        return values

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


def _pingpong_partner(inbox: Connection, outbox: Connection, rounds: int) -> None:
    """Sends back every token it receives, unchanged."""
    recv, send = inbox.recv_bytes, outbox.send_bytes
    send(b"")  # ready
    for _ in range(rounds):
        send(recv())


# CPUs: the coordinator's and its partner's.
Placement = tuple[int, int]


@contextmanager
def _pinned(placement: Placement | None, partner: BaseProcess) -> Iterator[None]:
    """This process and its started ``partner`` each on the CPU ``placement`` gives it; this
    process's own affinity restored on the way out (it is the pyperf worker or probe that
    measures the next runs)."""
    if placement is None:
        yield
        return
    mine, partners = placement
    # pid 0 would be this process itself.
    assert partner.pid, "the partner has not been started"
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(partner.pid, {partners})
    try:
        os.sched_setaffinity(0, {mine})
        yield
    finally:
        os.sched_setaffinity(0, saved)


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    ctx = _context(variant)
    placement = placement_cpus(MODEL.name, variant)
    # Two one-way pipes rather than one duplex Pipe: on Linux an OS pipe hands off faster than
    # the socketpair a duplex Pipe is built on (about 5.5 against 8.5 us per switch).
    partner_inbox, to_partner = ctx.Pipe(duplex=False)
    from_partner, partner_outbox = ctx.Pipe(duplex=False)
    rounds = spec.rounds
    children: list[BaseProcess] = []
    with _supervised(children):
        partner = _new_process(
            ctx, _pingpong_partner, (partner_inbox, partner_outbox, rounds), "pingpong-partner"
        )
        partner.start()
        children.append(partner)
        # Without our copies of the partner's ends, a dead partner means EOFError, not a hang.
        partner_inbox.close()
        partner_outbox.close()
        send, recv, pack = to_partner.send_bytes, from_partner.recv_bytes, _TOKEN.pack
        with _pinned(placement, partner):
            recv()  # the partner runs and is about to wait for the first token
            number = -1
            token = back = pack(number)
            meter.start()
            for number in spec.each_round():
                token = pack(number)
                send(token)
                back = recv()
                if back != token:
                    break
            meter.stop()
        if back != token:
            # It waits for tokens that will not come (a forked child holds a copy of our end of
            # its inbox, so closing ours would not end its wait).
            partner.terminate()
        partner.join()
    to_partner.close()
    from_partner.close()
    switches = spec.switches(number, _TOKEN.unpack(back)[0] if back == token else -1)
    return _outcome(switches, (switches,))


def _produce(
    fifo: Queue[Item | None], numbers: range, parked: Semaphore, gate: Event, done: Semaphore
) -> None:
    put, payload = fifo.put, PAYLOAD
    parked.release()
    gate.wait()
    for number in numbers:
        put((number, payload))
    # put() hands the item to this process's feeder thread; flush the items into the pipe
    # before reporting done, or the sentinels put after that could overtake them.
    fifo.close()
    fifo.join_thread()
    done.release()


def _consume(
    spec: ProducerConsumer,
    fifo: Queue[Item | None],
    parked: Semaphore,
    gate: Event,
    tallies: _ResultPipe,
) -> None:
    parked.release()
    gate.wait()
    tallies.send(spec.drain(fifo.get))


def _put_sentinels(fifo: Queue[Item | None], count: int, children: list[BaseProcess]) -> None:
    for _ in range(count):
        while True:
            try:
                fifo.put(None, timeout=_LIVENESS_POLL_SECONDS)
                break
            except queue.Full:
                _raise_if_failed(children)


def producer_consumer(spec: ProducerConsumer, meter: Meter, variant: VariantParameters) -> Outcome:
    ctx = _context(variant)
    fifo: Queue[Item | None] = ctx.Queue(maxsize=spec.capacity)
    gate = ctx.Event()
    parked = ctx.Semaphore(0)
    producers_done = ctx.Semaphore(0)
    tallies = _ResultPipe(ctx)
    children: list[BaseProcess] = []
    try:
        with _supervised(children):
            for p in range(spec.producers):
                producer = _new_process(
                    ctx,
                    _produce,
                    (fifo, spec.items_of(p), parked, gate, producers_done),
                    f"producer-{p}",
                )
                producer.start()
                children.append(producer)
            for c in range(spec.consumers):
                consumer = _new_process(
                    ctx, _consume, (spec, fifo, parked, gate, tallies), f"consumer-{c}"
                )
                consumer.start()
                children.append(consumer)
            _acquire(parked, len(children), children)
            meter.start()
            gate.set()
            _acquire(producers_done, spec.producers, children)
            _put_sentinels(fifo, spec.consumers, children)
            parts: list[Tally] = tallies.receive(spec.consumers, children)
            meter.stop()
            for child in children:
                child.join()
    except BaseException:
        # The sentinels may be stuck in our feeder thread with nobody left to read them.
        fifo.cancel_join_thread()
        raise
    finally:
        fifo.close()
        fifo.join_thread()
        tallies.close()
    checksum = merge_tallies(parts)
    return _outcome(checksum[0], checksum)


# Set in each pool worker by _init_fan_out_worker; the tasks then carry only their number.
_fan_out_spec: FanOut | None = None
_echo_address: tuple[str, int] = ("", 0)
# connect=reuse: the worker's one connection, or why it could not be opened (raised by the
# first task, so that the coordinator sees the error rather than a pool that never starts).
_echo_socket: socket.socket | None = None
_echo_socket_error: OSError | None = None


def _init_fan_out_worker(spec: FanOut, ready: Semaphore, address: tuple[str, int]) -> None:
    global _fan_out_spec, _echo_address, _echo_socket, _echo_socket_error
    _fan_out_spec = spec
    _echo_address = address
    if spec.echoes and spec.connect == "reuse":
        try:
            _echo_socket = connect(address)
        except OSError as exc:
            _echo_socket_error = exc
    ready.release()


def _fan_out_task(number: int) -> int:
    spec = _fan_out_spec
    assert spec is not None, "pool worker was not initialised"
    if spec.echoes:
        return _echo_task(spec, number)
    if spec.sleeps:
        time.sleep(spec.delay)
    return spec.result(number)


def _echo_task(spec: FanOut, number: int) -> int:
    if spec.connect == "each":
        return echo_each(spec, _echo_address, number)
    if _echo_socket is None:
        assert _echo_socket_error is not None
        raise _echo_socket_error
    return exchange(_echo_socket, spec, number)


def _uses_executor(variant: VariantParameters) -> bool:
    """Whether the variant asks for ``executor=pool``: ProcessPoolExecutor, not one Process per
    task (spawn) or a ``multiprocessing.Pool`` (fan_out)."""
    executor = variant.get("executor")
    if executor not in (None, "pool"):
        raise DeclarationError(f"processes: no executor named {executor!r}; valid: pool")
    return executor == "pool"


# Set in each executor worker by _init_executor_worker: the warm-up task waits for it.
_all_workers_up: Event | None = None


def _init_executor_worker(
    all_up: Event, ready: Semaphore, spec: FanOut | None, address: tuple[str, int]
) -> None:
    global _all_workers_up
    _all_workers_up = all_up
    if spec is None:
        ready.release()
    else:
        _init_fan_out_worker(spec, ready, address)


def _executor_warm_up_task(task: Callable[[int], int], number: int) -> int:
    """Holds its worker until every worker is up, then runs ``task`` once. An executor starts a
    worker for a submit that finds none idle, so none may become idle before all are started."""
    assert _all_workers_up is not None, "executor worker was not initialised"
    if not _all_workers_up.wait(timeout=_POOL_START_TIMEOUT_SECONDS):
        raise ChildFailed("the coordinator never said that every worker was up")
    return task(number)


def _wait_for_workers(ready: Semaphore, workers: int, warm_ups: list[Future[int]]) -> None:
    deadline = time.monotonic() + _POOL_START_TIMEOUT_SECONDS
    for _ in range(workers):
        while not ready.acquire(timeout=_LIVENESS_POLL_SECONDS):
            ended = [future for future in warm_ups if future.done()]
            if ended:
                ended[0].result()  # a dead worker: BrokenProcessPool
                raise ChildFailed("a warm-up task ended before every worker was up")
            if time.monotonic() > deadline:
                raise ChildFailed("the executor's workers did not start")


@contextmanager
def _warm_executor(
    ctx: BaseContext,
    task: Callable[[int], int],
    spec: FanOut | None = None,
    address: tuple[str, int] = ("", 0),
) -> Iterator[ProcessPoolExecutor]:
    """A ProcessPoolExecutor of one worker per usable CPU, each started, initialised and having
    run ``task`` once; shut down (its workers and its manager thread joined) on the way out."""
    from concurrent.futures import ProcessPoolExecutor

    workers = usable_cpus()
    all_up = ctx.Event()
    ready = ctx.Semaphore(0)
    executor = ProcessPoolExecutor(
        workers,
        mp_context=ctx,
        initializer=_init_executor_worker,
        initargs=(all_up, ready, spec, address),
    )
    try:
        warm_ups = [executor.submit(_executor_warm_up_task, task, n) for n in range(workers)]
        _wait_for_workers(ready, workers, warm_ups)
        all_up.set()
        for future in warm_ups:
            future.result()
        yield executor
    finally:
        all_up.set()  # no warm-up task may hold its worker through the shutdown
        executor.shutdown(wait=True, cancel_futures=True)


def _server_address(spec: FanOut) -> tuple[str, int]:
    """The echo server's address for an echo fan-out; unused otherwise."""
    if not spec.echoes:
        return ("", 0)
    from bench.measure.echoserver import echo_address

    return echo_address()


def fan_out(spec: FanOut, meter: Meter, variant: VariantParameters) -> Outcome:
    ctx = _context(variant)
    address = _server_address(spec)
    if _uses_executor(variant):
        with _warm_executor(ctx, _fan_out_task, spec, address) as executor:
            meter.start()
            results = list(executor.map(_fan_out_task, range(spec.tasks)))
            meter.stop()
        return _outcome(len(results), tally(results))
    workers = usable_cpus()
    ready = ctx.Semaphore(0)
    pool = ctx.Pool(workers, initializer=_init_fan_out_worker, initargs=(spec, ready, address))
    try:
        # Every worker started and initialised, and the task round trip exercised once.
        deadline = time.monotonic() + _POOL_START_TIMEOUT_SECONDS
        for _ in range(workers):
            if not ready.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise ChildFailed("the pool's workers did not start")
        pool.map(_fan_out_task, range(workers), chunksize=1)
        meter.start()
        results = pool.map(_fan_out_task, range(spec.tasks))
        meter.stop()
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()
    return _outcome(len(results), tally(results))


def _spawned_task(number: int, results: _ResultPipe) -> None:
    results.send(number + 1)


def _trivial_task(number: int) -> int:
    return number + 1


def _warm_up(
    ctx: BaseContext,
    target: Callable[..., None],
    args: tuple[Any, ...],
    name: str,
    *,
    results: _ResultPipe,
    children: list[BaseProcess],
) -> None:
    """One child through the path the measured ones take, waited for and joined, so that a
    forkserver is already running and the first measured start does not pay for it."""
    warm_up = _new_process(ctx, target, args, name)
    warm_up.start()
    children.append(warm_up)
    results.receive(1, children)
    warm_up.join()
    children.clear()


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    ctx = _context(variant)
    if _uses_executor(variant):
        with _warm_executor(ctx, _trivial_task) as executor:
            submit = executor.submit
            meter.start()
            futures = [submit(_trivial_task, number) for number in range(spec.tasks)]
            returned = [future.result() for future in futures]
            meter.stop()
        return _outcome(len(returned), tally(returned))
    results = _ResultPipe(ctx)
    children: list[BaseProcess] = []
    try:
        with _supervised(children):
            # Warm-up: one child through the same path, so that a forkserver is already running
            # and the first measured start does not pay for it.
            _warm_up(
                ctx,
                _spawned_task,
                (-1, results),
                "spawn-warm-up",
                results=results,
                children=children,
            )
            meter.start()
            for number in range(spec.tasks):
                child = _new_process(ctx, _spawned_task, (number, results), f"task-{number}")
                child.start()
                children.append(child)
            values: list[int] = results.receive(spec.tasks, children)
            for child in children:
                child.join()
            meter.stop()
    finally:
        results.close()
    return _outcome(len(values), tally(values))


class _ParkingLot:
    """Where memory tasks park: each counts itself in, the last one in signals the coordinator,
    and one event releases them all."""

    def __init__(self, ctx: BaseContext, expected: int) -> None:
        self._expected = expected
        self._parked = ctx.Value("i", 0)
        self._all_parked = ctx.Event()
        self._released = ctx.Event()

    def park(self) -> None:
        with self._parked.get_lock():
            self._parked.value += 1
            if self._parked.value == self._expected:
                self._all_parked.set()
        self._released.wait()

    def wait_until_full(self, children: list[BaseProcess]) -> None:
        _wait(self._all_parked, children)

    def parked(self) -> int:
        with self._parked.get_lock():
            count: int = self._parked.value
        return count

    def release(self) -> None:
        self._released.set()


def _parked_task(number: int, lot: _ParkingLot, results: _ResultPipe) -> None:
    lot.park()
    results.send(number)


def memory(spec: Memory, meter: Meter, variant: VariantParameters) -> Outcome:
    ctx = _context(variant)
    results = _ResultPipe(ctx)
    children: list[BaseProcess] = []
    try:
        with _supervised(children):
            # Warm-up: one child through the whole park/release cycle on a lot of its own, so
            # that a forkserver is running and shared memory is set up before the measurement.
            warm_up_lot = _ParkingLot(ctx, 1)
            warm_up_lot.release()
            warm_up_args = (-1, warm_up_lot, results)
            _warm_up(
                ctx,
                _parked_task,
                warm_up_args,
                "memory-warm-up",
                results=results,
                children=children,
            )

            lot = _ParkingLot(ctx, spec.tasks)
            meter.start()
            for number in range(spec.tasks):
                child = _new_process(ctx, _parked_task, (number, lot, results), f"task-{number}")
                child.start()
                children.append(child)
            lot.wait_until_full(children)
            meter.stop()
            parked_at_stop = lot.parked()
            lot.release()
            values: list[int] = results.receive(spec.tasks, children)
            for child in children:
                child.join()
    finally:
        results.close()
    return _outcome(parked_at_stop, tally(values))
