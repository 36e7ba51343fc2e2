"""anyio-specific checks, on both backends: one anyio.run per call on the variant's backend,
parked tasks, a FIFO that keeps the suite's capacity where anyio's memory object stream alone
would not, and errors that come out as themselves."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import CodeType
from typing import Any

import pytest

from bench.measure.cells import Cell, CellError, run_cell
from bench.measure.latency import Recorder, StartClock
from bench.measure.meters import Clock, Outcome
from bench.planning import plan
from bench.registry import all_models, get_model
from bench.spec.models import DeclarationError, Model, VariantParameters
from bench.spec.workloads import SPECS, FanOut, Memory, PingPong, ProducerConsumer, Spawn, Spec
from tests.capacity_trace import (
    FIELDS,
    PROCESS,
    SIZES,
    SWITCHES,
    THREAD,
    Counts,
    Layout,
    Trace,
    analyse,
    check_contract,
    measure,
    recorded,
)
from tests.helpers import (
    TINY_MATRIX,
    FailingConsumption,
    NothingLeft,
    StateMeter,
    assert_items_then_one_sentinel_per_consumer,
    unless_available,
)
from tests.structured_fakes import (
    FifoRecorder,
    always_awaiting,
    channel_alone,
    events_that_do_not_wait,
    needs_thread_switches,
    size_id,
)

pytest.importorskip("anyio")

import anyio

from bench.models import _structured
from bench.models import anyio as model

PLAIN = get_model("anyio")
ON_TRIO = get_model("anyio[backend=trio]")
MODELS = [
    pytest.param(found, id=found.name, marks=unless_available(found)) for found in (PLAIN, ON_TRIO)
]
BACKENDS = [
    pytest.param(model.backend_of(found.parameters()), id=found.name, marks=unless_available(found))
    for found in (PLAIN, ON_TRIO)
]

Item = _structured.Item
MakeFifo = Callable[[int], Any]


def _run(model_: Model, spec: Spec, meter: Clock | None = None) -> Outcome:
    return run_cell(Cell(model_, spec), meter or Clock())


def _awaiting(coro: Any) -> Iterator[CodeType]:
    """The code of every coroutine (or generator) in the chain ``coro`` is suspended in."""
    while coro is not None:
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        if code is not None:
            yield code
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)


def _model_tasks() -> list[anyio.TaskInfo]:
    """The tasks the model started: the task groups of the task that calls the meter."""
    me = anyio.get_current_task().id
    return [task for task in anyio.get_running_tasks() if task.parent_id == me]


def _waits_on_an_event(task: anyio.TaskInfo) -> bool:
    """Started, and parked in the backend's Event.wait (not runnable after a checkpoint)."""
    event_wait = type(anyio.Event()).wait.__code__
    coro = task.coro
    return (
        coro is not None
        and inspect.getcoroutinestate(coro) == inspect.CORO_SUSPENDED  # type: ignore[arg-type]
        and event_wait in set(_awaiting(coro))
    )


def _assert_all_parked(expected: int) -> None:
    tasks = _model_tasks()
    assert len(tasks) == expected
    assert all(_waits_on_an_event(task) for task in tasks), [task.name for task in tasks]


def _running_backend() -> tuple[str, object]:
    """The backend of the running call and its loop (asyncio) or run's token (trio)."""
    try:
        return "asyncio", asyncio.get_running_loop()
    except RuntimeError:
        import trio

        return "trio", trio.lowlevel.current_trio_token()


def _assert_outside_any_run() -> None:
    with pytest.raises(RuntimeError):
        anyio.get_current_task()


