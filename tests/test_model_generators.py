"""The generators model and its round-robin scheduler (bench.models._gensched)."""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import Any

import pytest

from bench.measure.cells import Cell, CellError, run_cell
from bench.measure.meters import Clock
from bench.models import _gensched, generators
from bench.models._gensched import Event, Fifo, Scheduler, TaskBody, sleep
from bench.registry import get_model
from bench.spec.workloads import PAYLOAD, PingPong, ProducerConsumer
from tests.helpers import FakeClock, PeakDeque, RegionWatch, StateMeter, call_model
from tests.pingpong_faults import FAULTS, FAULTY_ROUND, SPEC, Fault


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(_gensched, "time", fake)
    return fake


def test_pingpong_generator_is_started_before_the_region_and_closed_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[Generator[int, int, None]] = []
    real_ponger = generators._ponger

    def recording_ponger() -> Generator[int, int, None]:
        ponger = real_ponger()
        made.append(ponger)
        return ponger

    monkeypatch.setattr(generators, "_ponger", recording_ponger)
    states: list[str] = []
    meter = StateMeter(
        lambda: states.append(inspect.getgeneratorstate(made[0])),
        lambda: states.append(inspect.getgeneratorstate(made[0])),
    )
    run_cell(Cell(get_model("generators"), PingPong(rounds=3)), meter)
    assert states == [inspect.GEN_SUSPENDED, inspect.GEN_SUSPENDED]
    assert inspect.getgeneratorstate(made[0]) == inspect.GEN_CLOSED


def _faulty_ponger(fault: Fault) -> Any:
    def ponger() -> Generator[object, int, None]:
        previous: object = -1
        token = yield previous
        while True:
            previous = fault(token, previous)
            token = yield previous

    return ponger


