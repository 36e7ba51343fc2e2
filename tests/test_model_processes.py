"""processes: every start method works, tasks are real processes started before or inside the
region as the cell claims, fork leaves not even multiprocessing's helpers, and a dead child is an
error. The variants: each start variant starts its children with its own method whatever the
run's, the pool variant runs its tasks on a ProcessPoolExecutor whose workers start before the
region, and the placement variants run the two pingpong processes on the CPUs they claim, or are
skipped. (Every workload under the default start method, twice, leaving no child or thread: the
contract of every model, tests/test_contract.py.)"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, ClassVar

import psutil
import pytest

from bench.measure import affinity, mpcontext
from bench.measure.affinity import placement_cpus
from bench.measure.cells import Cell, ResourceLimitError, run_cell
from bench.measure.meters import Clock
from bench.models import processes
from bench.planning import plan
from bench.registry import all_models, get_model
from bench.spec.models import DeclarationError, VariantParameters
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
from tests.helpers import (
    TINY_SPECS,
    SnapshotMeter,
    confined_to_one_cpu,
    needs_affinity,
    spec_id,
    task_processes,
)
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
    monkeypatch.setattr(processes, "context", lambda method=None: recording)
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


@contextlib.contextmanager
def _run_method(method: str) -> Iterator[None]:
    """The run's start method (--start-method) set to ``method`` for the block."""
    previous = mpcontext.start_method()
    mpcontext.set_start_method(method)
    try:
        yield
    finally:
        mpcontext.set_start_method(previous)


# Set in this process while a test reads its children's reports: a forked child inherits the
# value, a spawned child and one forked by the fork server import this module afresh.
_reporting_parent: int | None = None


def _run_then_report(report_dir: str, target: Callable[..., None], *args: Any) -> None:
    """A child of the model: runs ``target`` as the child would, then writes what it sees of
    itself (its parent, its command line, the CPUs it may use and the one it runs on)."""
    target(*args)
    me, parent = psutil.Process(), psutil.Process(os.getppid())
    facts = {
        "ppid": parent.pid,
        "inherited": _reporting_parent,
        "command": " ".join(me.cmdline()),
        "parent_command": " ".join(parent.cmdline()),
        "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [],
        "cpu": me.cpu_num() if hasattr(me, "cpu_num") else -1,
    }
    Path(report_dir, f"{os.getpid()}.json").write_text(json.dumps(facts))


