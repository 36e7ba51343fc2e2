"""What the tests share: the tiny matrix, calling a model through the registry, the check that a
call leaves no thread or process behind, and test doubles (clocks, meters, specs)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psutil
import pytest

from bench.measure.meters import Clock, MemoryMeter, Meter, Outcome
from bench.registry import all_models, get_model
from bench.spec.models import Model
from bench.spec.workloads import SMOKE_MATRIX, ProducerConsumer, Spec

# Every model x workload cell is tested at the smoke matrix's tiny sizes.
TINY_MATRIX = SMOKE_MATRIX
TINY_SPECS: tuple[Spec, ...] = tuple(spec for spec, _ in TINY_MATRIX)


def spec_id(spec: Spec) -> str:
    return f"{spec.workload}[{spec.params}]"


def unless_available(model: Model) -> tuple[pytest.MarkDecorator, ...]:
    """The marks of a test parameter that needs ``model``: a skip with its reason when the
    model is unavailable here (a library missing, a free-threaded build)."""
    reason = model.unavailable_reason()
    if reason is None:
        missing = model.missing_environ()
        if not missing:
            return ()
        reason = f"its processes start with {' '.join(missing)}, which this one did not"
    return (pytest.mark.skip(reason=f"{model.name} is unavailable: {reason}"),)


def models_of(workload: str) -> list[Any]:
    """Every model of the registry that runs ``workload``, variants included, as parameters
    of a contract test: a model unavailable here is a skip with its reason. Not the GIL-on
    twins: they run their model's own code, in processes started with PYTHON_GIL=1, which
    this test process is not (tests/test_gil.py measures one in such a process)."""
    return [
        pytest.param(model, id=model.name, marks=unless_available(model))
        for model in all_models()
        if model.supports(workload) and not model.environ
    ]


def meter_for(model: Model, spec: Spec) -> Clock | MemoryMeter:
    """The meter the runner measures a cell of ``spec`` with."""
    if spec.unit == "byte":
        return MemoryMeter(model.memory_measure)
    return Clock()


def call_model(name: str, spec: Spec, meter: Meter) -> Outcome:
    """One run of model ``name`` through the registry, NOT verified: for tests that look at
    what a deliberately broken model reports. ``run_cell`` runs a cell and verifies it."""
    model = get_model(name)
    outcome = model.function(spec.workload)(spec, meter, model.parameters())
    assert isinstance(outcome, Outcome), outcome
    return outcome


# Long-lived helpers that are not tasks: multiprocessing's forkserver and resource tracker
# (direct children kept for the life of the interpreter), and the session's echo server.
# Children forked by the forkserver share its command line but are grandchildren: they count.
INFRASTRUCTURE = (
    "multiprocessing.forkserver",
    "multiprocessing.resource_tracker",
    "bench.measure.echoserver",
)


def task_processes() -> list[psutil.Process]:
    """This process's descendants other than the infrastructure; zombies included (a child
    not yet reaped is still listed)."""
    me = psutil.Process()
    tasks = []
    for proc in me.children(recursive=True):
        try:
            command = " ".join(proc.cmdline())
            is_direct_child = proc.ppid() == me.pid
        except psutil.ZombieProcess:
            command, is_direct_child = "", False
        except psutil.NoSuchProcess:
            continue
        if not (is_direct_child and any(name in command for name in INFRASTRUCTURE)):
            tasks.append(proc)
    return tasks


class NothingLeft:
    """Notes this process's threads and task processes when created; ``check()`` fails if a
    thread or a task process started since is still there (running, or a zombie not reaped)."""

    def __init__(self) -> None:
        self.threads = set(threading.enumerate())
        self.processes = {proc.pid for proc in task_processes()}

    def check(self, what: str = "the call") -> None:
        threads = [t.name for t in threading.enumerate() if t not in self.threads]
        processes = [p.pid for p in task_processes() if p.pid not in self.processes]
        assert (threads, processes) == ([], []), (
            f"{what} left threads {threads} and processes {processes} behind"
        )


def _nothing() -> None:
    return None


class FakeClock:
    """Stands in for the ``time`` module of a scheduler: sleeping advances the clock at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class PeakDeque(deque[Any]):
    """A deque that remembers the most items it ever held."""

    peak = 0

    def append(self, item: Any) -> None:
        super().append(item)
        self.peak = max(self.peak, len(self))


class StateMeter(Clock):
    """A Clock that runs a check at start and at stop, inside the model's call."""

    def __init__(
        self,
        at_start: Callable[[], object] = _nothing,
        at_stop: Callable[[], object] = _nothing,
    ) -> None:
        super().__init__()
        self.at_start = at_start
        self.at_stop = at_stop

    def start(self) -> None:
        self.at_start()
        super().start()

    def stop(self) -> None:
        super().stop()
        self.at_stop()


class SnapshotMeter(Clock):
    """A Clock that records ``look()`` when the region starts and when it stops."""

    def __init__(self, look: Callable[[], Any]) -> None:
        super().__init__()
        self.look = look
        self.at_start: Any = None
        self.at_stop: Any = None

    def start(self) -> None:
        self.at_start = self.look()
        super().start()

    def stop(self) -> None:
        super().stop()
        self.at_stop = self.look()


class RegionWatch:
    """Catches consumption outside the measured region: ``meter`` marks the region, and the
    specs ``spec()`` builds record every item consumed while it is not open."""

    def __init__(self) -> None:
        self.inside = False
        self.consumed_outside: list[int] = []
        self.meter = StateMeter(self._open, self._close)

    def _open(self) -> None:
        self.inside = True

    def _close(self) -> None:
        self.inside = False

    def spec(self, **params: Any) -> ProducerConsumer:
        watch = self

        class Watched(ProducerConsumer):
            def consume(self, item: tuple[int, bytes]) -> int:
                if not watch.inside:
                    watch.consumed_outside.append(item[0])
                return super().consume(item)

        return Watched(**params)


@dataclass(frozen=True)
class FailingConsumption(ProducerConsumer):
    """A spec whose consumers fail on item 5, so producers stay blocked on a full FIFO."""

    def consume(self, item: tuple[int, bytes]) -> int:
        if item[0] == 5:
            raise ArithmeticError("consumer failed")
        return super().consume(item)


def assert_items_then_one_sentinel_per_consumer(
    fifo: Any, capacity: int, items: int, consumers: int
) -> None:
    """The trace of a recording queue: bounded at ``capacity`` with producers blocked on it,
    every item first, then exactly one sentinel per consumer."""
    assert fifo.maxsize == capacity
    assert fifo.peak == capacity
    assert fifo.blocked_puts > 0
    assert len(fifo.puts) == items + consumers
    assert all(item is not None for item in fifo.puts[:items])
    assert fifo.puts[items:] == [None] * consumers


# Placement variants pin with os.sched_setaffinity, which only Linux has.
needs_affinity = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity"), reason="needs os.sched_setaffinity (Linux)"
)


@contextlib.contextmanager
def confined_to_one_cpu() -> Iterator[int]:
    """This process (and what it starts meanwhile) allowed on one CPU only, for the block."""
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)
