"""The greenlet model and its hub (bench.models._greensched)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import greenlet
import pytest

import bench.models.greenlet as greenlet_model
from bench.measure.cells import Cell, CellError, run_cell
from bench.measure.meters import Clock, Outcome
from bench.models import _greensched
from bench.models._greensched import Event, Fifo, Hub
from bench.registry import get_model
from bench.spec.workloads import FanOut, Memory, PingPong, ProducerConsumer, Spawn, Spec
from tests.helpers import FakeClock, PeakDeque, RegionWatch, StateMeter, call_model

MODEL = get_model("greenlet")


def _run(spec: Spec, meter: Clock | None = None) -> Outcome:
    return run_cell(Cell(MODEL, spec), meter or Clock())


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(_greensched, "time", fake)
    return fake


@pytest.fixture
def hub() -> Iterator[Hub]:
    new_hub = Hub()
    yield new_hub
    new_hub.close()


def _live_greenlets() -> list[Any]:
    """Started, unfinished greenlets other than the current one (the main greenlet here)."""
    gc.collect()
    current = greenlet.getcurrent()
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, greenlet.greenlet) and obj and obj is not current
    ]


def test_model_imports_the_real_greenlet_library() -> None:
    # bench/models/greenlet.py must not shadow the library it is named after.
    assert vars(greenlet_model)["greenlet"] is sys.modules["greenlet"]
    assert vars(_greensched)["greenlet"] is sys.modules["greenlet"]
    assert Path(greenlet.__file__).parent.name == "greenlet"
    assert "bench" not in Path(greenlet.__file__).parts
    assert greenlet_model.MODEL.requires == ("greenlet",)


def _partner_of_this_call(before: list[Any]) -> Any:
    (partner,) = [candidate for candidate in _live_greenlets() if candidate not in before]
    return partner


def test_pingpong_switches_between_two_greenlets_started_before_the_region() -> None:
    before = _live_greenlets()
    seen: list[Any] = []
    meter = StateMeter(
        lambda: seen.append(_partner_of_this_call(before)),
        lambda: seen.append(_partner_of_this_call(before)),
    )
    _run(PingPong(rounds=3), meter)
    # One partner, alive (started, parked) at both ends of the region, ended after it.
    assert seen[0] is seen[1] and seen[0] is not greenlet.getcurrent()
    assert seen[0].dead


def test_pingpong_fails_when_a_switch_returns_without_reaching_the_partner() -> None:
    # A switch to a dead greenlet returns at once: the partner dies as the region starts.
    before = _live_greenlets()

    def kill_partner() -> None:
        _partner_of_this_call(before).throw()

    with pytest.raises(CellError, match="the coordinator found token -1 where it expected 0,"):
        _run(PingPong(rounds=3), StateMeter(kill_partner))
    assert _live_greenlets() == before


def test_pingpong_fails_when_the_partner_is_resumed_without_a_new_token() -> None:
    before = _live_greenlets()

    def wake_partner() -> None:
        _partner_of_this_call(before).switch()

    with pytest.raises(CellError, match="the partner found token -1 where it expected a token af"):
        _run(PingPong(rounds=3), StateMeter(wake_partner))
    assert _live_greenlets() == before


@pytest.mark.parametrize(
    "spec",
    [
        PingPong(rounds=3),
        ProducerConsumer(producers=2, consumers=2, items=9),
        FanOut(tasks=4, work="sleep", delay_ms=0.1),
        Spawn(tasks=4),
        Memory(tasks=4),
    ],
    ids=lambda spec: spec.workload,
)
def test_a_call_leaves_no_greenlet_alive(spec: Spec) -> None:
    before = _live_greenlets()
    _run(spec)
    # Other models' greenlets (gevent's per-thread hub) may live on; this call adds none.
    assert _live_greenlets() == before


def test_tasks_run_in_their_own_greenlets_under_the_hub(hub: Hub) -> None:
    def whoami() -> Any:
        return greenlet.getcurrent()

    tasks = [hub.spawn(whoami) for _ in range(3)]
    hub.run()
    runners = [task.result for task in tasks]
    assert len({id(runner) for runner in runners}) == 3
    assert greenlet.getcurrent() not in runners
    assert all(runner is task and task.dead for runner, task in zip(runners, tasks, strict=True))
    # Children of the hub greenlet, so a task that returns lands back in the hub's loop.
    assert {id(task.parent) for task in tasks} == {id(tasks[0].parent)}
    assert tasks[0].parent is not greenlet.getcurrent()


def test_fifo_parks_the_producer_at_capacity_and_keeps_order(hub: Hub) -> None:
    fifo: Fifo[int] = Fifo(hub, 2)
    put_done: list[int] = []

    def producer() -> None:
        for number in range(5):
            fifo.put(number)
            put_done.append(number)

    hub.spawn(producer)
    hub.run()
    assert put_done == [0, 1]  # the third put is parked: backpressure
    assert len(fifo) == 2 and fifo.waiting_putters == 1

    def consumer() -> list[int]:
        return [fifo.get() for _ in range(5)]

    received = hub.spawn(consumer)
    hub.run()
    assert received.result == [0, 1, 2, 3, 4]
    assert put_done == [0, 1, 2, 3, 4]
    assert len(fifo) == 0 and fifo.waiting_putters == 0


def test_a_put_wakes_a_parked_getter_without_switching_and_its_item_holds_a_slot(
    hub: Hub,
) -> None:
    fifo: Fifo[str | None] = Fifo(hub, 1)
    events: list[str] = []

    def consumer() -> None:
        for _ in range(2):
            events.append(f"got {fifo.get()}")

    def producer() -> None:
        for item in (None, "second"):
            fifo.put(item)
            events.append(f"put {item}, {len(fifo)} held")

    hub.spawn(consumer)
    hub.run()
    assert fifo.waiting_getters == 1
    hub.spawn(producer)
    hub.run()
    # The first put did not switch; its item filled the one slot rather than going straight to
    # the consumer, so the second put waited until the consumer had run and taken it.
    assert events == ["put None, 1 held", "got None", "put second, 1 held", "got second"]
    assert len(fifo) == 0 and fifo.waiting_getters == 0 and fifo.waiting_putters == 0


def test_a_woken_putter_takes_the_freed_slot_only_if_it_is_still_free_when_it_runs(
    hub: Hub,
) -> None:
    fifo: Fifo[str] = Fifo(hub, 1)
    done: list[str] = []

    def producer(*items: str) -> None:
        for item in items:
            fifo.put(item)
            done.append(item)

    def consumer() -> None:
        done.append(f"got {fifo.get()}")

    hub.spawn(producer, "a", "b")
    hub.run()
    assert done == ["a"] and fifo.waiting_putters == 1  # "b" waits for a slot
    # The get wakes the putter of "b"; a put that was ready before it takes the slot first, so
    # the putter of "b" finds the FIFO full again and parks anew, as in asyncio.Queue.
    hub.spawn(consumer)
    hub.spawn(producer, "c")
    hub.run()
    assert done == ["a", "got a", "c"]
    assert len(fifo) == 1 and fifo.waiting_putters == 1
    hub.spawn(consumer)
    hub.run()
    assert done == ["a", "got a", "c", "got c", "b"]


def test_timers_wake_in_deadline_order_and_the_hub_sleeps_instead_of_spinning(
    hub: Hub, clock: FakeClock
) -> None:
    woke: list[tuple[float, float]] = []

    def sleeper(delay: float) -> None:
        hub.sleep(delay)
        woke.append((delay, clock.now))

    for delay in (0.3, 0.1, 0.2):
        hub.spawn(sleeper, delay)
    hub.run()
    assert [delay for delay, _ in woke] == [0.1, 0.2, 0.3]
    assert [now for _, now in woke] == pytest.approx([1000.1, 1000.2, 1000.3])
    assert clock.sleeps == pytest.approx([0.1, 0.1, 0.1])
    assert hub.pending_timers == 0


def test_event_set_from_the_main_greenlet_resumes_waiters_and_join_returns_results(
    hub: Hub,
) -> None:
    event = Event(hub)

    def waiter(number: int) -> int:
        event.wait()
        return number * 10

    waiters = [hub.spawn(waiter, number) for number in range(3)]
    gatherer = hub.spawn(lambda: [hub.join(task) for task in waiters])
    hub.run()
    assert len(event.waiters) == 3 and not gatherer.done
    with pytest.raises(RuntimeError, match="not returned"):
        _ = gatherer.result
    event.set()
    hub.run()
    assert gatherer.result == [0, 10, 20]


def test_an_exception_in_a_task_propagates_out_of_run(hub: Hub) -> None:
    def broken() -> None:
        hub.sleep(0)
        raise ValueError("boom")

    hub.spawn(broken)
    with pytest.raises(ValueError, match="boom"):
        hub.run()
    assert not hub.started  # the hub loop ended with the exception


def test_parking_outside_run_with_nothing_to_wake_it_is_a_deadlock(hub: Hub) -> None:
    hub.run()  # start the hub
    fifo: Fifo[int] = Fifo(hub, 1)
    with pytest.raises(RuntimeError, match="deadlock"):
        fifo.get()


def test_producer_consumer_keeps_backpressure_and_consumes_only_inside_the_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fifos: list[Fifo[Any]] = []

    def recording_fifo(hub: Hub, capacity: int) -> Fifo[Any]:
        fifo: Fifo[Any] = Fifo(hub, capacity)
        fifo._items = PeakDeque()
        fifos.append(fifo)
        return fifo

    monkeypatch.setattr(greenlet_model, "Fifo", recording_fifo)
    watch = RegionWatch()
    spec = watch.spec(producers=2, consumers=3, capacity=3, items=50)
    meter = watch.meter
    outcome = call_model("greenlet", spec, meter)
    assert watch.consumed_outside == []
    reference = ProducerConsumer(producers=2, consumers=3, capacity=3, items=50).reference()
    assert outcome.checksum == reference
    peak_deque = fifos[0]._items
    assert isinstance(peak_deque, PeakDeque) and peak_deque.peak == 3


def test_memory_measures_while_every_greenlet_is_parked() -> None:
    baseline = len(_live_greenlets())
    live_at_start: list[int] = []
    live_at_stop: list[int] = []
    meter = StateMeter(
        lambda: live_at_start.append(len(_live_greenlets()) - baseline),
        lambda: live_at_stop.append(len(_live_greenlets()) - baseline),
    )
    _run(Memory(tasks=6), meter)
    # The hub alone at start (the warm-up greenlets have finished); the hub and 6 parked at stop.
    assert live_at_start == [1]
    assert live_at_stop == [7]
