"""asyncio-specific checks: one closed loop per call, parked tasks, real backpressure."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bench.measure.cells import Cell, run_cell
from bench.measure.meters import Clock, Outcome
from bench.models import asyncio as model
from bench.planning import plan
from bench.registry import get_model
from bench.spec.workloads import SPECS, FanOut, Memory, PingPong, ProducerConsumer, Spawn, Spec
from tests.helpers import (
    TINY_MATRIX,
    FailingConsumption,
    StateMeter,
    assert_items_then_one_sentinel_per_consumer,
    call_model,
)
from tests.pingpong_faults import FAULTS, Fault, assert_caught

MODEL = get_model("asyncio")


def _run(spec: Spec, meter: Clock | None = None) -> Outcome:
    return run_cell(Cell(MODEL, spec), meter or Clock())


def _other_tasks() -> list[asyncio.Task[object]]:
    current = asyncio.current_task()
    return [task for task in asyncio.all_tasks() if task is not current]


def _assert_all_parked(expected: int) -> None:
    tasks = _other_tasks()
    assert len(tasks) == expected
    # A task that has taken its first step is suspended at an await; a new one is only created.
    states = {inspect.getcoroutinestate(task.get_coro()) for task in tasks}  # type: ignore[arg-type]
    assert states <= {inspect.CORO_SUSPENDED}, states


@pytest.fixture
def loops(monkeypatch: pytest.MonkeyPatch) -> list[asyncio.AbstractEventLoop]:
    """Every event loop created while the test runs (asyncio.run goes through new_event_loop)."""
    created: list[asyncio.AbstractEventLoop] = []
    original = asyncio.events.new_event_loop

    def recording_new_event_loop() -> asyncio.AbstractEventLoop:
        loop = original()
        created.append(loop)
        return loop

    monkeypatch.setattr(asyncio.events, "new_event_loop", recording_new_event_loop)
    return created


def test_imports_resolve_to_the_real_asyncio_and_are_lazy() -> None:
    # bench.models.asyncio must not shadow the library, and must not import it at module level.
    code = (
        "import sys, bench.models.asyncio as m; assert 'asyncio' not in sys.modules; "
        "import asyncio; assert asyncio is not m and hasattr(asyncio, 'TaskGroup')"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(asyncio.__file__).resolve().parent.parent == stdlib


def test_each_call_creates_runs_in_and_closes_its_own_default_loop(
    loops: list[asyncio.AbstractEventLoop],
) -> None:
    running: list[asyncio.AbstractEventLoop] = []

    def record_running_loop() -> None:
        running.append(asyncio.get_running_loop())

    cells = plan([MODEL], list(SPECS), TINY_MATRIX)
    for cell in cells:
        run_cell(cell, StateMeter(record_running_loop, record_running_loop))
    assert len(loops) == len(cells)
    # The region ran on the call's own loop, created before meter.start() and closed after.
    assert running == [loop for loop in loops for _ in range(2)]
    default_loop_class = asyncio.DefaultEventLoopPolicy._loop_factory  # type: ignore[attr-defined]
    for loop in loops:
        assert type(loop) is default_loop_class
        assert loop.is_closed()
        assert asyncio.all_tasks(loop) == set()


def test_pingpong_partner_is_parked_before_the_region() -> None:
    _run(PingPong(rounds=3), StateMeter(lambda: _assert_all_parked(1)))


def _faulty_ponger(fault: Fault) -> Any:
    async def ponger(inboxes: Any, rounds: int) -> None:
        previous: object = -1
        for _ in range(rounds):
            received = await inboxes.to_ponger
            inboxes.to_ponger = inboxes.new()
            previous = fault(received, previous)
            inboxes.to_pinger.set_result(previous)

    return ponger


@pytest.mark.parametrize("fault", FAULTS)
def test_pingpong_fails_when_the_partner_does_not_hand_back_its_token(
    monkeypatch: pytest.MonkeyPatch, fault: str, loops: list[asyncio.AbstractEventLoop]
) -> None:
    monkeypatch.setattr(model, "_ponger", _faulty_ponger(FAULTS[fault]))
    assert_caught("asyncio", fault)
    # The ponger left waiting for a token was cancelled, and every loop closed.
    assert loops and all(loop.is_closed() for loop in loops)


def test_producers_and_consumers_are_parked_on_the_gate_before_the_region() -> None:
    spec = ProducerConsumer(producers=3, consumers=2, capacity=2, items=10)
    _run(spec, StateMeter(lambda: _assert_all_parked(5)))


@pytest.mark.parametrize("spec", [FanOut(tasks=3, cpu_iterations=1), Spawn(tasks=3)])
def test_tasks_are_launched_inside_the_region(spec: FanOut | Spawn) -> None:
    def nothing_launched_yet() -> None:
        assert _other_tasks() == []

    _run(spec, StateMeter(nothing_launched_yet))


def test_memory_measures_while_every_task_is_parked() -> None:
    _run(Memory(tasks=7), StateMeter(at_stop=lambda: _assert_all_parked(7)))


class RecordingQueue(asyncio.Queue[object]):
    """asyncio's Queue, recording every put and whether it had to wait for room."""

    instances: list[RecordingQueue] = []  # noqa: RUF012 - a test-local registry

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize=maxsize)
        self.puts: list[object] = []
        self.blocked_puts = 0
        self.peak = 0
        RecordingQueue.instances.append(self)

    async def put(self, item: object) -> None:
        self.blocked_puts += self.full()
        await super().put(item)
        self.puts.append(item)
        self.peak = max(self.peak, self.qsize())