class Reports:
    """What the children of the model reported (``_run_then_report``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __call__(self) -> list[dict[str, Any]]:
        return [json.loads(path.read_text()) for path in sorted(self.directory.glob("*.json"))]

    def clear(self) -> None:
        for path in self.directory.glob("*.json"):
            path.unlink()


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Reports:
    """Every child the model starts through ``_new_process`` reports itself when it ends."""
    monkeypatch.setattr(sys.modules[__name__], "_reporting_parent", os.getpid())
    real = processes._new_process

    def reporting(ctx: Any, target: Callable[..., None], args: tuple[Any, ...], name: str) -> Any:
        return real(ctx, _run_then_report, (str(tmp_path), target, *args), name)

    monkeypatch.setattr(processes, "_new_process", reporting)
    return Reports(tmp_path)


def _started_by(facts: dict[str, Any]) -> str:
    """How a child was started, from what it saw of itself."""
    if facts["ppid"] != os.getpid():
        return "forkserver" if "multiprocessing.forkserver" in facts["parent_command"] else "?"
    if facts["inherited"] == os.getpid():
        return "fork"  # it has this process's memory
    return "spawn" if "multiprocessing.spawn" in facts["command"] else "?"


START_METHODS = [m for m in ("fork", "forkserver", "spawn") if m in mpcontext.available_methods()]
# pingpong's partner, a warm-up child and a task each for spawn and memory.
START_SPECS = (PingPong(rounds=2), Spawn(tasks=1), Memory(tasks=1))


@pytest.mark.slow(seconds=4)
@pytest.mark.parametrize("method", START_METHODS)
def test_each_start_variant_starts_every_child_with_its_method_whatever_the_run_s(
    reports: Reports, method: str
) -> None:
    model = get_model(f"processes[start={method}]")
    assert model.variant is not None
    assert {spec.workload for spec in START_SPECS} == set(model.variant.workloads)
    run_method = next(m for m in mpcontext.available_methods() if m != method)
    with _run_method(run_method):
        for spec in START_SPECS:
            run_cell(Cell(model, spec), Clock())
    found = reports()
    assert len(found) == 1 + 2 + 2
    assert {_started_by(facts) for facts in found} == {method}
    _assert_nothing_left()


@pytest.mark.slow(seconds=2)
def test_a_start_variant_that_keeps_the_run_s_method_is_caught(
    reports: Reports, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not {"fork", "spawn"} <= set(START_METHODS):
        pytest.skip("needs fork and spawn")

    def reads_but_ignores(variant: Any, run_method: str | None = None) -> str:
        variant.get(mpcontext.START_PARAMETER)
        return mpcontext.start_method()

    monkeypatch.setattr(processes, "method_for", reads_but_ignores)
    with _run_method("fork"):
        run_cell(Cell(get_model("processes[start=spawn]"), Spawn(tasks=1)), Clock())
    assert {_started_by(facts) for facts in reports()} == {"fork"}


def test_the_start_method_of_a_cell_is_its_variant_s_else_the_run_s() -> None:
    """What the runner records for a cell (``mp_start_method``) and what the model uses."""
    method_for = mpcontext.method_for
    assert method_for(get_model("processes[start=spawn]").parameters(), "fork") == "spawn"
    assert method_for(get_model("processes").parameters(), "forkserver") == "forkserver"
    assert method_for(get_model("processes[executor=pool]").parameters(), "spawn") == "spawn"
    with _run_method("spawn"):
        assert method_for(get_model("processes").parameters()) == "spawn"
    with pytest.raises(ValueError, match="start method 'vfork' is not available here"):
        method_for({"start": "vfork"})


def _where_i_run() -> tuple[list[int], int]:
    return sorted(os.sched_getaffinity(0)), psutil.Process().cpu_num()


def _placement_seen(reports: Reports, name: str) -> tuple[tuple[list[int], int], ...]:
    """pingpong run by model ``name``: the CPUs the coordinator and the partner may use and the
    one each ran on, read by each inside the call; the coordinator's affinity afterwards must
    be the one it had before."""
    before = os.sched_getaffinity(0)
    probe = SnapshotMeter(_where_i_run)
    run_cell(Cell(get_model(name), PingPong(rounds=20)), probe)
    assert os.sched_getaffinity(0) == before
    (partner,) = reports()
    return probe.at_stop, (partner["cpus"], partner["cpu"])


@needs_affinity
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("processes[placement=same]", lambda cpus: (cpus[0], cpus[0])),
        ("processes[placement=spread]", lambda cpus: (cpus[0], cpus[1])),
    ],
)
def test_placement_runs_the_two_processes_on_the_cpus_it_claims(
    reports: Reports, name: str, expected: Callable[[list[int]], tuple[int, int]]
) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two usable CPUs")
    mine, theirs = expected(cpus)
    assert _placement_seen(reports, name) == (([mine], mine), ([theirs], theirs))


@needs_affinity
def test_unpinned_partners_are_seen_unpinned(
    reports: Reports, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The negative control: the plain model, and a placement variant that does not pin."""
    cpus = sorted(os.sched_getaffinity(0))
    (mine, _), (theirs, _) = _placement_seen(reports, "processes")
    assert mine == theirs == cpus
    if len(cpus) >= 2:
        monkeypatch.setattr(processes, "_pinned", lambda *args: contextlib.nullcontext())
        reports.clear()
        (mine, _), (theirs, _) = _placement_seen(reports, "processes[placement=spread]")
        assert mine == theirs == cpus


@needs_affinity
def test_spread_on_one_usable_cpu_is_skipped_not_measured_elsewhere(reports: Reports) -> None:
    with confined_to_one_cpu() as cpu:
        with pytest.raises(ResourceLimitError, match=f"it may use only CPU {cpu}") as error:
            run_cell(Cell(get_model("processes[placement=spread]"), PingPong(rounds=3)), Clock())
        assert reports() == []  # no partner was started
        verdict = verdict_of(error.value)
        assert isinstance(verdict, Skipped)
        assert verdict.reason.startswith("resource limit: placement=spread needs two CPUs")
        # same still applies: both on that one CPU
        assert _placement_seen(reports, "processes[placement=same]") == (([cpu], cpu),) * 2


def test_placement_without_sched_setaffinity_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_setaffinity", raising=False)
    for name in ("processes[placement=same]", "processes[placement=spread]"):
        with pytest.raises(ResourceLimitError, match=r"needs os\.sched_setaffinity"):
            run_cell(Cell(get_model(name), PingPong(rounds=3)), Clock())
    _assert_nothing_left()


@needs_affinity
def test_a_partner_that_cannot_be_pinned_fails_the_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.sched_setaffinity

    def refused_for_other_processes(pid: int, cpus: Iterable[int]) -> None:
        if pid != 0:
            raise OSError(errno.EPERM, "Operation not permitted")
        real(pid, cpus)

    before = os.sched_getaffinity(0)
    monkeypatch.setattr(os, "sched_setaffinity", refused_for_other_processes)
    probe = SnapshotMeter(_task_pids)
    with pytest.raises(OSError, match="Operation not permitted"):
        run_cell(Cell(get_model("processes[placement=spread]"), PingPong(rounds=3)), probe)
    assert probe.at_start is None  # the region never started
    assert os.sched_getaffinity(0) == before
    _assert_nothing_left()


