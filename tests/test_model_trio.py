"""trio-specific checks: one trio.run per call, parked tasks, a FIFO that keeps the suite's
capacity where trio's memory channel alone would not, and errors that come out as themselves."""

from __future__ import annotations

import inspect
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from bench.measure.cells import Cell, CellError, run_cell
from bench.measure.meters import Clock, Outcome
from bench.planning import plan
from bench.registry import all_models, get_model
from bench.spec.workloads import SPECS, FanOut, Memory, PingPong, ProducerConsumer, Spawn, Spec
from tests.capacity_trace import SIZES, check_contract, measure
from tests.helpers import (
    TINY_MATRIX,
    FailingConsumption,
    NothingLeft,
    StateMeter,
    assert_items_then_one_sentinel_per_consumer,
)
from tests.structured_fakes import (
    FifoRecorder,
    always_awaiting,
    channel_alone,
    events_that_do_not_wait,
    needs_thread_switches,
    size_id,
)

pytest.importorskip("trio")

import trio

from bench.models import _structured
from bench.models import trio as model

MODEL = get_model("trio")

Item = _structured.Item
Fifo = _structured.Fifo


def _run(spec: Spec, meter: Clock | None = None) -> Outcome:
    return run_cell(Cell(MODEL, spec), meter or Clock())


def _tasks_below(task: trio.lowlevel.Task) -> Iterator[trio.lowlevel.Task]:
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            yield child
            yield from _tasks_below(child)


def _model_tasks() -> list[trio.lowlevel.Task]:
    """The tasks the model started: those below the one that calls the meter."""
    return list(_tasks_below(trio.lowlevel.current_task()))


def _assert_all_parked(expected: int) -> None:
    tasks = _model_tasks()
    assert len(tasks) == expected
    for task in tasks:
        # Started, and waiting in Event.wait (not runnable after a checkpoint).
        assert inspect.getcoroutinestate(task.coro) == inspect.CORO_SUSPENDED, task.name
        frames = [frame.f_code for frame, _ in task.iter_await_frames()]
        assert trio.Event.wait.__code__ in frames, task.name


def _assert_outside_any_run() -> None:
    with pytest.raises(RuntimeError, match="must be called from async context"):
        trio.lowlevel.current_task()


def test_imports_resolve_to_the_real_trio_and_are_lazy() -> None:
    # bench.models.trio must not shadow the library, and must not import it at module level.
    code = (
        "import sys, bench.models.trio as m; assert 'trio' not in sys.modules; "
        "import trio; assert trio is not m and hasattr(trio, 'open_nursery'); "
        "assert 'bench' not in trio.__file__, trio.__file__"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_record_places_trio_after_asyncio_and_its_variants() -> None:
    ordered = sorted(all_models(), key=lambda found: found.order)
    names = [found.name for found in ordered]
    after_asyncio = [name for name in names[names.index("asyncio") + 1 :] if "[" not in name]
    assert after_asyncio[0] == "trio"
    assert names.index("trio") < names.index("gevent")
    assert [found.name for found in ordered if found.order == MODEL.order] == ["trio"]
    assert MODEL.colour not in {found.colour for found in ordered if found.base != "trio"}
    assert (MODEL.lightweight, MODEL.parallel, MODEL.task_noun) == (True, "never", "trio task")
    default = {"pingpong", "producer_consumer", "spawn", "memory"}
    cells = plan([MODEL], list(SPECS))
    assert {cell.spec.workload for cell in cells} == default
    # the capacity-1 pipeline only, of producer_consumer's entries
    pipelines = {cell.spec for cell in cells if cell.spec.workload == "producer_consumer"}
    assert pipelines == {ProducerConsumer(producers=1, consumers=1, capacity=1)}


def test_each_call_runs_in_a_trio_run_of_its_own() -> None:
    tokens: list[trio.lowlevel.TrioToken] = []

    def record_run() -> None:
        tokens.append(trio.lowlevel.current_trio_token())

    cells = plan([MODEL], list(SPECS), TINY_MATRIX)
    nothing_left = NothingLeft()
    for cell in cells:
        run_cell(cell, StateMeter(record_run, record_run))
        _assert_outside_any_run()
    nothing_left.check()
    # The region started and stopped inside the call's own run; no two calls shared one.
    assert tokens[0::2] == tokens[1::2]
    assert len(set(tokens)) == len(cells)


def test_pingpong_partner_is_parked_before_the_region() -> None:
    _run(PingPong(rounds=3), StateMeter(lambda: _assert_all_parked(1)))


_EventThatDoesNotWait, _EventThatDoesNotWaitForTheCoordinator = events_that_do_not_wait(
    trio.Event, lambda: trio.lowlevel.current_task().name
)


def test_pingpong_partner_fails_when_its_wait_returns_without_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The ponger takes its first step while the coordinator waits for it to park.
    monkeypatch.setattr(trio, "Event", _EventThatDoesNotWait)
    with pytest.raises(CellError, match="the partner found token -1 where it expected a token af"):
        _run(PingPong(rounds=3))
    _assert_outside_any_run()


def test_pingpong_coordinator_fails_when_its_wait_returns_without_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trio, "Event", _EventThatDoesNotWaitForTheCoordinator)
    with pytest.raises(CellError, match="the coordinator found token -1 where it expected 0,"):
        _run(PingPong(rounds=3))
    _assert_outside_any_run()


