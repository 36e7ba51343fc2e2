"""The generators model and its round-robin scheduler (bench.models._gensched)."""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import Any

import pytest

from bench.meters import Clock
from bench.models import _gensched, generators
from bench.models._gensched import Event, Fifo, Scheduler, TaskBody, sleep
from bench.workloads import PAYLOAD, Memory, PingPong, ProducerConsumer, Spawn
from tests.helpers import FakeClock, PeakDeque, RegionWatch, StateMeter


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
    outcome = generators.pingpong(PingPong(rounds=3), meter)
    assert outcome == (6, (6,))
    assert states == [inspect.GEN_SUSPENDED, inspect.GEN_SUSPENDED]
    assert inspect.getgeneratorstate(made[0]) == inspect.GEN_CLOSED


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


def test_a_put_hands_the_item_to_a_parked_getter() -> None:
    scheduler = Scheduler()
    fifo: Fifo[str | None] = Fifo(1)
    received: list[str | None] = []

    def consumer() -> TaskBody[None]:
        received.append((yield fifo.get()))

    def producer() -> TaskBody[None]:
        yield fifo.put(None)  # None is an item like any other, not "parked"
        yield fifo.put("second")

    scheduler.spawn(consumer())
    scheduler.spawn(consumer())
    scheduler.run()
    assert len(fifo.getters) == 2
    scheduler.spawn(producer())
    scheduler.run()
    assert received == [None, "second"]
    assert len(fifo) == 0


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
    outcome = generators.producer_consumer(spec, meter)
    assert watch.consumed_outside == []
    assert (
        outcome.checksum
        == ProducerConsumer(producers=2, consumers=3, capacity=3, items=50).reference()
    )
    peak_deque = fifos[0].items
    assert isinstance(peak_deque, PeakDeque) and peak_deque.peak == 3


def test_spawn_and_memory_count_their_own_tasks() -> None:
    assert generators.spawn(Spawn(tasks=3), Clock()).checksum == (3, 6, 14)
    outcome = generators.memory(Memory(tasks=4), Clock())
    assert outcome.ops == 4 and outcome.checksum == (4, 6, 14)


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
