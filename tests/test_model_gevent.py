"""gevent-specific checks: parked greenlets, a warm hub, real backpressure, no monkey-patching."""

from __future__ import annotations

import gc
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from bench.measure.cells import Cell, CellError, run_cell
from bench.measure.meters import Clock, Outcome
from bench.planning import plan
from bench.registry import get_model
from bench.spec.workloads import SPECS, FanOut, Memory, PingPong, ProducerConsumer, Spawn, Spec
from tests.helpers import (
    TINY_MATRIX,
    FailingConsumption,
    StateMeter,
    assert_items_then_one_sentinel_per_consumer,
    meter_for,
)

pytest.importorskip("gevent")

import gevent
import gevent.event
import greenlet
from gevent.queue import Queue


def _live_greenlets() -> list[greenlet.greenlet]:
    return [obj for obj in gc.get_objects() if isinstance(obj, greenlet.greenlet) and not obj.dead]


def _spawned_greenlets() -> list[gevent.Greenlet]:
    return [obj for obj in _live_greenlets() if isinstance(obj, gevent.Greenlet)]


def _assert_all_parked(expected: int) -> None:
    spawned = _spawned_greenlets()
    assert len(spawned) == expected
    # A greenlet that has run and is suspended has a frame; one only scheduled has none yet.
    assert all(g.gr_frame is not None for g in spawned)


def _assert_hub_running() -> None:
    hub = gevent.get_hub()
    assert hub.gr_frame is not None, "the hub has not started its loop yet"


MODEL = get_model("gevent")


def _run(spec: Spec, meter: Clock | None = None) -> Outcome:
    return run_cell(Cell(MODEL, spec), meter or Clock())


def test_imports_resolve_to_the_real_gevent_and_are_lazy() -> None:
    # bench.models.gevent must not shadow the library, and must not import it at module level.
    code = (
        "import sys, bench.models.gevent as m; assert 'gevent' not in sys.modules; "
        "import gevent; assert gevent is not m and hasattr(gevent, 'spawn'); "
        "assert 'bench' not in gevent.__file__, gevent.__file__"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pingpong_partner_is_parked_before_the_region() -> None:
    _run(PingPong(rounds=3), StateMeter(lambda: _assert_all_parked(1)))


class _EventThatDoesNotWait(gevent.event.Event):
    """A broken event: wait returns at once, set or not."""

    def wait(self, timeout: float | None = None) -> bool:
        return True


class _EventThatDoesNotWaitForTheCaller(gevent.event.Event):
    """A broken event for the greenlet that created it only (the coordinator, here)."""

    def __init__(self) -> None:
        super().__init__()
        self.creator = greenlet.getcurrent()

    def wait(self, timeout: float | None = None) -> bool:
        if greenlet.getcurrent() is self.creator:
            return True
        return bool(super().wait(timeout))


def _new_greenlets(before: set[int]) -> list[greenlet.greenlet]:
    gc.collect()
    return [g for g in _live_greenlets() if id(g) not in before and g is not gevent.get_hub()]


def test_pingpong_partner_fails_when_its_wait_returns_without_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The ponger runs first (when the coordinator yields to start it) and finds no token.
    before = {id(g) for g in _live_greenlets()}
    monkeypatch.setattr(gevent.event, "Event", _EventThatDoesNotWait)
    with pytest.raises(CellError, match="the partner found token -1 where it expected a token af"):
        _run(PingPong(rounds=3))
    assert _new_greenlets(before) == []


def test_pingpong_coordinator_fails_when_its_wait_returns_without_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = {id(g) for g in _live_greenlets()}
    monkeypatch.setattr(gevent.event, "Event", _EventThatDoesNotWaitForTheCaller)
    with pytest.raises(CellError, match="the coordinator found token -1 where it expected 0,"):
        _run(PingPong(rounds=3))
    assert _new_greenlets(before) == []


def test_producers_and_consumers_are_parked_on_the_gate_before_the_region() -> None:
    spec = ProducerConsumer(producers=3, consumers=2, capacity=2, items=10)
    _run(spec, StateMeter(lambda: _assert_all_parked(5)))


def _in_fresh_thread(call: Callable[[], object]) -> None:
    """Run ``call`` in a new thread, which has no hub yet (hubs are per thread)."""
    errors: list[BaseException] = []

    def body() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)
        finally:
            gevent.get_hub().destroy(destroy_loop=True)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


