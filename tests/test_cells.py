"""Every model x workload cell, at tiny sizes, does exactly the work of its spec."""

from __future__ import annotations

import errno

import pytest

from bench.cells import (
    Cell,
    CellError,
    ResourceLimitError,
    plan,
    resource_limit_reason,
    run_cell,
)
from bench.meters import Clock, MemoryMeter, MeterMisuse, Outcome, ProfilingClock
from bench.registry import Model, all_models
from bench.workloads import SPECS, Spawn, Spec
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
