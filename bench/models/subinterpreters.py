"""subinterpreters: PEP 734's interpreters, each with a GIL of its own, in one process:
``concurrent.interpreters`` on Python 3.14, the ``interpreters-pep-734`` backport on 3.13
(``bench.models._interpreters`` picks one; elsewhere the model is unavailable).

One task is one interpreter. An interpreter runs code only in a thread that enters it, so a task
that runs alongside others is an interpreter and a thread of the process running
``Interpreter.exec`` in it, which is what ``Interpreter.call_in_thread`` does. The model starts
that thread itself (``_Crew``): the backport's ``call()`` takes no arguments and returns nothing
and ``call_in_thread`` drops a failure, while ``prepare_main`` and ``exec`` behave alike in both.
Only shareable objects cross between interpreters (queues, ints, bytes, tuples of them): a spec
travels pickled and is unpickled by the task, in an interpreter that first took the
coordinator's ``sys.path`` and so imports what the coordinator imports; that set-up, like a
``spawn`` child's start-up in ``processes``, happens before the region.

- pingpong: the coordinator (the main interpreter) and a partner interpreter pass the token
  through two ``create_queue(1)`` queues, one each way; the partner puts back what it got.
- producer_consumer: every producer and every consumer is an interpreter; the bounded FIFO is
  ``create_queue(maxsize=capacity)``, whose ``put`` waits while capacity items are in it (the
  backpressure). They park on a start gate, a pipe each reads one byte from; once every
  producer's function has returned the coordinator puts one ``None`` sentinel per consumer, and
  each consumer puts its tally, pickled, into a queue of results.
- fan_out: an ``InterpreterPoolExecutor`` of one interpreter per usable CPU, started and set up
  before the region (each worker unpickles the spec and, for connect=reuse, opens its one
  connection); the region is ``executor.map`` over the N tasks. ``sleep`` is ``time.sleep``,
  ``echo`` a blocking socket in the worker, as in ``processes``. W workers let W tasks wait at
  once (``fan_out_concurrency``).
- spawn: per task, ``create()`` an interpreter, ``exec`` the trivial task in it (it writes
  i + 1 to a pipe) and ``close()`` it, one task after another: ``exec`` runs in the
  coordinator's thread, so this is the cost of an interpreter's life, with no thread.
- memory: N interpreters made by ``create()`` and left idle, with no thread: a task that only
  waits needs none. So one task here is an interpreter's own state (its modules, those ``site``
  and the ``.pth`` files of the environment import included, its allocator, its GIL), without
  the thread a running task adds (see threads). After the region each one reports its number
  through a pipe and is closed.

How the library's queues wait: ``get`` on an empty queue and ``put`` on a full one try again
every 10 ms (``_delay``, in CPython 3.14's ``concurrent.interpreters`` as in the backport), so
a hand-off to an interpreter that waits takes up to 10 ms. pingpong, and producer_consumer
wherever the FIFO runs empty or full, measure that polling: it is the library's blocking
primitive as it is. Where the model itself waits (the start gate, the coordinator waiting for
its tasks) it uses pipes, whose reads block in the kernel and wake at once, adding no poll.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.measure.affinity import usable_cpus
from bench.measure.meters import Meter, Outcome
from bench.models._echo import connect, echo_each, exchange
from bench.spec.models import ModelRecord, VariantParameters
from bench.spec.workloads import (
    PAYLOAD,
    FanOut,
    Memory,
    PingPong,
    ProducerConsumer,
    Spawn,
    merge_tallies,
    tally,
)

MODEL = ModelRecord(
    name="subinterpreters",
    summary=(
        "PEP 734 interpreters with a GIL each, in one process; a cross-interpreter queue as the "
        "FIFO, InterpreterPoolExecutor for fan-out"
    ),
    # Imports concurrent.interpreters (3.14) or the backport (3.13), else says why not.
    requires=("bench.models._interpreters",),
    libraries=("interpreters-pep-734",),
    lightweight=False,
    order=19,
    colour="#7f7f7f",
    task_noun="interpreter",
    # Every interpreter has its own GIL: their threads run Python on several cores at once.
    parallel="always",
    # An idle interpreter holds megabytes (4 MiB here): 10,000 of them would exhaust the
    # machine, and P = C = 1,000 means 2,000 interpreters set up before the timed region.
    sweep_limits={"memory": 1_000, "producer_consumer": 100},
    fan_out_concurrency=usable_cpus,
    # Its queues poll every 10 ms (see above): a pingpong or capacity-1 pipeline of the default
    # sizes takes tens of seconds per run, and 1,000 idle interpreters about 4 GB. The default
    # matrix measures spawn and the parallel cpu fan-out (a pool of one interpreter per CPU);
    # the other workloads run with --spec at smaller sizes.
    default_matrix=("spawn", "fan_out:cpu_iterations=20000"),
    primitives={
        "pingpong": (
            "two create_queue(1) cross-interpreter queues, put/get of the token (get polls every "
            "10 ms), put back unchanged by the partner interpreter"
        ),
        "producer_consumer": (
            "create_queue(maxsize=capacity) between producer and consumer interpreters (put/get "
            "poll every 10 ms); a pipe as the start gate"
        ),
        "fan_out": (
            "InterpreterPoolExecutor(usable CPUs).map; time.sleep; blocking sockets for echo"
        ),
        "spawn": "interpreters.create() + exec of the task + close(), one after another",
        "memory": "idle interpreters made by interpreters.create(), no thread each",
    },
)

# A task interpreter's first script: the coordinator's import path, and the queue type
# registered (bench.models._interpreters), which binding a queue into its __main__ needs.
_BOOTSTRAP = "import sys\nsys.path[:] = search_path\nimport bench.models._interpreters\n"
# How long a failed run lets its remaining tasks finish once unblocked, before it gives up.
_STOP_SECONDS = 10.0
# How often the coordinator, putting into a full queue, looks whether a task failed (the
# queues take whole seconds).
_PUT_PATIENCE_SECONDS = 1
# The longest the pool's workers may take to start and set up before the cell gives up.
_POOL_START_SECONDS = 60.0


def _new_interpreter() -> Any:
    """A new interpreter, bootstrapped (``_BOOTSTRAP``)."""
    from bench.models._interpreters import interpreters

    interpreter = interpreters.create()
    try:
        interpreter.prepare_main(search_path=tuple(sys.path))
        interpreter.exec(_BOOTSTRAP)
    except BaseException:
        interpreter.close()
        raise
    return interpreter


def _read_bytes(fd: int, count: int, alarm: int | None = None, timeout: float | None = None) -> int:
    """Read up to ``count`` bytes from ``fd``, blocking, and how many are left: it returns
    early when ``alarm`` becomes readable, or after ``timeout`` seconds without a byte."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    if alarm is not None:
        poller.register(alarm, select.POLLIN)
    milliseconds = None if timeout is None else timeout * 1000
    while count > 0:
        events = poller.poll(milliseconds)
        if not events or any(ready == alarm for ready, _ in events):
            break
        count -= len(os.read(fd, count))
    return count