@pytest.mark.parametrize("fault", FAULTS)
def test_pingpong_fails_when_the_partner_does_not_yield_back_its_last_token(
    monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """A generator's send() cannot return without the generator having run, so the coordinator
    keeps the token that came back and checks the last one after the region (a comparison per
    round would cost more than the proof is worth). A fault in the last round shortens the
    count and fails the cell."""
    last = SPEC.rounds - 1

    def in_last_round(token: int, previous: object) -> object:
        return FAULTS[fault](FAULTY_ROUND, previous) if token == last else token

    monkeypatch.setattr(generators, "_ponger", _faulty_ponger(in_last_round))
    outcome = call_model("generators", SPEC, Clock())
    assert outcome == (2 * last, (2 * last,))
    with pytest.raises(CellError, match=f"counted {2 * last} operations"):
        run_cell(Cell(get_model("generators"), SPEC), Clock())


def test_fifo_parks_the_producer_at_capacity_and_keeps_order() -> None:
    scheduler = Scheduler()
    fifo: Fifo[int] = Fifo(2)
    put_done: list[int] = []

    def producer() -> TaskBody[None]:
        for number in range(5):
            yield fifo.put(number)
            put_done.append(number)

    scheduler.spawn(producer())
    scheduler.run()
    assert put_done == [0, 1]  # the third put is parked: backpressure
    assert len(fifo) == 2 and len(fifo.putters) == 1

    received: list[int] = []

    def consumer() -> TaskBody[None]:
        for _ in range(5):
            received.append((yield fifo.get()))

    scheduler.spawn(consumer())
    scheduler.run()
    assert received == [0, 1, 2, 3, 4]
    assert put_done == [0, 1, 2, 3, 4]
    assert len(fifo) == 0 and not fifo.putters and not fifo.getters


def test_a_put_wakes_a_parked_getter_and_its_item_holds_a_slot_until_the_getter_runs() -> None:
    scheduler = Scheduler()
    fifo: Fifo[str | None] = Fifo(1)
    events: list[str] = []

    def consumer() -> TaskBody[None]:
        for _ in range(2):
            events.append(f"got {(yield fifo.get())}")

    def producer() -> TaskBody[None]:
        for item in (None, "second"):  # None is an item like any other, not "parked"
            yield fifo.put(item)
            events.append(f"put {item}, {len(fifo)} held")

    scheduler.spawn(consumer())
    scheduler.run()
    assert len(fifo.getters) == 1
    scheduler.spawn(producer())
    scheduler.run()
    # Not handed past the FIFO: the first item fills the one slot, so the second put waits
    # until the consumer has run and taken it.
    assert events == ["put None, 1 held", "got None", "put second, 1 held", "got second"]
    assert len(fifo) == 0 and not fifo.getters and not fifo.putters


def test_a_woken_putter_takes_the_freed_slot_only_if_it_is_still_free_when_it_runs() -> None:
    scheduler = Scheduler()
    fifo: Fifo[str] = Fifo(1)
    done: list[str] = []

    def producer(*items: str) -> TaskBody[None]:
        for item in items:
            yield fifo.put(item)
            done.append(item)

    def consumer() -> TaskBody[None]:
        done.append(f"got {(yield fifo.get())}")

    scheduler.spawn(producer("a", "b"))
    scheduler.run()
    assert done == ["a"] and len(fifo.putters) == 1  # "b" waits for a slot
    # The get wakes the putter of "b"; a put that was ready before it takes the slot first, so
    # the putter of "b" finds the FIFO full again and parks anew, as in asyncio.Queue.
    scheduler.spawn(consumer())
    scheduler.spawn(producer("c"))
    scheduler.run()
    assert done == ["a", "got a", "c"]
    assert list(fifo.items) == ["c"] and len(fifo.putters) == 1
    scheduler.spawn(consumer())
    scheduler.run()
    assert done == ["a", "got a", "c", "got c", "b"]


def test_a_put_or_get_that_need_not_wait_does_not_leave_the_task() -> None:
    scheduler = Scheduler()
    fifo: Fifo[int] = Fifo(2)
    events: list[str] = []

    def busy() -> TaskBody[None]:
        yield fifo.put(1)
        yield fifo.put(2)
        events.append(f"busy got {(yield fifo.get())} and {(yield fifo.get())}")

    def other() -> TaskBody[None]:
        events.append("other ran")
        yield from ()

    scheduler.spawn(busy())
    scheduler.spawn(other())
    scheduler.run()
    assert events == ["busy got 1 and 2", "other ran"]


def test_timers_wake_in_deadline_order_and_the_scheduler_sleeps_instead_of_spinning(
    clock: FakeClock,
) -> None:
    scheduler = Scheduler()
    woke: list[tuple[float, float]] = []

    def sleeper(delay: float) -> TaskBody[None]:
        yield sleep(delay)
        woke.append((delay, clock.now))

    for delay in (0.3, 0.1, 0.2):
        scheduler.spawn(sleeper(delay))
    scheduler.run()
    assert [delay for delay, _ in woke] == [0.1, 0.2, 0.3]
    assert [now for _, now in woke] == pytest.approx([1000.1, 1000.2, 1000.3])
    assert clock.sleeps == pytest.approx([0.1, 0.1, 0.1])
    assert scheduler.pending_timers == 0


def test_ready_tasks_run_before_the_scheduler_sleeps(clock: FakeClock) -> None:
    scheduler = Scheduler()
    order: list[str] = []

    def sleeper() -> TaskBody[None]:
        yield sleep(1.0)
        order.append(f"sleeper at {clock.now - 1000.0:.1f}")

    def worker() -> TaskBody[None]:
        for step in range(3):
            order.append(f"worker {step}")
            yield sleep(0)

    scheduler.spawn(sleeper())
    scheduler.spawn(worker())
    scheduler.run()
    assert order == ["worker 0", "worker 1", "worker 2", "sleeper at 1.0"]


def test_event_set_from_outside_resumes_every_waiter_and_join_returns_results() -> None:
    scheduler = Scheduler()
    event = Event(scheduler)

    def waiter(number: int) -> TaskBody[int]:
        yield event.wait()
        return number * 10

    def joiner(tasks: list[_gensched.Task[int]]) -> TaskBody[list[int]]:
        results = []
        for task in tasks:
            results.append((yield task.join()))
        return results

    waiters = [scheduler.spawn(waiter(number)) for number in range(3)]
    gatherer = scheduler.spawn(joiner(waiters))
    scheduler.run()
    assert len(event.waiters) == 3 and not gatherer.done
    with pytest.raises(RuntimeError, match="not returned"):
        _ = gatherer.result
    event.set()
    scheduler.run()
    assert gatherer.result == [0, 10, 20]
    late = scheduler.spawn(waiter(7))
    scheduler.run()
    assert late.result == 70  # a set event no longer parks


def test_an_exception_in_a_task_propagates_out_of_run() -> None:
    scheduler = Scheduler()

    def broken() -> TaskBody[None]:
        yield sleep(0)
        raise ValueError("boom")

    scheduler.spawn(broken())
    with pytest.raises(ValueError, match="boom"):
        scheduler.run()


def test_producer_consumer_keeps_backpressure_and_consumes_only_inside_the_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fifos: list[Fifo[Any]] = []

    def recording_fifo(capacity: int) -> Fifo[Any]:
        fifo: Fifo[Any] = Fifo(capacity)
        fifo.items = PeakDeque()
        fifos.append(fifo)
        return fifo

    monkeypatch.setattr(generators, "Fifo", recording_fifo)
    watch = RegionWatch()
    spec = watch.spec(producers=2, consumers=3, capacity=3, items=50)
    meter = watch.meter
    outcome = call_model("generators", spec, meter)
    assert watch.consumed_outside == []
    assert (
        outcome.checksum
        == ProducerConsumer(producers=2, consumers=3, capacity=3, items=50).reference()
    )
    peak_deque = fifos[0].items
    assert isinstance(peak_deque, PeakDeque) and peak_deque.peak == 3


def test_trivial_task_is_a_generator_that_returns_at_once() -> None:
    task = generators._trivial(41)
    assert inspect.isgenerator(task)
    with pytest.raises(StopIteration) as stop:
        next(task)
    assert stop.value.value == 42


def test_payload_travels_with_each_item() -> None:
    scheduler = Scheduler()
    fifo: Fifo[generators.Item] = Fifo(4)
    gate = Event(scheduler)
    gate.set()
    producer = scheduler.spawn(generators._producer(fifo, range(0, 6, 2), gate))
    scheduler.run()
    assert producer.done
    assert list(fifo.items) == [(0, PAYLOAD), (2, PAYLOAD), (4, PAYLOAD)]