def test_bounded_fifo_blocks_producers_at_capacity(monkeypatch: pytest.MonkeyPatch) -> None:
    RecordingQueue.instances.clear()
    monkeypatch.setattr(asyncio, "Queue", RecordingQueue)
    spec = ProducerConsumer(producers=2, consumers=3, capacity=2, items=30)
    _run(spec)
    (fifo,) = RecordingQueue.instances
    assert_items_then_one_sentinel_per_consumer(fifo, capacity=2, items=30, consumers=3)


def test_sleep_is_asyncios_not_time_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(seconds: float) -> None:
        raise AssertionError("time.sleep would block the event loop")

    monkeypatch.setattr(time, "sleep", forbidden)
    _run(FanOut(tasks=4, work="sleep", delay_ms=1.0))


def test_a_failure_cancels_every_task_and_closes_the_loop(
    loops: list[asyncio.AbstractEventLoop],
) -> None:
    spec = FailingConsumption(producers=2, consumers=1, capacity=1, items=20)
    with pytest.raises(ExceptionGroup) as caught:
        _run(spec)
    assert caught.group_contains(ArithmeticError)
    (loop,) = loops
    assert loop.is_closed()
    assert asyncio.all_tasks(loop) == set()


EAGER = get_model("asyncio[tasks=eager]")
needs_eager = pytest.mark.skipif(
    EAGER.unavailable_reason() is not None, reason=f"unavailable: {EAGER.unavailable_reason()}"
)


def test_the_eager_variant_is_unavailable_before_python_3_12_with_the_reason() -> None:
    reason = EAGER.unavailable_reason()
    if sys.version_info >= (3, 12):
        assert reason is None
    else:
        assert reason is not None
        assert "asyncio.eager_task_factory needs Python 3.12 or later" in reason


def _task_factories_in_regions(model_name: str) -> list[object]:
    """The running loop's task factory at the start and at the stop of every region of the
    model's tiny cells."""
    seen: list[object] = []

    def record_task_factory() -> None:
        seen.append(asyncio.get_running_loop().get_task_factory())

    for cell in plan([get_model(model_name)], list(SPECS), TINY_MATRIX):
        run_cell(cell, StateMeter(record_task_factory, record_task_factory))
    return seen


@needs_eager
def test_the_eager_factory_is_in_effect_inside_every_region_of_the_variant() -> None:
    eager = asyncio.eager_task_factory  # type: ignore[attr-defined]  # 3.12+: absent from 3.11's stubs
    seen = _task_factories_in_regions(EAGER.name)
    assert len(seen) == 2 * len(plan([EAGER], list(SPECS), TINY_MATRIX))
    assert all(factory is eager for factory in seen), seen
    # The plain model keeps the loop's own, lazy tasks.
    assert set(_task_factories_in_regions("asyncio")) == {None}


@needs_eager
def test_a_variant_that_leaves_the_tasks_lazy_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def reads_tasks_but_sets_nothing(variant: Any) -> None:
        variant.get("tasks")

    monkeypatch.setattr(model, "_task_factory", reads_tasks_but_sets_nothing)
    with pytest.raises(AssertionError):
        test_the_eager_factory_is_in_effect_inside_every_region_of_the_variant()


class _PendingAtEachTask(FanOut):
    """A cpu fan-out whose tasks note how many tasks are pending (the coordinator's included)
    when they run."""

    pending: ClassVar[list[int]] = []

    def result(self, number: int) -> int:
        self.pending.append(len(asyncio.all_tasks()))
        return super().result(number)


@needs_eager
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Lazy: all five are created first, then run in order, each leaving the pending set.
        ("asyncio", [6, 5, 4, 3, 2]),
        # Eager: each runs to its end inside its create_task, before the next is created.
        ("asyncio[tasks=eager]", [2, 2, 2, 2, 2]),
    ],
)
def test_eager_tasks_take_their_first_step_inside_create_task(
    name: str, expected: list[int]
) -> None:
    _PendingAtEachTask.pending.clear()
    outcome = call_model(name, _PendingAtEachTask(tasks=5, cpu_iterations=1), Clock())
    assert outcome.ops == 5
    assert _PendingAtEachTask.pending == expected
