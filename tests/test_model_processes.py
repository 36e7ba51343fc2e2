"""processes: every start method works, tasks are real processes started before or inside the
region as the cell claims, fork leaves not even multiprocessing's helpers, and a dead child is an
error. (Every workload under the default start method, twice, leaving no child or thread: the
contract of every model, tests/test_contract.py.)"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

import psutil
import pytest

from bench.measure import mpcontext
from bench.measure.cells import Cell, run_cell
from bench.measure.meters import Clock
from bench.models import processes
from bench.registry import get_model
from bench.spec.workloads import FanOut, Memory, PingPong, ProducerConsumer, Spawn, Spec
from tests.helpers import TINY_SPECS, SnapshotMeter, spec_id, task_processes
from tests.pingpong_faults import FAULTS, Fault, assert_caught

MODEL = get_model("processes")
# The default start method runs every workload in the contract test of every model.
OTHER_METHODS = [m for m in mpcontext.available_methods() if m != mpcontext.default_method()]


def _task_pids() -> list[int]:
    return [proc.pid for proc in task_processes()]


def _start_method(request: pytest.FixtureRequest) -> Iterator[str]:
    previous = mpcontext.start_method()
    mpcontext.set_start_method(request.param)
    yield request.param
    mpcontext.set_start_method(previous)


@pytest.fixture(params=mpcontext.available_methods())
def start_method(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from _start_method(request)


@pytest.fixture(params=OTHER_METHODS)
def other_start_method(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from _start_method(request)


def _run(spec: Spec, meter: Clock | None = None) -> None:
    run_cell(Cell(MODEL, spec), meter or Clock())


def _assert_nothing_left() -> None:
    assert task_processes() == []
    # Python 3.12+ warns when fork() runs beside other threads: no feeder or pool thread stays.
    assert threading.active_count() == 1


@pytest.mark.slow  # every task an interpreter of its own
@pytest.mark.parametrize("spec", TINY_SPECS, ids=spec_id)
def test_every_other_start_method_runs_every_workload_and_leaves_nothing(
    other_start_method: str, spec: Spec
) -> None:
    _run(spec)
    _run(spec)
    _assert_nothing_left()


def test_fork_starts_no_lasting_child_at_all() -> None:
    if "fork" not in mpcontext.available_methods():
        pytest.skip("no fork on this platform")
    before = psutil.Process().children(recursive=True)
    previous = mpcontext.start_method()
    mpcontext.set_start_method("fork")
    try:
        for spec in TINY_SPECS:
            _run(spec)
    finally:
        mpcontext.set_start_method(previous)
    assert psutil.Process().children(recursive=True) == before


def test_parked_tasks_are_distinct_live_processes(start_method: str) -> None:
    probe = SnapshotMeter(_task_pids)
    _run(Memory(tasks=4), probe)
    assert probe.at_start == []  # the warm-up child finished before the region
    assert len(set(probe.at_stop)) == 4
    assert os.getpid() not in probe.at_stop


def test_pingpong_partner_is_started_before_the_region() -> None:
    probe = SnapshotMeter(_task_pids)
    _run(PingPong(rounds=3), probe)
    assert len(probe.at_start) == 1


def _faulty_partner(fault: Fault) -> Any:
    def partner(inbox: Connection, outbox: Connection, rounds: int) -> None:
        recv, send = inbox.recv_bytes, outbox.send_bytes
        send(b"")
        previous: object = -1
        for _ in range(rounds):
            (token,) = processes._TOKEN.unpack(recv())
            previous = fault(token, previous)
            send(b"" if previous is None else processes._TOKEN.pack(previous))

    return partner


@pytest.mark.parametrize("fault", FAULTS)
def test_pingpong_fails_when_the_partner_does_not_send_back_its_token(
    monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    if "fork" not in mpcontext.available_methods():
        pytest.skip("the faulty partner reaches the child by fork")
    monkeypatch.setattr(processes, "_pingpong_partner", _faulty_partner(FAULTS[fault]))
    previous = mpcontext.start_method()
    mpcontext.set_start_method("fork")
    try:
        assert_caught("processes", fault)
    finally:
        mpcontext.set_start_method(previous)
    _assert_nothing_left()


def test_producers_and_consumers_are_started_before_the_region() -> None:
    probe = SnapshotMeter(_task_pids)
    _run(ProducerConsumer(producers=2, consumers=3, capacity=2, items=11), probe)
    assert len(probe.at_start) == 2 + 3


def test_fan_out_pool_is_ready_before_the_region_and_gone_after() -> None:
    probe = SnapshotMeter(_task_pids)
    _run(FanOut(tasks=6, work="cpu", cpu_iterations=3), probe)
    assert len(probe.at_start) == os.cpu_count()
    _assert_nothing_left()


def test_spawn_starts_and_joins_its_processes_inside_the_region() -> None:
    probe = SnapshotMeter(_task_pids)
    _run(Spawn(tasks=4), probe)
    assert (probe.at_start, probe.at_stop) == ([], [])


class _RecordingContext:
    """Delegates to the real context and records the capacity of every Queue created."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.queue_sizes: list[int] = []

    def Queue(self, maxsize: int = 0) -> Any:
        self.queue_sizes.append(maxsize)
        return self.real.Queue(maxsize)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_fifo_is_one_queue_bounded_by_capacity(monkeypatch: pytest.MonkeyPatch) -> None:
    recording = _RecordingContext(mpcontext.context())
    monkeypatch.setattr(processes, "context", lambda: recording)
    _run(ProducerConsumer(producers=2, consumers=2, capacity=5, items=30))
    assert recording.queue_sizes == [5]


def _die(*args: Any) -> None:
    raise SystemExit(3)


@pytest.mark.parametrize(
    ("child_function", "spec"),
    [
        ("_pingpong_partner", PingPong(rounds=3)),
        ("_consume", ProducerConsumer(producers=2, consumers=2, capacity=1, items=9)),
        ("_spawned_task", Spawn(tasks=3)),
        ("_parked_task", Memory(tasks=3)),
    ],
)
def test_a_dead_child_is_an_error_not_a_hang(
    monkeypatch: pytest.MonkeyPatch, child_function: str, spec: Spec
) -> None:
    monkeypatch.setattr(processes, child_function, _die)
    with pytest.raises(processes.ChildFailed, match="exited with code 3"):
        _run(spec)
    _assert_nothing_left()