class _RecordingExecutor(concurrent.futures.ProcessPoolExecutor):
    """A ProcessPoolExecutor that notes its size and start method and counts submitted calls
    (``map`` submits through ``submit``)."""

    made: ClassVar[list[_RecordingExecutor]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.workers = args[0] if args else kwargs.get("max_workers")
        self.method = kwargs["mp_context"].get_start_method()
        self.submitted = 0
        self.made.append(self)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def recording_executor(monkeypatch: pytest.MonkeyPatch) -> type[_RecordingExecutor]:
    _RecordingExecutor.made.clear()
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", _RecordingExecutor)
    return _RecordingExecutor


POOL_SPECS = (FanOut(tasks=6, work="cpu", cpu_iterations=3), Spawn(tasks=6))


@pytest.mark.parametrize("spec", POOL_SPECS, ids=spec_id)
def test_the_pool_variant_runs_every_task_on_an_executor_started_before_the_region(
    recording_executor: type[_RecordingExecutor], spec: FanOut | Spawn
) -> None:
    probe = SnapshotMeter(_task_pids)
    run_cell(Cell(get_model("processes[executor=pool]"), spec), probe)
    (executor,) = recording_executor.made
    workers = affinity.usable_cpus()
    assert (executor.workers, executor.method) == (workers, mpcontext.start_method())
    # A warm-up call per worker, then one work item per task.
    assert executor.submitted == workers + spec.tasks
    # Every worker is up before the region, and the region starts no process.
    assert len(probe.at_start) == workers
    assert probe.at_stop == probe.at_start
    _assert_nothing_left()


@pytest.mark.parametrize("spec", POOL_SPECS, ids=spec_id)
def test_the_plain_model_uses_no_executor(
    recording_executor: type[_RecordingExecutor], spec: FanOut | Spawn
) -> None:
    _run(spec)
    assert recording_executor.made == []


@pytest.mark.slow(seconds=3)
def test_the_pool_variant_starts_every_worker_before_the_region_whatever_the_start_method(
    start_method: str,
) -> None:
    """Under spawn and forkserver an executor starts workers on demand, one per submit that
    finds none idle: the warm-up holds each worker so that all of them start."""
    probe = SnapshotMeter(_task_pids)
    run_cell(Cell(get_model("processes[executor=pool]"), Spawn(tasks=3)), probe)
    assert len(probe.at_start) == affinity.usable_cpus()
    assert probe.at_stop == probe.at_start
    _assert_nothing_left()


def _exit_at_once(number: int) -> int:
    os._exit(3)


def test_a_dead_executor_worker_is_an_error_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    if "fork" not in mpcontext.available_methods():
        pytest.skip("the dying task reaches the worker by fork")
    monkeypatch.setattr(processes, "_trivial_task", _exit_at_once)
    with _run_method("fork"), pytest.raises(BrokenProcessPool):
        run_cell(Cell(get_model("processes[executor=pool]"), Spawn(tasks=3)), Clock())
    _assert_nothing_left()


def test_each_variant_is_in_the_default_matrix_for_its_workloads_only() -> None:
    rows: dict[str, set[str]] = {}
    for cell in plan(all_models(), list(SPECS), DEFAULT_MATRIX):
        if cell.model.base == "processes":
            rows.setdefault(cell.model.name, set()).add(cell.name.rpartition("/")[0])
    plain = rows.pop("processes")
    assert {row.partition("[")[0] for row in plain} == set(SPECS)
    pingpong, spawn = "pingpong[rounds=2000]", "spawn[tasks=100]"
    cpu_fan_outs = {row for row in plain if row.startswith("fan_out") and "work=cpu" in row}
    parallel = {
        Cell(get_model("processes"), spec).name.rpartition("/")[0] for spec, _ in PARALLEL_SPECS
    }
    parallel_fan_out = {row for row in parallel if row.startswith("fan_out")}
    assert len(cpu_fan_outs) == 2 and parallel <= plain
    assert rows == {
        "processes[executor=pool]": {*cpu_fan_outs, spawn},
        # GIL-on twins: the parallel rows (bench.spec.models.ModelRecord.gil_on)
        "processes[gil=on]": parallel,
        "processes[executor=pool,gil=on]": parallel_fan_out,
        "processes[start=fork]": {pingpong, spawn},
        "processes[start=forkserver]": {pingpong, spawn},
        # 100 spawned interpreters take seconds a run: its spawn cell runs with --spec
        "processes[start=spawn]": {pingpong},
        "processes[placement=same]": {pingpong},
        "processes[placement=spread]": {pingpong},
    }


def test_an_unknown_executor_or_placement_is_a_declaration_error() -> None:
    with pytest.raises(DeclarationError, match="no executor named 'thread'; valid: pool"):
        processes._uses_executor(VariantParameters({"executor": "thread"}))
    with pytest.raises(DeclarationError, match="no placement named 'numa'; valid: same, spread"):
        placement_cpus("processes", VariantParameters({"placement": "numa"}))
