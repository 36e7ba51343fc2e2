"""threads: real OS threads, a FIFO that really applies backpressure, regions without set-up;
the variants: an executor whose workers start before the region, a switch interval in effect
only for the call, threads pinned where the placement says. (That no thread outlives a call is
a contract of every model: tests/test_contract.py.)"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from bench.measure.cells import Cell, CellError, ResourceLimitError, run_cell
from bench.measure.meters import Clock
from bench.models import threads
from bench.planning import plan
from bench.registry import all_models, get_model
from bench.spec.models import VariantParameters
from bench.spec.workloads import (
    DEFAULT_MATRIX,
    PARALLEL_SPECS,
    SPECS,
    FanOut,
    Memory,
    PingPong,
    ProducerConsumer,
    Spawn,
    Spec,
)
from runners.verdict import Skipped, verdict_of
from tests.helpers import SnapshotMeter, confined_to_one_cpu, needs_affinity

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


# The variants (the module's docstring): what each changes, seen from inside its region.


def _interval_inside_and_after(name: str, spec: Spec) -> tuple[float, float, float]:
    """The switch interval at the region's start and stop, and after the call."""
    probe = SnapshotMeter(sys.getswitchinterval)
    run_cell(Cell(get_model(name), spec), probe)
    return probe.at_start, probe.at_stop, sys.getswitchinterval()


def _assert_interval_applied(name: str, spec: Spec, milliseconds: float) -> None:
    before = sys.getswitchinterval()
    start, stop, after = _interval_inside_and_after(name, spec)
    seconds = milliseconds / 1000
    assert (start, stop) == pytest.approx((seconds, seconds)), f"{name}: not in effect"
    assert after == before, f"{name}: left the interval at {after} s, not {before} s"


SWITCH_SPECS = [PingPong(rounds=3), ProducerConsumer(producers=1, consumers=2, capacity=2, items=9)]


@pytest.mark.parametrize("spec", SWITCH_SPECS, ids=lambda spec: spec.workload)
@pytest.mark.parametrize("milliseconds", [0.1, 1, 20])
def test_the_switch_interval_is_in_effect_inside_the_region_and_restored_after(
    spec: Spec, milliseconds: float
) -> None:
    _assert_interval_applied(f"threads[switch_interval={milliseconds:g}]", spec, milliseconds)


@pytest.mark.parametrize("spec", SWITCH_SPECS, ids=lambda spec: spec.workload)
def test_the_plain_model_runs_at_the_interval_it_finds(spec: Spec) -> None:
    before = sys.getswitchinterval()
    assert _interval_inside_and_after("threads", spec) == (before, before, before)
    with pytest.raises(AssertionError):
        _assert_interval_applied("threads", spec, 0.1)


def test_the_switch_interval_is_restored_after_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    before = sys.getswitchinterval()
    _break_pingpong(monkeypatch, _PartnerThatNeverRuns)
    with pytest.raises(CellError, match="the coordinator found token -1"):
        run_cell(Cell(get_model("threads[switch_interval=0.1]"), PingPong(rounds=3)), Clock())
    assert sys.getswitchinterval() == before


def test_an_interval_left_behind_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextlib.contextmanager
    def set_and_keep(variant: VariantParameters) -> Iterator[None]:
        sys.setswitchinterval(variant.number("switch_interval", 5) / 1000)
        yield

    before = sys.getswitchinterval()
    monkeypatch.setattr(threads, "_switch_interval", set_and_keep)
    try:
        with pytest.raises(AssertionError, match=r"switch_interval=0\.1\]: left the interval at"):
            _assert_interval_applied("threads[switch_interval=0.1]", PingPong(rounds=3), 0.1)
    finally:
        sys.setswitchinterval(before)


class _AffinityLock:
    """A real lock that notes, at every acquire, which OS thread acquires it and the CPUs that
    thread may run on: pingpong's two sides both acquire, so this reads inside each of them."""

    seen: ClassVar[list[tuple[int, frozenset[int]]]] = []

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        _AffinityLock.seen.append((threading.get_native_id(), frozenset(os.sched_getaffinity(0))))
        return self.lock.acquire(blocking, timeout)

    def release(self) -> None:
        self.lock.release()


