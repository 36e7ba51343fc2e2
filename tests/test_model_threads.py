"""threads: real OS threads, a FIFO that really applies backpressure, regions without set-up.
(That no thread outlives a call is a contract of every model: tests/test_contract.py.)"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from bench.measure.cells import Cell, CellError, run_cell
from bench.measure.meters import Clock
from bench.models import threads
from bench.registry import get_model
from bench.spec.workloads import FanOut, Memory, PingPong, ProducerConsumer, Spawn, Spec
from tests.helpers import SnapshotMeter

MODEL = get_model("threads")


def _run(spec: Spec, meter: Clock | None = None) -> None:
    run_cell(Cell(MODEL, spec), meter or Clock())


def _native_ids() -> list[int | None]:
    return [thread.native_id for thread in threading.enumerate()]


def test_parked_tasks_are_distinct_os_threads() -> None:
    probe = SnapshotMeter(_native_ids)
    _run(Memory(tasks=8), probe)
    assert probe.at_start == [threading.get_native_id()]
    ids = probe.at_stop
    assert None not in ids
    assert len(set(ids)) == len(ids) == 8 + 1


def test_pingpong_partner_is_started_before_the_region() -> None:
    probe = SnapshotMeter(threading.active_count)
    _run(PingPong(rounds=3), probe)
    assert probe.at_start == 2


class _LockThatDoesNotWait:
    """A broken lock: acquire returns at once, whoever holds it."""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return True

    def release(self) -> None:
        return None


class _PartnerThatNeverRuns:
    """A thread whose target never runs: nobody takes the partner's turns."""

    def __init__(self, target: Callable[[], None], name: str, daemon: bool) -> None:
        self.target = target

    def start(self) -> None:
        return None

    def join(self, timeout: float | None = None) -> None:
        return None


class _PartnerRunAtOnce(_PartnerThatNeverRuns):
    """A thread whose target runs to its end inside start(), before the coordinator's turn."""

    def start(self) -> None:
        self.target()


def _break_pingpong(monkeypatch: pytest.MonkeyPatch, thread_class: type[object]) -> None:
    monkeypatch.setattr(
        threads, "threading", SimpleNamespace(Lock=_LockThatDoesNotWait, Thread=thread_class)
    )


def test_pingpong_fails_when_waits_return_without_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _break_pingpong(monkeypatch, threading.Thread)
    with pytest.raises(CellError, match="a switch did not happen"):
        _run(PingPong(rounds=50))
    assert threading.active_count() == 1


def test_pingpong_coordinator_fails_when_its_token_does_not_come_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _break_pingpong(monkeypatch, _PartnerThatNeverRuns)
    with pytest.raises(CellError, match="the coordinator found token -1 where it expected 0,"):
        _run(PingPong(rounds=3))


def test_pingpong_partner_fails_when_it_finds_no_new_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _break_pingpong(monkeypatch, _PartnerRunAtOnce)
    with pytest.raises(CellError, match="the partner found token -1 where it expected a token af"):
        _run(PingPong(rounds=3))


def test_producers_and_consumers_are_started_before_the_region() -> None:
    spec = ProducerConsumer(producers=2, consumers=3, capacity=2, items=11)
    probe = SnapshotMeter(threading.active_count)
    _run(spec, probe)
    assert probe.at_start == 1 + 2 + 3


@pytest.mark.parametrize("spec", [FanOut(tasks=4, work="sleep", delay_ms=0.1), Spawn(tasks=4)])
def test_fan_out_and_spawn_launch_and_join_their_threads_inside_the_region(spec: Spec) -> None:
    probe = SnapshotMeter(threading.active_count)
    _run(spec, probe)
    assert (probe.at_start, probe.at_stop) == (1, 1)


class _RecordingFifo(queue.Queue[Any]):
    """A queue.Queue that holds its consumers back until a producer has found it full, so the
    test sees backpressure without depending on how the OS schedules the threads."""

    created: ClassVar[list[_RecordingFifo]] = []

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.found_full = threading.Event()
        self.high_water = 0
        _RecordingFifo.created.append(self)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if self.full():
            self.found_full.set()
        super().put(item, block, timeout)
        self.high_water = max(self.high_water, self.qsize())

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        assert self.found_full.wait(timeout=5), "no producer ever found the FIFO full"
        return super().get(block, timeout)


def test_full_fifo_blocks_the_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    _RecordingFifo.created.clear()
    fake_queue_module = SimpleNamespace(Queue=_RecordingFifo, SimpleQueue=queue.SimpleQueue)
    monkeypatch.setattr(threads, "queue", fake_queue_module)
    _run(ProducerConsumer(producers=1, consumers=2, capacity=3, items=20))
    (fifo,) = _RecordingFifo.created
    assert fifo.maxsize == 3
    assert fifo.found_full.is_set()
    assert fifo.high_water == 3