def test_a_task_that_never_parks_fails_the_cell_instead_of_a_region_that_starts_early() -> None:
    async def main() -> None:
        gate, elsewhere = trio.Event(), trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gate.wait)
            nursery.start_soon(elsewhere.wait)
            try:
                await _structured.until_parked(model._library(), gate, 2)
            finally:
                gate.set()
                elsewhere.set()

    with pytest.raises(CellError, match="only 1 of 2 tasks were parked before the region"):
        model._run(main)


def test_producers_and_consumers_are_parked_on_the_gate_before_the_region() -> None:
    spec = ProducerConsumer(producers=3, consumers=2, capacity=2, items=10)
    _run(spec, StateMeter(lambda: _assert_all_parked(5)))


@pytest.mark.parametrize("spec", [FanOut(tasks=3, cpu_iterations=1), Spawn(tasks=3)])
def test_tasks_are_launched_inside_the_region(spec: FanOut | Spawn) -> None:
    def nothing_launched_yet() -> None:
        assert _model_tasks() == []

    _run(spec, StateMeter(nothing_launched_yet))


def test_memory_measures_while_every_task_is_parked() -> None:
    _run(Memory(tasks=7), StateMeter(at_stop=lambda: _assert_all_parked(7)))


def test_spawn_counts_the_results_its_tasks_delivered(monkeypatch: pytest.MonkeyPatch) -> None:
    async def loses_task_one(number: int, results: list[int]) -> None:
        if number != 1:
            results.append(number + 1)

    monkeypatch.setattr(_structured, "trivial", loses_task_one)
    with pytest.raises(CellError, match="counted 4 operations, the spec performs 5"):
        _run(Spawn(tasks=5))


# The FIFO: the suite's capacity, with trio's channel and a semaphore.


def _raw_channel(capacity: int) -> Fifo:
    """trio's memory channel alone, of the suite's capacity (``channel_alone``)."""
    sender, receiver = trio.open_memory_channel[Item](capacity)
    return channel_alone(sender, receiver, trio.WouldBlock)


def _always_awaiting(capacity: int) -> Fifo:
    sender, receiver = trio.open_memory_channel[Item](capacity)
    return always_awaiting(trio.Semaphore(capacity), sender, receiver)


def _order_of_events(make_fifo: Callable[[int], Fifo], capacity: int) -> list[str]:
    """One consumer waits for an item; the producer puts Q + 1 items: the order in which the
    consumer's first get and the producer's puts returned."""
    events: list[str] = []

    async def main() -> None:
        put, get = make_fifo(capacity)
        gate = trio.Event()

        async def consumer() -> None:
            gate.set()
            await get()
            events.append("got 0")
            for _ in range(capacity):
                await get()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer)
            await gate.wait()  # set by the consumer in the step in which it parks in its get
            for number in range(capacity + 1):
                await put((number, b""))
                events.append(f"put {number}")

    trio.run(main)
    return events


@pytest.mark.parametrize("capacity", [1, 3])
def test_a_put_waits_while_q_items_are_put_and_not_taken_even_one_handed_over(
    capacity: int,
) -> None:
    # Item 0 goes straight to the waiting consumer, yet occupies a slot until its get returns.
    events = _order_of_events(model._fifo, capacity)
    assert events.index("got 0") < events.index(f"put {capacity}")
    # trio's channel alone lets the put of item Q return first: Q + 1 items in flight.
    loose = _order_of_events(_raw_channel, capacity)
    assert loose.index(f"put {capacity}") < loose.index("got 0")


@needs_thread_switches
@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_the_contract_catches_trios_channel_without_the_slots(
    monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    monkeypatch.setattr(model, "_fifo", _raw_channel)
    counts = measure(MODEL, *size)
    assert counts.peak_in_flight == size[0] + 1
    with pytest.raises(AssertionError, match="expected"):
        check_contract("trio's channel alone", counts)


@needs_thread_switches
def test_the_contract_catches_a_fifo_that_yields_where_it_need_not_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Producer and consumer then alternate in trio's random batch order: at Q = 64 a peak of
    # 64 in flight would need 63 coin flips in a row to go the producer's way.
    monkeypatch.setattr(model, "_fifo", _always_awaiting)
    counts = measure(MODEL, *SIZES[1])
    assert counts.peak_in_flight < SIZES[1][0]
    with pytest.raises(AssertionError, match="expected"):
        check_contract("trio with plain awaits", counts)


def test_bounded_fifo_blocks_producers_and_sends_one_sentinel_per_consumer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorders: list[FifoRecorder] = []
    real_fifo = model._fifo

    def recording_fifo(capacity: int) -> Fifo:
        recorder = FifoRecorder(capacity)
        recorders.append(recorder)
        return recorder.recording(*real_fifo(capacity))

    monkeypatch.setattr(model, "_fifo", recording_fifo)
    _run(ProducerConsumer(producers=2, consumers=3, capacity=2, items=30))
    (fifo,) = recorders
    assert_items_then_one_sentinel_per_consumer(fifo, capacity=2, items=30, consumers=3)


def test_sleep_is_trios_not_time_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(seconds: float) -> None:
        raise AssertionError("time.sleep would block the run loop")

    monkeypatch.setattr(time, "sleep", forbidden)
    _run(FanOut(tasks=4, work="sleep", delay_ms=1.0))


def test_a_failure_is_raised_as_itself_and_ends_the_run() -> None:
    nothing_left = NothingLeft()
    spec = FailingConsumption(producers=2, consumers=1, capacity=1, items=20)
    # Not the nursery's exception group: the cell must see (and classify) the error itself.
    with pytest.raises(ArithmeticError, match="consumer failed"):
        _run(spec)
    _assert_outside_any_run()
    nothing_left.check()
    _run(Spawn(tasks=3))