class _Crew:
    """Task interpreters, each running one function of an importable module in a thread of its
    own, and the pipes they and the coordinator meet on: a task writes a byte to ``ready_fd``
    once set up and reads one from ``gate_fd`` to start. The thread writes a byte to a pipe of
    its own when its function returns, and another when it raises, so the coordinator waiting
    on the crew (``wait_ready``, ``wait_ended``, ``put``) raises a task's failure instead of
    waiting for ever.

    Leaving the block joins every thread and closes every interpreter. After a failure it
    first unblocks the tasks still running: the gate opens, and ``unblock`` runs every
    millisecond until they have ended (at most ``_STOP_SECONDS``)."""

    def __init__(self, unblock: Callable[[], None]) -> None:
        self._unblock = unblock
        self._ready_read, self.ready_fd = os.pipe()
        self.gate_fd, self._gate_write = os.pipe()
        self._ended_read, self._ended_write = os.pipe()
        self._alarm_read, self._alarm_write = os.pipe()
        self._members: list[tuple[Any, threading.Thread]] = []
        self.failures: list[BaseException] = []

    def __enter__(self) -> _Crew:
        return self

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        stopped = error is not None or bool(self.failures)
        if stopped:
            self._stop()
        self._close(wait=not stopped)
        if error is None:
            self.check()

    def start(
        self, function: Callable[..., None], name: str, **arguments: object
    ) -> threading.Thread:
        """Run ``function(**arguments)`` in a new interpreter, in a new thread named ``name``;
        the function must be importable by name, the arguments shareable."""
        interpreter = _new_interpreter()
        try:
            interpreter.prepare_main(**arguments)
        except BaseException:
            interpreter.close()
            raise
        call = ", ".join(f"{key}={key}" for key in arguments)
        script = f"from {function.__module__} import {function.__name__} as task\ntask({call})\n"
        # A daemon: a task that never ends must not keep the process alive.
        thread = threading.Thread(
            target=self._run, args=(interpreter, script), name=name, daemon=True
        )
        self._members.append((interpreter, thread))
        thread.start()
        return thread

    def _run(self, interpreter: Any, script: str) -> None:
        try:
            interpreter.exec(script)
        except BaseException as exc:  # noqa: BLE001 - raised by the coordinator
            self.failures.append(exc)
            os.write(self._alarm_write, b"!")
        else:
            os.write(self._ended_write, b".")

    def check(self) -> None:
        if self.failures:
            raise self.failures[0]

    def wait_ready(self, count: int) -> None:
        """Until ``count`` tasks have set up and reached the gate."""
        _read_bytes(self._ready_read, count, self._alarm_read)
        self.check()

    def open_gate(self, count: int) -> None:
        data = b"g" * count
        while data:
            data = data[os.write(self._gate_write, data) :]

    def wait_ended(self, count: int) -> None:
        """Until ``count`` more tasks have returned from their function."""
        _read_bytes(self._ended_read, count, self._alarm_read)
        self.check()

    def put(self, fifo: Any, item: object) -> None:
        """``fifo.put(item)``, looking every second whether a task failed meanwhile."""
        while True:
            try:
                fifo.put(item, timeout=_PUT_PATIENCE_SECONDS)
            except queue.Full:
                self.check()
            else:
                return

    def _stop(self) -> None:
        os.set_blocking(self._gate_write, False)
        with contextlib.suppress(BlockingIOError):
            os.write(self._gate_write, b"g" * len(self._members))
        deadline = time.monotonic() + _STOP_SECONDS
        while time.monotonic() < deadline and any(t.is_alive() for _, t in self._members):
            self._unblock()
            time.sleep(0.001)

    def _close(self, wait: bool) -> None:
        """Join the threads (``wait``: also those still running, which a run that went well
        ends) and close the interpreters."""
        stuck = []
        for interpreter, thread in self._members:
            if wait and thread.is_alive():
                thread.join()
            if thread.is_alive():
                stuck.append(thread.name)
            else:
                interpreter.close()
        if stuck:
            # Their interpreters still run and read the pipes: both are left open.
            raise RuntimeError(f"tasks {', '.join(stuck)} still run after the run failed")
        for fd in (
            self._ready_read,
            self.ready_fd,
            self.gate_fd,
            self._gate_write,
            self._ended_read,
            self._ended_write,
            self._alarm_read,
            self._alarm_write,
        ):
            os.close(fd)