def _masks_seen(monkeypatch: pytest.MonkeyPatch, name: str) -> tuple[set[int], set[int]]:
    """pingpong run by model ``name``: the CPUs the coordinator and the partner could run on,
    read from inside each; the coordinator's mask afterwards must be the one it had before."""
    _AffinityLock.seen.clear()
    fake = SimpleNamespace(Lock=_AffinityLock, Thread=threading.Thread)
    monkeypatch.setattr(threads, "threading", fake)
    before = os.sched_getaffinity(0)
    run_cell(Cell(get_model(name), PingPong(rounds=3)), Clock())
    assert os.sched_getaffinity(0) == before
    me = threading.get_native_id()
    by_thread: dict[int, set[frozenset[int]]] = {}
    for thread_id, mask in _AffinityLock.seen:
        by_thread.setdefault(thread_id, set()).add(mask)
    assert len(by_thread) == 2 and me in by_thread
    ((partner_masks,),) = [masks for thread_id, masks in by_thread.items() if thread_id != me]
    (coordinator_mask,) = by_thread[me]
    return set(coordinator_mask), set(partner_masks)


@needs_affinity
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("threads[placement=same]", lambda cpus: ({cpus[0]}, {cpus[0]})),
        ("threads[placement=spread]", lambda cpus: ({cpus[0]}, {cpus[1]})),
        ("threads", lambda cpus: (set(cpus), set(cpus))),  # the probe sees an unpinned pair
    ],
)
def test_placement_pins_both_threads_as_claimed(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    expected: Callable[[list[int]], tuple[set[int], set[int]]],
) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two usable CPUs")
    assert _masks_seen(monkeypatch, name) == expected(cpus)


@needs_affinity
def test_spread_on_one_usable_cpu_is_skipped_not_measured_unpinned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with confined_to_one_cpu() as cpu:
        with pytest.raises(ResourceLimitError, match=f"it may use only CPU {cpu}") as error:
            run_cell(Cell(get_model("threads[placement=spread]"), PingPong(rounds=3)), Clock())
        assert threading.active_count() == 1
        verdict = verdict_of(error.value)
        assert isinstance(verdict, Skipped)
        assert verdict.reason.startswith("resource limit: placement=spread needs two CPUs")
        # One CPU is all that same needs.
        assert _masks_seen(monkeypatch, "threads[placement=same]") == ({cpu}, {cpu})


def test_placement_without_sched_setaffinity_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_setaffinity", raising=False)
    for name in ("threads[placement=same]", "threads[placement=spread]"):
        with pytest.raises(ResourceLimitError, match="this platform does not have"):
            run_cell(Cell(get_model(name), PingPong(rounds=3)), Clock())
    assert threading.active_count() == 1


@needs_affinity
def test_a_partner_that_cannot_be_pinned_fails_the_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.sched_setaffinity
    main = threading.main_thread()

    def refused_outside_the_main_thread(pid: int, cpus: Iterable[int]) -> None:
        if threading.current_thread() is not main:
            raise OSError(errno.EINVAL, "Invalid argument")
        real(pid, cpus)

    before = os.sched_getaffinity(0)
    monkeypatch.setattr(os, "sched_setaffinity", refused_outside_the_main_thread)
    probe = SnapshotMeter(threading.active_count)
    with pytest.raises(OSError, match="Invalid argument"):
        run_cell(Cell(get_model("threads[placement=spread]"), PingPong(rounds=3)), probe)
    assert probe.at_start is None  # the region never started
    assert (threading.active_count(), os.sched_getaffinity(0)) == (1, before)


class _CountingPool(ThreadPoolExecutor):
    """A ThreadPoolExecutor that notes its size and counts the calls submitted to it."""

    created: ClassVar[list[_CountingPool]] = []
    # Workers a broken pool starts instead of the number asked for (None: as asked).
    start_only: ClassVar[int | None] = None

    def __init__(self, max_workers: int, thread_name_prefix: str = "") -> None:
        self.asked = max_workers
        self.submits = 0
        super().__init__(self.start_only or max_workers, thread_name_prefix)
        _CountingPool.created.append(self)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submits += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def counting_pool(monkeypatch: pytest.MonkeyPatch) -> type[_CountingPool]:
    _CountingPool.created.clear()
    monkeypatch.setattr(_CountingPool, "start_only", None)
    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", _CountingPool)
    return _CountingPool


