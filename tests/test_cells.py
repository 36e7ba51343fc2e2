"""Every model x workload cell, at tiny sizes, does exactly the work of its spec."""

from __future__ import annotations

import errno
import math
import types

import pytest

from bench.measure.cells import (
    Cell,
    CellError,
    ResourceLimitError,
    fan_out_bound,
    plan,
    recorded_bound,
    resource_limit_reason,
    run_cell,
)
from bench.measure.meters import Clock, MemoryMeter, MeterMisuse, Outcome, ProfilingClock
from bench.models import processes
from bench.registry import Model, RegistryError, all_models
from bench.spec.workloads import SPECS, FanOut, Spawn, Spec
from tests.conftest import TINY_MATRIX


def _available_models():
    return [model for model in all_models() if model.unavailable_reason() is None]


CELLS = plan(_available_models(), list(SPECS), TINY_MATRIX)


def _meter_for(cell: Cell) -> Clock | MemoryMeter:
    if cell.spec.unit == "byte":
        return MemoryMeter(cell.model.memory_measure)
    return Clock()


@pytest.mark.parametrize("cell", CELLS, ids=[cell.name for cell in CELLS])
def test_cell_returns_reference_checksum(cell: Cell) -> None:
    meter = _meter_for(cell)
    outcome = run_cell(cell, meter)
    assert outcome.ops == cell.spec.ops
    assert tuple(outcome.checksum) == cell.spec.reference()


@pytest.mark.parametrize("cell", CELLS, ids=[cell.name for cell in CELLS])
def test_cell_is_repeatable_in_one_process(cell: Cell) -> None:
    # pyperf calls a cell many times per worker: a second run must not see state of the first.
    for _ in range(2):
        run_cell(cell, _meter_for(cell))


def test_every_model_supports_every_workload_except_serial_memory() -> None:
    for model in all_models():
        for workload in SPECS:
            expected = not (model.name == "serial" and workload == "memory")
            assert model.supports(workload) == expected, (model.name, workload)


def test_every_model_documents_its_mapping_and_primitives() -> None:
    for model in all_models():
        doc = model.module.__doc__ or ""
        for word in ("producer", "consumer", "fan_out"):
            assert word in doc.replace("-", "_").lower(), (model.name, word)
        for workload in SPECS:
            if model.supports(workload):
                assert model.primitive(workload), (model.name, workload)


def test_profiling_clock_counts_cpu_of_the_region() -> None:
    cell = next(c for c in CELLS if c.spec.workload == "fan_out" and c.model.name == "serial")
    meter = ProfilingClock()
    run_cell(cell, meter)
    assert meter.elapsed > 0
    assert meter.counters.cpu_user >= 0 and meter.counters.ctx_voluntary >= 0


class _Liar:
    """A fake model function that reports the wrong operation count or checksum."""

    def __init__(self, ops_delta: int, checksum_delta: int) -> None:
        self.ops_delta = ops_delta
        self.checksum_delta = checksum_delta

    def __call__(self, spec: Spec, meter) -> Outcome:
        meter.start()
        meter.stop()
        reference = spec.reference()
        return Outcome(
            spec.ops + self.ops_delta, (reference[0] + self.checksum_delta, *reference[1:])
        )


@pytest.mark.parametrize(
    ("ops_delta", "checksum_delta", "message"), [(1, 0, "operations"), (0, 1, "checksum")]
)
def test_wrong_count_or_checksum_is_an_error(
    monkeypatch, ops_delta, checksum_delta, message
) -> None:
    cell = next(c for c in CELLS if c.model.name == "serial" and c.spec.workload == "spawn")
    monkeypatch.setattr(cell.model.module, "spawn", _Liar(ops_delta, checksum_delta))
    with pytest.raises(CellError, match=message):
        run_cell(cell, Clock())


def test_a_model_that_skips_its_meter_is_an_error(monkeypatch) -> None:
    cell = next(c for c in CELLS if c.model.name == "serial" and c.spec.workload == "spawn")
    monkeypatch.setattr(
        cell.model.module, "spawn", lambda spec, meter: Outcome(spec.ops, spec.reference())
    )
    with pytest.raises(MeterMisuse):
        run_cell(cell, Clock())


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (MemoryError(), "out of memory (MemoryError)"),
        (RuntimeError("can't start new thread"), "can't start new thread"),
        (BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"), "(EAGAIN)"),
        (OSError(errno.EMFILE, "Too many open files"), "Too many open files (EMFILE)"),
        (OSError(errno.ENOMEM, "Cannot allocate memory"), "(ENOMEM)"),
        (OSError(errno.ENOENT, "No such file"), None),
        (RuntimeError("deadlock"), None),
        (ValueError("bad"), None),
    ],
)
def test_resource_limits_are_told_apart_from_bugs(error: BaseException, reason: str | None) -> None:
    found = resource_limit_reason(error)
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found


def test_a_resource_limit_in_a_model_is_reported_as_such() -> None:
    class Module:
        @staticmethod
        def spawn(spec: Spawn, meter: object) -> Outcome:
            raise RuntimeError("can't start new thread")

    cell = Cell(Model("limited", Module()), Spawn(tasks=3))  # type: ignore[arg-type]
    with pytest.raises(ResourceLimitError, match="cannot start its tasks: can't start new thread"):
        run_cell(cell, Clock())


@pytest.mark.parametrize(
    ("spec", "concurrency", "ideal", "workers", "text"),
    [
        (FanOut(tasks=100, work="sleep"), 100, 0.001, 100, "D = 1 ms (sleep): all 100 tasks"),
        (FanOut(tasks=100, work="sleep"), 10_000, 0.001, 100, "all 100 tasks wait at once"),
        (FanOut(tasks=100, work="sleep"), 2, 0.05, 2, "ceil(100 / 2) x 1 ms = 50 ms (sleep)"),
        (FanOut(tasks=100, work="sleep"), 3, 0.034, 3, "ceil(100 / 3) x 1 ms = 34 ms"),
        (FanOut(tasks=100, work="sleep"), 1, 0.1, 1, "N x D = 100 x 1 ms = 100 ms (sleep)"),
        (FanOut(tasks=1, work="sleep", delay_ms=5), 1, 0.005, 1, "the one task waits"),
        (FanOut(tasks=5, work="echo", delay_ms=10), 5, 0.01, 5, "(server delay)"),
        (FanOut(tasks=5, work="echo", delay_ms=0.0), 1, 0.0, 1, "= 0 ms"),
    ],
)
def test_fan_out_ideal_is_waves_of_the_wait(
    spec: FanOut, concurrency: int, ideal: float, workers: int, text: str
) -> None:
    bound = fan_out_bound(spec, concurrency)
    assert bound.ideal == pytest.approx(ideal) and bound.workers == workers
    assert text in bound.text
    assert bound.metadata() == {
        "fan_out_ideal": bound.ideal,
        "fan_out_ideal_workers": workers,
        "fan_out_bound": bound.text,
    }


def test_cpu_fan_out_has_no_ideal_and_says_so() -> None:
    bound = fan_out_bound(FanOut(tasks=100, work="cpu"), 100)
    assert bound.ideal is None and bound.workers is None
    assert bound.metadata() == {"fan_out_bound": "none: cpu work has no model-independent bound"}


def _bound_of(model_name: str, spec: FanOut) -> dict[str, str | int | float]:
    model = next(model for model in all_models() if model.name == model_name)
    return Cell(model, spec).metadata()


def test_every_model_records_the_bound_of_the_concurrency_it_declares() -> None:
    """Serial runs one task at a time, the process pool one per usable CPU, and every other
    model lets all its tasks wait at once; the metadata records it for each."""
    spec = FanOut(tasks=50, work="sleep", delay_ms=2.0)
    pool = min(50, processes.usable_cpus())
    for model in all_models():
        expected = {"serial": 1, "processes": pool}.get(model.name, 50)
        assert model.fan_out_concurrency(spec.tasks) == expected, model.name
        metadata = Cell(model, spec).metadata()
        assert metadata["fan_out_ideal_workers"] == expected, model.name
        assert metadata["fan_out_ideal"] == pytest.approx(math.ceil(50 / expected) * 0.002)
        assert "fan_out_ideal" not in Cell(model, FanOut(tasks=50, work="cpu")).metadata()
        assert "fan_out_bound" not in Cell(model, Spawn(tasks=50)).metadata()


def test_a_pool_sized_by_the_cpus_records_the_cpus_of_the_measuring_process(monkeypatch) -> None:
    monkeypatch.setattr(processes, "usable_cpus", lambda: 3)
    monkeypatch.setattr(processes, "FAN_OUT_CONCURRENCY", processes.usable_cpus)
    metadata = _bound_of("processes", FanOut(tasks=100, work="sleep"))
    assert metadata["fan_out_ideal_workers"] == 3
    assert metadata["fan_out_ideal"] == pytest.approx(0.034)


@pytest.mark.parametrize("declared", [0, -1, True, 2.0, "2", lambda: None])
def test_a_malformed_fan_out_concurrency_is_refused(declared: object) -> None:
    module = types.ModuleType("declares_badly")
    module.FAN_OUT_CONCURRENCY = declared  # type: ignore[attr-defined]
    with pytest.raises(RegistryError, match="FAN_OUT_CONCURRENCY must be a positive integer"):
        Cell(Model("declares_badly", module), FanOut(tasks=4, work="sleep")).metadata()


def test_without_a_declaration_all_tasks_wait_at_once() -> None:
    module = types.ModuleType("declares_nothing")
    metadata = Cell(Model("declares_nothing", module), FanOut(tasks=4, work="sleep")).metadata()
    assert metadata["fan_out_ideal_workers"] == 4
    assert metadata["fan_out_ideal"] == pytest.approx(0.001)


def test_the_recorded_bound_gives_the_overhead_per_task() -> None:
    spec = FanOut(tasks=100, work="sleep")
    metadata = {"workload": "fan_out", "params": spec.params, **fan_out_bound(spec, 2).metadata()}
    bound = recorded_bound("fan_out", spec.params, metadata)
    assert bound is not None and not bound.all_wait_at_once
    assert bound.ideal_per_task == pytest.approx(0.05 / 100)
    assert bound.overhead([562e-6, 560e-6]) == pytest.approx([62e-6, 60e-6])
    cpu = FanOut(tasks=100, work="cpu")
    cpu_bound = recorded_bound("fan_out", cpu.params, fan_out_bound(cpu, 100).metadata())
    assert cpu_bound is not None and cpu_bound.overhead([1e-5]) is None
    # an older file, another workload, a malformed ideal: nothing recorded to subtract
    assert recorded_bound("fan_out", spec.params, {}) is None
    assert recorded_bound("spawn", "tasks=100", metadata) is None
    assert recorded_bound("fan_out", spec.params, {**metadata, "fan_out_ideal": -1.0}) is None
    assert recorded_bound("fan_out", spec.params, {**metadata, "fan_out_ideal": "x"}) is None