def test_imports_resolve_to_the_real_anyio_and_are_lazy() -> None:
    # bench.models.anyio must not shadow the library, and must not import it at module level.
    code = (
        "import sys, bench.models.anyio as m; assert 'anyio' not in sys.modules; "
        "assert 'trio' not in sys.modules; "
        "import anyio; assert anyio is not m and hasattr(anyio, 'create_task_group'); "
        "assert 'bench' not in anyio.__file__, anyio.__file__"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_record_places_anyio_after_trio_and_before_gevent() -> None:
    ordered = sorted(all_models(), key=lambda found: found.order)
    names = [found.name for found in ordered]
    assert names.index("anyio") + 1 == names.index("anyio[backend=trio]")
    assert names.index("asyncio") < names.index("anyio") < names.index("gevent")
    if "trio" in names:
        assert names.index("trio") < names.index("anyio")
    others = [found for found in ordered if found.base != "anyio"]
    assert {PLAIN.order, ON_TRIO.order}.isdisjoint(found.order for found in others)
    assert {PLAIN.colour, ON_TRIO.colour}.isdisjoint(found.colour for found in others)
    assert (PLAIN.lightweight, PLAIN.parallel, PLAIN.task_noun) == (True, "never", "anyio task")
    assert (PLAIN.requires, PLAIN.libraries) == (("anyio",), ("anyio",))
    assert (ON_TRIO.requires, ON_TRIO.libraries) == (("anyio", "trio"), ("anyio", "trio"))
    default = {"pingpong", "producer_consumer", "spawn", "memory"}
    for found in (PLAIN, ON_TRIO):
        cells = plan([found], list(SPECS))
        assert {cell.spec.workload for cell in cells} == default
        # the capacity-1 pipeline only, of producer_consumer's entries
        pipelines = {cell.spec for cell in cells if cell.spec.workload == "producer_consumer"}
        assert pipelines == {ProducerConsumer(producers=1, consumers=1, capacity=1)}


def test_an_unknown_backend_is_a_declaration_error() -> None:
    with pytest.raises(DeclarationError, match="no backend named 'curio'; valid: asyncio, trio"):
        model.backend_of(VariantParameters({"backend": "curio"}))


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_call_runs_in_a_run_of_its_own_on_the_variants_backend(backend: str) -> None:
    found = PLAIN if backend == "asyncio" else ON_TRIO
    seen: list[tuple[str, object]] = []

    def record_run() -> None:
        seen.append(_running_backend())

    cells = plan([found], list(SPECS), TINY_MATRIX)
    nothing_left = NothingLeft()
    for cell in cells:
        run_cell(cell, StateMeter(record_run, record_run))
        _assert_outside_any_run()
    nothing_left.check()
    assert {name for name, _ in seen} == {backend}
    # The region started and stopped inside the call's own run; no two calls shared one.
    runs = [run for _, run in seen]
    assert runs[0::2] == runs[1::2]
    assert len({id(run) for run in runs[0::2]}) == len(cells)
    if backend == "asyncio":
        assert all(loop.is_closed() for loop in runs)  # type: ignore[attr-defined]


@pytest.mark.parametrize("found", MODELS)
def test_pingpong_partner_is_parked_before_the_region(found: Model) -> None:
    _run(found, PingPong(rounds=3), StateMeter(lambda: _assert_all_parked(1)))


_EventThatDoesNotWait, _EventThatDoesNotWaitForTheCoordinator = events_that_do_not_wait(
    anyio.Event, lambda: anyio.get_current_task().name or ""
)


@pytest.mark.parametrize("found", MODELS)
def test_pingpong_partner_fails_when_its_wait_returns_without_waiting(
    monkeypatch: pytest.MonkeyPatch, found: Model
) -> None:
    # The ponger takes its first step while the coordinator waits for it to park.
    monkeypatch.setattr(anyio, "Event", _EventThatDoesNotWait)
    with pytest.raises(CellError, match="the partner found token -1 where it expected a token af"):
        _run(found, PingPong(rounds=3))
    _assert_outside_any_run()


@pytest.mark.parametrize("found", MODELS)
def test_pingpong_coordinator_fails_when_its_wait_returns_without_waiting(
    monkeypatch: pytest.MonkeyPatch, found: Model
) -> None:
    monkeypatch.setattr(anyio, "Event", _EventThatDoesNotWaitForTheCoordinator)
    with pytest.raises(CellError, match="the coordinator found token -1 where it expected 0,"):
        _run(found, PingPong(rounds=3))
    _assert_outside_any_run()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_task_that_never_parks_fails_the_cell_instead_of_a_region_that_starts_early(
    backend: str,
) -> None:
    async def main() -> Outcome:
        gate, elsewhere = anyio.Event(), anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(gate.wait)
            group.start_soon(elsewhere.wait)
            try:
                await _structured.until_parked(model._library(), gate, 2)
            finally:
                gate.set()
                elsewhere.set()
        return Outcome(0, ())

    variant = VariantParameters({"backend": backend})
    with pytest.raises(CellError, match="only 1 of 2 tasks were parked before the region"):
        model._run(main, variant)


@pytest.mark.parametrize("found", MODELS)
def test_producers_and_consumers_are_parked_on_the_gate_before_the_region(found: Model) -> None:
    spec = ProducerConsumer(producers=3, consumers=2, capacity=2, items=10)
    _run(found, spec, StateMeter(lambda: _assert_all_parked(5)))


@pytest.mark.parametrize("spec", [FanOut(tasks=3, cpu_iterations=1), Spawn(tasks=3)])
@pytest.mark.parametrize("found", MODELS)
def test_tasks_are_launched_inside_the_region(found: Model, spec: FanOut | Spawn) -> None:
    def nothing_launched_yet() -> None:
        assert _model_tasks() == []

    _run(found, spec, StateMeter(nothing_launched_yet))


@pytest.mark.parametrize("found", MODELS)
def test_memory_measures_while_every_task_is_parked(found: Model) -> None:
    _run(found, Memory(tasks=7), StateMeter(at_stop=lambda: _assert_all_parked(7)))


def test_spawn_counts_the_results_its_tasks_delivered(monkeypatch: pytest.MonkeyPatch) -> None:
    async def loses_task_one(number: int, results: list[int]) -> None:
        if number != 1:
            results.append(number + 1)

    monkeypatch.setattr(_structured, "trivial", loses_task_one)
    with pytest.raises(CellError, match="counted 4 operations, the spec performs 5"):
        _run(PLAIN, Spawn(tasks=5))


@pytest.mark.parametrize("found", MODELS)
def test_sleep_is_anyios_not_time_sleep(monkeypatch: pytest.MonkeyPatch, found: Model) -> None:
    def forbidden(seconds: float) -> None:
        raise AssertionError("time.sleep would block the event loop")

    monkeypatch.setattr(time, "sleep", forbidden)
    _run(found, FanOut(tasks=4, work="sleep", delay_ms=1.0))


@pytest.mark.parametrize("found", MODELS)
def test_a_failure_is_raised_as_itself_and_ends_the_run(found: Model) -> None:
    nothing_left = NothingLeft()
    spec = FailingConsumption(producers=2, consumers=1, capacity=1, items=20)
    # Not the task group's exception group: the cell must see (and classify) the error itself.
    with pytest.raises(ArithmeticError, match="consumer failed"):
        _run(found, spec)
    _assert_outside_any_run()
    nothing_left.check()
    _run(found, Spawn(tasks=3))


# The FIFO: the suite's capacity, with anyio's memory object stream and a semaphore.


@contextmanager
def _stream_alone(capacity: int) -> Iterator[Any]:
    """anyio's memory object stream alone, of the suite's capacity (``channel_alone``)."""
    sender, receiver = anyio.create_memory_object_stream[Item](capacity)
    with sender, receiver:
        yield channel_alone(sender, receiver, anyio.WouldBlock)


@contextmanager
def _always_awaiting(capacity: int) -> Iterator[Any]:
    sender, receiver = anyio.create_memory_object_stream[Item](capacity)
    with sender, receiver:
        yield always_awaiting(anyio.Semaphore(capacity), sender, receiver)


def _order_of_events(make_fifo: MakeFifo, capacity: int, backend: str) -> list[str]:
    """One consumer parks in its get; the producer puts Q + 1 items: the order in which the
    consumer's first get and the producer's puts returned."""
    events: list[str] = []

    async def main() -> None:
        with make_fifo(capacity) as (put, get):

            async def consumer() -> None:
                await get()
                events.append("got 0")
                for _ in range(capacity):
                    await get()

            async with anyio.create_task_group() as group:
                group.start_soon(consumer)
                # Parked as a waiting receiver, past the checkpoint receive() begins with.
                while not (_model_tasks() and _waits_on_an_event(_model_tasks()[0])):
                    await anyio.sleep(0)
                for number in range(capacity + 1):
                    await put((number, b""))
                    events.append(f"put {number}")

    anyio.run(main, backend=backend)
    return events


@pytest.mark.parametrize("capacity", [1, 3])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_put_waits_while_q_items_are_put_and_not_taken_even_one_handed_over(
    backend: str, capacity: int
) -> None:
    # Item 0 goes straight to the waiting consumer, yet occupies a slot until its get returns.
    events = _order_of_events(model._fifo, capacity, backend)
    assert events.index("got 0") < events.index(f"put {capacity}")
    # The stream alone lets the put of item Q return first: Q + 1 items in flight.
    loose = _order_of_events(_stream_alone, capacity, backend)
    assert loose.index(f"put {capacity}") < loose.index("got 0")


def _counts(found: Model, capacity: int, items: int, consumers: int) -> Counts:
    """The capacity trace of a run with one producer and ``consumers`` consumers (like
    ``capacity_trace.measure``, which runs one consumer). Only its peak in flight is read: the
    blocking counts assume one consumer."""
    plain = ProducerConsumer(producers=1, consumers=consumers, capacity=capacity, items=items)
    layout = Layout(items, 1)
    events = layout.events
    with Recorder(FIELDS * events) as recorder:
        run_cell(Cell(found, recorded(plain, recorder)), StartClock(recorder, FIELDS * events))
        values = recorder.values
        trace = Trace(
            layout,
            recorder.read(0, events, "hook calls"),
            values[SWITCHES * events : (SWITCHES + 1) * events].tolist(),
            values[THREAD * events : (THREAD + 1) * events].tolist(),
            values[PROCESS * events : (PROCESS + 1) * events].tolist(),
        )
    return analyse(trace, capacity, gil_enabled=True)


@pytest.mark.parametrize(("capacity", "consumers"), [(1, 3), (4, 4)])
@pytest.mark.parametrize("found", MODELS)
def test_several_waiting_consumers_take_no_item_beyond_capacity(
    monkeypatch: pytest.MonkeyPatch, found: Model, capacity: int, consumers: int
) -> None:
    assert _counts(found, capacity, 200, consumers).peak_in_flight == capacity
    # The stream alone hands an item to each waiting consumer besides its Q buffer places.
    monkeypatch.setattr(model, "_fifo", _stream_alone)
    assert _counts(found, capacity, 200, consumers).peak_in_flight > capacity


@needs_thread_switches
@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_the_contract_catches_the_stream_without_the_slots_on_trio(
    monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    # trio runs a batch of ready tasks in either order, so the consumer parks in receive() and
    # is handed an item; on asyncio one consumer is never parked when an item comes.
    if unless_available(ON_TRIO):
        pytest.skip("anyio[backend=trio] is unavailable here")
    monkeypatch.setattr(model, "_fifo", _stream_alone)
    counts = measure(ON_TRIO, *size)
    assert counts.peak_in_flight == size[0] + 1
    with pytest.raises(AssertionError, match="expected"):
        check_contract("anyio's stream alone on trio", counts)


@needs_thread_switches
@pytest.mark.parametrize("found", MODELS)
def test_the_contract_catches_a_fifo_that_yields_where_it_need_not_wait(
    monkeypatch: pytest.MonkeyPatch, found: Model
) -> None:
    # The consumer then takes each item as soon as it is put: on asyncio always, on trio unless
    # 63 of its coin flips in a row went the producer's way.
    monkeypatch.setattr(model, "_fifo", _always_awaiting)
    counts = measure(found, *SIZES[1])
    assert counts.peak_in_flight < SIZES[1][0]
    with pytest.raises(AssertionError, match="expected"):
        check_contract("anyio with plain awaits", counts)


@pytest.mark.parametrize("found", MODELS)
def test_bounded_fifo_blocks_producers_and_sends_one_sentinel_per_consumer(
    monkeypatch: pytest.MonkeyPatch, found: Model
) -> None:
    recorders: list[FifoRecorder] = []
    real_fifo = model._fifo

    @contextmanager
    def recording_fifo(capacity: int) -> Iterator[Any]:
        recorder = FifoRecorder(capacity)
        recorders.append(recorder)
        with real_fifo(capacity) as fifo:
            yield recorder.recording(*fifo)

    monkeypatch.setattr(model, "_fifo", recording_fifo)
    _run(found, ProducerConsumer(producers=2, consumers=3, capacity=2, items=30))
    (fifo,) = recorders
    assert_items_then_one_sentinel_per_consumer(fifo, capacity=2, items=30, consumers=3)