def _pingpong_partner(inbox: Any, outbox: Any, rounds: int, ready: int) -> None:
    """Puts back every token it gets, unchanged; None ends it early."""
    receive, send = inbox.get, outbox.put
    os.write(ready, b"r")
    for _ in range(rounds):
        token = receive()
        if token is None:  # the coordinator stopped: a token did not come back
            return
        send(token)


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    from bench.models._interpreters import create_queue

    to_partner, from_partner = create_queue(1), create_queue(1)

    def unblock() -> None:
        # Room for a reply the partner is putting, and the end for a partner still waiting.
        with contextlib.suppress(queue.Empty):
            from_partner.get_nowait()
        with contextlib.suppress(queue.Full):
            to_partner.put_nowait(None)

    with _Crew(unblock) as crew:
        crew.start(
            _pingpong_partner,
            "pingpong-partner",
            inbox=to_partner,
            outbox=from_partner,
            rounds=spec.rounds,
            ready=crew.ready_fd,
        )
        crew.wait_ready(1)
        send, receive = to_partner.put, from_partner.get
        number = back = -1
        meter.start()
        for number in spec.each_round():
            send(number)
            back = receive()
            if back != number:
                break
        meter.stop()
        if back != number:
            crew.put(to_partner, None)
    switches = spec.switches(number, back)
    return Outcome(switches, (switches,))