@pytest.mark.parametrize(
    "spec",
    [
        PingPong(rounds=2),
        ProducerConsumer(producers=1, consumers=1, capacity=1, items=3),
        FanOut(tasks=3, cpu_iterations=1),
        Spawn(tasks=3),
        Memory(tasks=2),
    ],
    ids=lambda spec: spec.workload,
)
def test_a_new_hub_is_started_before_the_region(spec: Spec) -> None:
    _in_fresh_thread(lambda: _run(spec, StateMeter(_assert_hub_running)))


@pytest.mark.parametrize("spec", [FanOut(tasks=3, cpu_iterations=1), Spawn(tasks=3)])
def test_tasks_are_launched_inside_the_region(spec: FanOut | Spawn) -> None:
    def nothing_spawned_yet() -> None:
        assert _spawned_greenlets() == []

    _run(spec, StateMeter(nothing_spawned_yet))


def test_memory_measures_while_every_task_is_parked() -> None:
    _run(Memory(tasks=7), StateMeter(at_stop=lambda: _assert_all_parked(7)))


class RecordingQueue(Queue):
    """gevent's Queue, recording every put and whether it had to wait for room."""

    instances: list[RecordingQueue] = []  # noqa: RUF012 - a test-local registry

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize=maxsize)
        self.puts: list[object] = []
        self.blocked_puts = 0
        self.peak = 0
        RecordingQueue.instances.append(self)

    def put(self, item: object, block: bool = True, timeout: float | None = None) -> None:
        self.blocked_puts += self.full()
        super().put(item, block, timeout)
        self.puts.append(item)
        self.peak = max(self.peak, self.qsize())


def test_bounded_fifo_blocks_producers_at_capacity(monkeypatch: pytest.MonkeyPatch) -> None:
    RecordingQueue.instances.clear()
    monkeypatch.setattr(gevent.queue, "Queue", RecordingQueue)
    spec = ProducerConsumer(producers=2, consumers=3, capacity=2, items=30)
    _run(spec)
    (fifo,) = RecordingQueue.instances
    assert_items_then_one_sentinel_per_consumer(fifo, capacity=2, items=30, consumers=3)


def test_sleep_is_gevents_not_time_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(seconds: float) -> None:
        raise AssertionError("time.sleep would block the hub")

    monkeypatch.setattr(time, "sleep", forbidden)
    _run(FanOut(tasks=4, work="sleep", delay_ms=1.0))


def test_a_failure_leaves_no_greenlet_behind() -> None:
    before = {id(g) for g in _live_greenlets()}
    spec = FailingConsumption(producers=2, consumers=1, capacity=1, items=20)
    # The hub reports the consumer's traceback; with everyone else blocked, gevent raises LoopExit.
    with pytest.raises(gevent.exceptions.LoopExit):
        _run(spec)
    assert [g for g in _live_greenlets() if id(g) not in before and g is not gevent.get_hub()] == []
    # The hub survives the failure: the next call works.
    _run(Spawn(tasks=3))


def test_every_cell_leaves_no_greenlet_behind_and_patches_nothing() -> None:
    before = {id(g) for g in _live_greenlets()}
    for cell in plan([MODEL], list(SPECS), TINY_MATRIX):
        run_cell(cell, meter_for(MODEL, cell.spec))
        gc.collect()
        leftover = [g for g in _live_greenlets() if id(g) not in before]
        assert leftover in ([], [gevent.get_hub()]), cell.name

    from gevent import monkey

    assert not monkey.saved
    for name in ("threading", "socket", "time", "select", "os", "thread"):
        assert not monkey.is_module_patched(name), name
    assert time.sleep.__module__ == "time"
    assert socket.socket.__module__ == "socket"
    assert type(threading.Lock()).__module__ == "_thread"
    assert threading.current_thread() is threading.main_thread()
    # The hub must not take over SIGCHLD: the processes model reaps its own children.
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL
