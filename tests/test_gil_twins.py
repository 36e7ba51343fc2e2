"""GIL-on twins (``ModelRecord.gil_on``): on a free-threaded build the default matrix measures
some models a second time in processes started with ``PYTHON_GIL=1``, as cells of the same run.
Their names, what they inherit, where the plan runs them, the environment every process of
theirs starts with, and the check that a twin's cell never runs without it."""

from __future__ import annotations

import argparse
import os
import sysconfig
from collections.abc import Mapping
from typing import Any

import pytest

from bench import planning, registry
from bench.analysis.findings import parallel_models
from bench.measure.cells import Cell, CellError, run_cell
from bench.measure.meters import Clock
from bench.spec.models import (
    GIL_ON_ENVIRON,
    DeclarationError,
    ModelRecord,
    Variant,
    environ_unavailable,
    is_gil_on_twin,
)
from bench.spec.workloads import DEFAULT_MATRIX, PARALLEL_SPECS, SPECS, PingPong
from runners.campaign import reported_models
from runners.rounds import ProcessFailed, RowRunner
from runners.verdict import Failed
from tests.result_sets import make_entry, make_set

TWINS = {
    "serial[gil=on]",
    "threads[gil=on]",
    "threads[executor=pool,gil=on]",
    "processes[gil=on]",
    "processes[executor=pool,gil=on]",
    "asyncio[gil=on]",
}


@pytest.fixture
def free_threaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """This interpreter taken for a free-threaded build, run without PYTHON_GIL."""
    real = sysconfig.get_config_var

    def config_var(name: str) -> Any:
        return 1 if name == "Py_GIL_DISABLED" else real(name)

    monkeypatch.setattr(sysconfig, "get_config_var", config_var)
    monkeypatch.delenv("PYTHON_GIL", raising=False)


def _twins() -> set[str]:
    return {name for name in registry.model_names() if is_gil_on_twin(name)}


def test_the_built_in_twins_and_what_they_inherit() -> None:
    assert _twins() == TWINS
    plain, twin = registry.get_model("threads"), registry.get_model("threads[gil=on]")
    assert twin.environ == {"PYTHON_GIL": "1"} and plain.environ == {}
    assert twin.primitive("pingpong") == f"{plain.primitive('pingpong')}; PYTHON_GIL=1"
    assert twin.summary.endswith("the GIL turned on (PYTHON_GIL=1)")
    assert twin.parallel == plain.parallel and twin.task_noun == plain.task_noun
    pool = registry.get_model("threads[executor=pool]")
    pool_twin = registry.get_model("threads[executor=pool,gil=on]")
    # a twin of a variant keeps the variant's own primitives and workloads
    assert pool_twin.primitive("fan_out") == f"{pool.primitive('fan_out')}; PYTHON_GIL=1"
    assert not pool_twin.supports("pingpong") and pool_twin.supports("fan_out")
    assert pool_twin.variant is not None and pool_twin.variant.parameters == {
        "executor": "pool",
        "gil": "on",
    }


def test_a_twin_is_read_the_same_from_its_module_s_source() -> None:
    threads = registry.get_model("threads")
    path = registry._sources()["threads"].path
    declared = registry.declared_record(path)
    assert [v.name for v in declared.variants] == [v.name for v in threads.record.variants]


def test_the_twins_parameter_is_the_harness_s_to_apply() -> None:
    twin = registry.get_model("threads[gil=on]")
    parameters = twin.parameters()
    assert parameters["gil"] == "on"
    assert parameters.unread() == ()  # counted as read: PYTHON_GIL applied it
    pool_twin = registry.get_model("threads[executor=pool,gil=on]").parameters()
    assert pool_twin.unread() == ("executor",)  # the model function must still read its own


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"variants": (Variant(parameters={"gil": "off"}),)}, "'gil' is the twins' parameter"),
        ({"gil_on": ("nosuch",)}, "unknown workload 'nosuch'"),
        ({"gil_on": "pingpong"}, "gil_on must be a tuple of names"),
    ],
)
def test_a_malformed_twin_declaration_is_refused(declared: dict[str, Any], message: str) -> None:
    with pytest.raises(DeclarationError, match=message):
        ModelRecord(name="m", summary="s", primitives={}, **declared)


def test_harness_parameters_must_be_applied_by_the_environ() -> None:
    with pytest.raises(DeclarationError, match="harness_parameters"):
        Variant(parameters={"a": "1"}, harness_parameters=("a",))
    with pytest.raises(DeclarationError, match="harness_parameters"):
        Variant(parameters={"a": "1"}, environ={"X": "1"}, harness_parameters=("b",))


def test_a_twin_is_unavailable_on_a_gil_build_and_where_the_run_sets_it_already(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        pytest.skip("this interpreter is a free-threaded build")
    reason = environ_unavailable(GIL_ON_ENVIRON)
    assert reason is not None and "free-threaded build" in reason
    assert registry.get_model("threads[gil=on]").unavailable_reason() == reason
    assert registry.get_model("threads").unavailable_reason() is None


def test_on_a_free_threaded_build_a_twin_runs_unless_the_run_has_pythongil_1(
    free_threaded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert environ_unavailable(GIL_ON_ENVIRON) is None
    monkeypatch.setenv("PYTHON_GIL", "1")
    reason = environ_unavailable(GIL_ON_ENVIRON)
    assert reason == "the run itself has PYTHON_GIL=1, so its plain cells measure this"
    monkeypatch.setenv("PYTHON_GIL", "0")
    assert environ_unavailable(GIL_ON_ENVIRON) is None


def _planned_twins() -> list[str]:
    models = [registry.get_model(name) for name in registry.model_names()]
    return [
        cell.name for cell in planning.plan(models, list(SPECS)) if is_gil_on_twin(cell.model.name)
    ]


def test_the_default_matrix_holds_the_twins_cells(free_threaded: None) -> None:
    planned = _planned_twins()
    assert {name.rpartition("/")[2] for name in planned} == TWINS
    assert "pingpong[rounds=2000]/threads[gil=on]" in planned
    assert not any(name.startswith("memory[") for name in planned)
    fan_out = next(spec for spec, _ in PARALLEL_SPECS if spec.workload == "fan_out")
    assert Cell(registry.get_model("threads[executor=pool,gil=on]"), fan_out).name in planned


def _reported(named: bool) -> set[str]:
    models = [registry.get_model(name) for name in registry.model_names()]
    return {model.name for model in reported_models(models, named)}


def test_a_run_of_every_model_leaves_out_the_twins_that_cannot_run_here(
    free_threaded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _reported(named=False) >= TWINS
    monkeypatch.setenv("PYTHON_GIL", "1")  # the plain cells measure with the GIL on already
    assert not _reported(named=False) & TWINS
    assert _reported(named=True) >= TWINS  # named by --models: reported unavailable, with why


def test_a_run_on_a_gil_build_reports_no_twin_unless_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sysconfig, "get_config_var", lambda name: None)
    reported = _reported(named=False)
    assert not reported & TWINS and {"threads", "serial"} <= reported
    assert _reported(named=True) >= TWINS


def test_the_parallel_rows_run_the_serial_baseline_and_the_parallel_models_only(
    free_threaded: None,
) -> None:
    models = [registry.get_model(name) for name in registry.model_names()]
    specs = {spec for spec, scope in DEFAULT_MATRIX if scope == "parallel"}
    assert specs == {spec for spec, _ in PARALLEL_SPECS}
    cells = [cell for cell in planning.plan(models, list(SPECS)) if cell.spec in specs]
    for cell in cells:
        assert cell.model.record.baseline or cell.model.parallel != "never", cell.name
    ran = {cell.model.name for cell in cells}
    assert {"serial", "serial[gil=on]", "threads", "threads[executor=pool]", "processes"} <= ran
    assert not ran & {"asyncio", "generators", "threads[switch_interval=1]"}


def test_a_twin_s_cell_refuses_to_run_without_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYTHON_GIL", raising=False)
    cell = Cell(registry.get_model("serial[gil=on]"), PingPong(rounds=3))
    with pytest.raises(CellError, match=r"must start with PYTHON_GIL=1"):
        run_cell(cell, Clock())
    monkeypatch.setenv("PYTHON_GIL", "1")  # too late to change this process: the check only
    assert run_cell(cell, Clock()).ops == cell.spec.ops


class _Recording(RowRunner):
    """Records the environment each process would start with, then fails it."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args, "s3ss10n", lambda _: None, lambda: False)
        self.started: list[tuple[Mapping[str, str], bool]] = []

    def _run(
        self, argv: list[str], what: str, fd_option: str, environ: Mapping[str, str], inherit: bool
    ) -> Any:
        self.started.append((dict(environ), inherit))
        raise ProcessFailed(Failed("recorded"), ())


def _args() -> argparse.Namespace:
    values: dict[str, Any] = {
        "values": 1, "min_time": 0.05, "warmups": 1, "verbose": 0, "affinity": None,
        "hook": [], "copy_env": False, "inherit_environ": [], "locale": False,
        "cell_timeout": 60.0, "fast": True, "debug_single_value": False, "precision": 0.02,
        "min_rounds": 3, "max_rounds": 6, "cell_budget": 1.5, "start_method": "fork",
    }  # fmt: skip
    return argparse.Namespace(**values)


def test_every_process_of_a_twin_starts_with_pythongil_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHON_GIL", raising=False)
    runner = _Recording(_args())
    twin = Cell(registry.get_model("threads[gil=on]"), PingPong(rounds=3))
    plain = Cell(registry.get_model("threads"), PingPong(rounds=3))
    for cell in (twin, plain):
        with pytest.raises(ProcessFailed):
            runner.worker(cell, 1, {})
        with pytest.raises(ProcessFailed):
            runner.probe(cell, "profile")
    (twin_worker, twin_inherit), (twin_probe, probe_inherit) = runner.started[:2]
    assert twin_worker["PYTHON_GIL"] == "1" and not twin_inherit  # pyperf's few variables
    assert twin_probe["PYTHON_GIL"] == "1" and probe_inherit  # everything, and PYTHON_GIL
    assert all("PYTHON_GIL" not in environ for environ, _ in runner.started[2:])
    assert "PYTHON_GIL" not in os.environ


def test_a_twin_does_not_count_as_parallel_in_a_run_without_the_gil() -> None:
    params = "tasks=4,work=cpu,delay_ms=1.0,cpu_iterations=100"
    entries = [
        make_entry("fan_out", params, model, [1.0], model_parallel="without-gil")
        for model in ("threads", "threads[gil=on]")
    ]
    result = make_set(entries, "3.13.15t", python_gil="disabled")
    assert parallel_models(result) == {"threads"}
    assert parallel_models(make_set(entries, "3.13.15", python_gil="enabled")) == set()