def _produce(fifo: Any, spec: bytes, producer: int, ready: int, gate: int) -> None:
    numbers = pickle.loads(spec).items_of(producer)
    put, payload = fifo.put, PAYLOAD
    os.write(ready, b"p")
    os.read(gate, 1)
    for number in numbers:
        put((number, payload))


def _consume(fifo: Any, spec: bytes, tallies: Any, ready: int, gate: int) -> None:
    drain = pickle.loads(spec).drain
    os.write(ready, b"c")
    os.read(gate, 1)
    tallies.put(pickle.dumps(drain(fifo.get)))


def producer_consumer(spec: ProducerConsumer, meter: Meter, variant: VariantParameters) -> Outcome:
    from bench.models._interpreters import create_queue

    fifo = create_queue(spec.capacity)
    # Tallies can outgrow what a queue shares as an int: they travel pickled.
    tallies = create_queue()
    pickled = pickle.dumps(spec)
    producers: list[threading.Thread] = []

    def unblock() -> None:
        # Room for the producers still putting; once they are done, a sentinel for each
        # consumer still taking.
        if any(producer.is_alive() for producer in producers):
            with contextlib.suppress(queue.Empty):
                while True:
                    fifo.get_nowait()
        else:
            with contextlib.suppress(queue.Full):
                for _ in range(spec.consumers):
                    fifo.put_nowait(None)

    with _Crew(unblock) as crew:
        shared = {"fifo": fifo, "spec": pickled, "ready": crew.ready_fd, "gate": crew.gate_fd}
        for p in range(spec.producers):
            producers.append(crew.start(_produce, f"producer-{p}", producer=p, **shared))
        for c in range(spec.consumers):
            crew.start(_consume, f"consumer-{c}", tallies=tallies, **shared)
        crew.wait_ready(spec.producers + spec.consumers)
        meter.start()
        crew.open_gate(spec.producers + spec.consumers)
        crew.wait_ended(spec.producers)
        # Every producer's puts have returned: the sentinels come after every item.
        for _ in range(spec.consumers):
            crew.put(fifo, None)
        crew.wait_ended(spec.consumers)
        parts = [tallies.get_nowait() for _ in range(spec.consumers)]
        meter.stop()
    checksum = merge_tallies([pickle.loads(part) for part in parts])
    return Outcome(checksum[0], checksum)


# A fan_out worker's set-up, run by the pool's initializer (the builtin exec, which every
# interpreter can unpickle, where this module might not yet be importable): the coordinator's
# import path, then this module's _init_fan_out_worker.
_WORKER_SETUP = (
    "import sys\nsys.path[:] = {search_path!r}\n"
    "from bench.models.subinterpreters import _init_fan_out_worker\n"
    "_init_fan_out_worker({spec!r}, {address!r})\n"
)
# Set in each pool worker's interpreter by _init_fan_out_worker (module state is per
# interpreter); the tasks then carry only their number.
_fan_out_spec: FanOut | None = None
_echo_address: tuple[str, int] = ("", 0)
# connect=reuse: the worker's one connection, or why it could not be opened (raised by the
# first task that needs it, so that the coordinator sees the error).
_echo_socket: Any = None
_echo_socket_error: OSError | None = None


def _init_fan_out_worker(spec: bytes, address: tuple[str, int]) -> None:
    global _fan_out_spec, _echo_address, _echo_socket, _echo_socket_error
    _fan_out_spec = pickle.loads(spec)
    _echo_address = address
    if _fan_out_spec is not None and _fan_out_spec.echoes and _fan_out_spec.connect == "reuse":
        try:
            _echo_socket = connect(address)
        except OSError as exc:
            _echo_socket_error = exc


def _fan_out_task(number: int) -> int:
    spec = _fan_out_spec
    assert spec is not None, "the pool's worker was not set up"
    if spec.echoes:
        if spec.connect == "each":
            return echo_each(spec, _echo_address, number)
        if _echo_socket is None:
            assert _echo_socket_error is not None
            raise _echo_socket_error
        return exchange(_echo_socket, spec, number)
    if spec.sleeps:
        time.sleep(spec.delay)
    return spec.result(number)


