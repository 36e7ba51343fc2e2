"""Running and verifying a cell: a miscounting model or one that skips its meter is caught,
resource limits are told from bugs, and a fan_out cell records its ideal makespan. (That every
model x workload cell, at tiny sizes, does exactly the work of its spec is the contract test of
every model, tests/test_contract.py.)"""

from __future__ import annotations

import errno
import math
import os
import types

import pytest

from bench.measure import affinity
from bench.measure.cells import Cell, CellError, ResourceLimitError, resource_limit_reason, run_cell
from bench.measure.meters import Clock, Meter, MeterMisuse, Outcome, ProfilingClock
from bench.planning import plan
from bench.registry import all_models
from bench.results.schema import bound_metadata, recorded_bound
from bench.spec.models import (
    DeclarationError,
    FanOutConcurrency,
    Model,
    ModelRecord,
    VariantParameters,
)
from bench.spec.workloads import SPECS, FanOut, Spawn, Spec
from tests.helpers import TINY_MATRIX


def _available_models() -> list[Model]:
    # Not the GIL-on twins: only a process started with PYTHON_GIL=1 runs their cells.
    return [
        model for model in all_models() if model.unavailable_reason() is None and not model.environ
    ]


CELLS = plan(_available_models(), list(SPECS), TINY_MATRIX)


def test_every_model_supports_every_workload_except_serial_memory() -> None:
    for model in all_models():
        for workload in SPECS:
            # A variant may limit itself to some of its base's workloads (test_variants.py).
            limited = model.variant.workloads if model.variant is not None else ()
            expected = not (model.base == "serial" and workload == "memory") and (
                not limited or workload in limited
            )
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

    def __call__(self, spec: Spec, meter: Meter, variant: VariantParameters) -> Outcome:
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
    monkeypatch: pytest.MonkeyPatch, ops_delta: int, checksum_delta: int, message: str
) -> None:
    cell = next(c for c in CELLS if c.model.name == "serial" and c.spec.workload == "spawn")
    monkeypatch.setattr(cell.model.module, "spawn", _Liar(ops_delta, checksum_delta))
    with pytest.raises(CellError, match=message):
        run_cell(cell, Clock())


def test_a_model_that_skips_its_meter_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    cell = next(c for c in CELLS if c.model.name == "serial" and c.spec.workload == "spawn")
    monkeypatch.setattr(
        cell.model.module,
        "spawn",
        lambda spec, meter, variant: Outcome(spec.ops, spec.reference()),
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


def _model(name: str, fan_out_concurrency: FanOutConcurrency = None) -> Model:
    """A model of an empty module that declares ``fan_out_concurrency``."""
    record = ModelRecord(
        name=name, summary="a test model", primitives={}, fan_out_concurrency=fan_out_concurrency
    )
    return Model(record, types.ModuleType(name))


def test_a_resource_limit_in_a_model_is_reported_as_such() -> None:
    def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
        raise RuntimeError("can't start new thread")

    model = _model("limited")
    model.module.spawn = spawn  # type: ignore[attr-defined]
    cell = Cell(model, Spawn(tasks=3))
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
    bound = spec.bound(concurrency)
    assert bound.ideal == pytest.approx(ideal) and bound.workers == workers
    assert text in bound.text
    assert bound_metadata(bound) == {
        "fan_out_ideal": bound.ideal,
        "fan_out_ideal_workers": workers,
        "fan_out_bound": bound.text,
    }


def test_cpu_fan_out_has_no_ideal_and_says_so() -> None:
    bound = FanOut(tasks=100, work="cpu").bound(100)
    assert bound.ideal is None and bound.workers is None
    assert bound_metadata(bound) == {
        "fan_out_bound": "none: cpu work has no model-independent bound"
    }


def _bound_of(model: Model, spec: Spec) -> dict[str, str | int | float]:
    """What the runner records of a cell's bound (nothing for a workload without one)."""
    bound = Cell(model, spec).fan_out_bound()
    return {} if bound is None else bound_metadata(bound)


def test_every_model_records_the_bound_of_the_concurrency_it_declares() -> None:
    """Serial runs one task at a time, the process and interpreter pools one per usable CPU,
    and every other model lets all its tasks wait at once; the metadata records it for each."""
    spec = FanOut(tasks=50, work="sleep", delay_ms=2.0)
    pool = min(50, affinity.usable_cpus())
    for model in all_models():
        expected = {"serial": 1, "processes": pool, "subinterpreters": pool}.get(model.base, 50)
        assert model.fan_out_concurrency(spec.tasks) == expected, model.name
        metadata = _bound_of(model, spec)
        assert metadata["fan_out_ideal_workers"] == expected, model.name
        assert metadata["fan_out_ideal"] == pytest.approx(math.ceil(50 / expected) * 0.002)
        assert "fan_out_ideal" not in _bound_of(model, FanOut(tasks=50, work="cpu"))
        assert _bound_of(model, Spawn(tasks=50)) == {}


def test_a_pool_sized_by_the_cpus_records_the_cpus_of_the_measuring_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 5}, raising=False)
    model = next(model for model in all_models() if model.name == "processes")
    metadata = _bound_of(model, FanOut(tasks=100, work="sleep"))
    assert metadata["fan_out_ideal_workers"] == 3
    assert metadata["fan_out_ideal"] == pytest.approx(0.034)


@pytest.mark.parametrize("declared", [0, -1, True, 2.0, "2", lambda: None, lambda: 0])
def test_a_malformed_fan_out_concurrency_is_refused(declared: object) -> None:
    # A literal is refused when the record is made, a function when the cell asks it.
    with pytest.raises(DeclarationError, match="fan_out_concurrency must be a positive integer"):
        model = _model("declares_badly", declared)  # type: ignore[arg-type]
        Cell(model, FanOut(tasks=4, work="sleep")).fan_out_bound()


def test_without_a_declaration_all_tasks_wait_at_once() -> None:
    metadata = _bound_of(_model("declares_nothing"), FanOut(tasks=4, work="sleep"))
    assert metadata["fan_out_ideal_workers"] == 4
    assert metadata["fan_out_ideal"] == pytest.approx(0.001)


def test_the_recorded_bound_gives_the_overhead_per_task() -> None:
    spec = FanOut(tasks=100, work="sleep")
    metadata = {"workload": "fan_out", "params": spec.params, **bound_metadata(spec.bound(2))}
    bound = recorded_bound("fan_out", spec.params, metadata)
    assert bound is not None and not bound.all_wait_at_once
    assert bound.ideal_per_task == pytest.approx(0.05 / 100)
    assert bound.overhead([562e-6, 560e-6]) == pytest.approx([62e-6, 60e-6])
    cpu = FanOut(tasks=100, work="cpu")
    cpu_bound = recorded_bound("fan_out", cpu.params, bound_metadata(cpu.bound(100)))
    assert cpu_bound is not None and cpu_bound.overhead([1e-5]) is None
    # an older file, another workload, a malformed ideal: nothing recorded to subtract
    assert recorded_bound("fan_out", spec.params, {}) is None
    assert recorded_bound("spawn", "tasks=100", metadata) is None
    assert recorded_bound("fan_out", spec.params, {**metadata, "fan_out_ideal": -1.0}) is None
    assert recorded_bound("fan_out", spec.params, {**metadata, "fan_out_ideal": "x"}) is None