def _threads_and_submits() -> tuple[int, int]:
    return threading.active_count(), sum(pool.submits for pool in _CountingPool.created)


POOL_SPECS = [FanOut(tasks=7, work="sleep", delay_ms=0.1), Spawn(tasks=40)]


@pytest.mark.parametrize("spec", POOL_SPECS, ids=lambda spec: spec.workload)
def test_the_pool_variant_submits_every_task_to_workers_started_before_the_region(
    counting_pool: type[_CountingPool], spec: FanOut | Spawn
) -> None:
    probe = SnapshotMeter(_threads_and_submits)
    run_cell(Cell(get_model("threads[executor=pool]"), spec), probe)
    (pool,) = counting_pool.created
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = spec.tasks if isinstance(spec, FanOut) else min(32, (usable or 1) + 4)
    assert pool.asked == workers
    # Every worker runs before the region (one warm-up call each); the region submits every
    # task and starts no thread; the pool is gone after the call.
    assert probe.at_start == (1 + workers, workers)
    assert probe.at_stop == (1 + workers, workers + spec.tasks)
    assert threading.active_count() == 1


@pytest.mark.parametrize("spec", POOL_SPECS, ids=lambda spec: spec.workload)
def test_the_plain_model_starts_a_thread_per_task_and_submits_nothing(
    counting_pool: type[_CountingPool], spec: FanOut | Spawn
) -> None:
    probe = SnapshotMeter(_threads_and_submits)
    run_cell(Cell(MODEL, spec), probe)
    assert counting_pool.created == []
    assert (probe.at_start, probe.at_stop) == ((1, 0), (1, 0))


def test_a_pool_short_of_workers_fails_before_its_region(
    counting_pool: type[_CountingPool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(counting_pool, "start_only", 2)
    monkeypatch.setattr(threads, "_POOL_START_SECONDS", 0.2)
    probe = SnapshotMeter(threading.active_count)
    with pytest.raises(CellError, match="did not run 4 warm-up calls at once"):
        # sleep: a worker per task (a cpu fan-out's pool has one per usable CPU)
        spec = FanOut(tasks=4, work="sleep", delay_ms=0.0)
        run_cell(Cell(get_model("threads[executor=pool]"), spec), probe)
    assert probe.at_start is None
    assert threading.active_count() == 1


def test_each_variant_is_in_the_default_matrix_for_its_workloads_only() -> None:
    rows: dict[str, set[str]] = {}
    for cell in plan(all_models(), list(SPECS), DEFAULT_MATRIX):
        if cell.model.base == "threads":
            rows.setdefault(cell.model.name, set()).add(cell.name.rpartition("/")[0])
    plain = rows.pop("threads")
    assert {row.partition("[")[0] for row in plain} == set(SPECS)
    pingpong = "pingpong[rounds=2000]"
    cpu_pipeline = next(row for row in plain if "producers=4" in row and "work=cpu" in row)
    parallel = {
        Cell(get_model("threads"), spec).name.rpartition("/")[0] for spec, _ in PARALLEL_SPECS
    }
    (parallel_fan_out,) = {row for row in parallel if row.startswith("fan_out")}
    no_work = next(
        row for row in plain if "capacity=64" in row and "producers=1" in row and "work=none" in row
    )
    assert parallel <= plain
    assert rows == {
        "threads[executor=pool]": {"spawn[tasks=100]", parallel_fan_out},
        "threads[executor=pool,gil=on]": {parallel_fan_out},
        # GIL-on twin: a switch, a pipeline, a thread's start and the parallel rows
        "threads[gil=on]": {pingpong, no_work, "spawn[tasks=100]", *parallel},
        "threads[switch_interval=0.1]": {pingpong, cpu_pipeline},
        "threads[switch_interval=1]": {pingpong, cpu_pipeline},
        "threads[switch_interval=20]": {pingpong, cpu_pipeline},
        "threads[placement=same]": {pingpong},
        "threads[placement=spread]": {pingpong},
    }