def _meet(arrived: int, release: int) -> None:
    """A warm-up task: holds its worker until every worker holds one."""
    os.write(arrived, b"a")
    os.read(release, 1)


def _start_every_worker(executor: Any, workers: int) -> None:
    """Every worker of the pool started and set up before the region: ``workers`` tasks that
    each hold a worker until all have arrived, since the pool starts a worker only when a task
    finds none idle."""
    arrived_read, arrived_write = os.pipe()
    release_read, release_write = os.pipe()
    try:
        futures = [executor.submit(_meet, arrived_write, release_read) for _ in range(workers)]
        deadline = time.monotonic() + _POOL_START_SECONDS
        left = workers
        while left and time.monotonic() < deadline:
            for future in futures:
                if future.done():
                    future.result()  # ended before the release: raises its worker's failure
            left = _read_bytes(arrived_read, left, timeout=0.1)
        if left:
            raise RuntimeError(f"{left} of the pool's {workers} workers did not start")
        os.write(release_write, b"r" * workers)
        for future in futures:
            future.result()
    finally:
        for fd in (arrived_read, arrived_write, release_read, release_write):
            os.close(fd)


def fan_out(spec: FanOut, meter: Meter, variant: VariantParameters) -> Outcome:
    from bench.models._interpreters import InterpreterPoolExecutor

    workers = usable_cpus()
    address = ("", 0)
    if spec.echoes:
        from bench.measure.echoserver import echo_address

        address = echo_address()
    setup = _WORKER_SETUP.format(search_path=sys.path, spec=pickle.dumps(spec), address=address)
    executor = InterpreterPoolExecutor(max_workers=workers, initializer=exec, initargs=(setup, {}))
    try:
        _start_every_worker(executor, workers)
        meter.start()
        results = list(executor.map(_fan_out_task, range(spec.tasks)))
        meter.stop()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return Outcome(len(results), tally(results))


# The scripts of spawn's and memory's tasks: a fresh interpreter has os imported (site did).
_SUCCESSOR = "import os\nos.write(results, (number + 1).to_bytes(8, 'little'))\n"
_OWN_NUMBER = "import os\nos.write(results, number.to_bytes(8, 'little'))\n"


def _run_and_close(interpreter: Any, script: str, number: int, results: tuple[int, int]) -> int:
    """What ``script`` run in ``interpreter`` with ``number`` writes to the pipe ``results``
    (read end, write end); the interpreter is closed after it."""
    try:
        interpreter.prepare_main(number=number, results=results[1])
        interpreter.exec(script)
    finally:
        interpreter.close()
    return int.from_bytes(os.read(results[0], 8), "little")


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    from bench.models._interpreters import interpreters

    create = interpreters.create
    results = os.pipe()
    try:
        # Warm-up: one task through the same path, so first-use costs stay out of the region.
        _run_and_close(create(), _SUCCESSOR, 0, results)
        values = []
        meter.start()
        for number in range(spec.tasks):
            values.append(_run_and_close(create(), _SUCCESSOR, number, results))
        meter.stop()
    finally:
        for fd in results:
            os.close(fd)
    return Outcome(len(values), tally(values))


def memory(spec: Memory, meter: Meter, variant: VariantParameters) -> Outcome:
    from bench.models._interpreters import interpreters

    create = interpreters.create
    results = os.pipe()
    idle: list[Any] = []
    try:
        _run_and_close(create(), _OWN_NUMBER, 0, results)  # warm-up, as in spawn
        existing = len(interpreters.list_all())
        meter.start()
        for _ in range(spec.tasks):
            idle.append(create())
        meter.stop()
        idle_when_measured = len(interpreters.list_all()) - existing
        values = []
        for number in range(len(idle)):
            interpreter, idle[number] = idle[number], None
            values.append(_run_and_close(interpreter, _OWN_NUMBER, number, results))
    finally:
        for interpreter in idle:
            if interpreter is not None:
                interpreter.close()
        for fd in results:
            os.close(fd)
    return Outcome(idle_when_measured, tally(values))
