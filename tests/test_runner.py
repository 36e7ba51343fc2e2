"""The runner end to end: real pyperf workers, tiny sizes, --debug-single-value."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pyperf
import pytest

from bench.planning import plan
from bench.registry import all_models, get_model, model_names
from bench.results.schema import bound_metadata
from bench.results.schema import load as load_result
from bench.spec.workloads import SMOKE_MATRIX, SPECS
from tests.runs import gaps, load
from tests.runs import run_runner as run

ROOT = Path(__file__).resolve().parent.parent
HARNESS_MODELS = ROOT / "tests" / "harness_models"
REQUIRED_METADATA = (
    "model", "workload", "params", "metric", "primitive", "ops_per_run",
    "pyperf_version", "psutil_version",
    "python_build", "python_gil", "mp_start_method", "spec_version", "cpu_model_name",
)  # fmt: skip
# What a cell records about its model, from the model's record (bench.results.schema.ModelFacts);
# ``variant`` only for a variant, since pyperf refuses an empty value.
MODEL_METADATA = (
    "model", "base_model", "model_order", "model_colour", "model_task_noun", "model_parallel",
    "model_baseline",
)  # fmt: skip
PROFILE_METADATA = (
    "cpu_user_per_op", "cpu_system_per_op", "ctx_voluntary_per_op", "ctx_involuntary_per_op",
    "peak_rss_self", "peak_rss_children_max", "profile_runs",
)  # fmt: skip


def available_model_names() -> list[str]:
    return [model.name for model in all_models() if model.unavailable_reason() is None]


@dataclasses.dataclass(frozen=True)
class SmokeRun:
    result: subprocess.CompletedProcess[str]
    output: Path
    suite: pyperf.BenchmarkSuite


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    """The whole smoke matrix, end to end: one run whose file several tests read. Without the
    latency pass, two fifths of the run: the runner runs it in tests/test_latency.py and
    tests/test_echo.py, and every model goes through its hooks in tests/test_contract.py."""
    output = tmp_path_factory.mktemp("smoke") / "smoke.json"
    result = run(
        "--debug-single-value", "--matrix", "smoke", "--no-profile", "--no-latency",
        "-o", str(output),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return SmokeRun(result, output, pyperf.BenchmarkSuite.load(str(output)))


@pytest.mark.slow(seconds=30)  # the smoke run
@pytest.mark.timeout(300)
def test_smoke_matrix_end_to_end_writes_every_cell(smoke_run: SmokeRun) -> None:
    result, output, suite = smoke_run.result, smoke_run.output, smoke_run.suite
    models = [get_model(name) for name in available_model_names()]
    expected = {cell.name: cell for cell in plan(models, list(SPECS), SMOKE_MATRIX)}
    assert set(suite.get_benchmark_names()) == set(expected)
    for bench in suite:
        cell = expected[bench.get_name()]
        meta = bench.get_metadata()
        for key in (*REQUIRED_METADATA, *MODEL_METADATA):
            assert key in meta, (bench.get_name(), key)
        assert meta["model"] == cell.model.name
        # the versions of the libraries its model declares, and only those
        for library in ("greenlet", "gevent"):
            assert (f"{library}_version" in meta) == (library in cell.model.libraries)
        assert meta["params"] == cell.spec.params
        if cell.spec.unit == "second":
            # the value is divided by exactly the operations one run performs
            assert bench.get_inner_loops() == cell.spec.ops
            assert bench.get_unit() == "second"
        else:
            assert bench.get_unit() == "byte"
    # the summary table names every model that ran
    header = next(line for line in result.stdout.splitlines() if line.startswith("cell "))
    for name in available_model_names():
        assert name in header
    # not on a terminal: one plain progress line per row of timed cells (measured in rounds)
    # and per memory cell, no carriage return; pyperf's warnings silenced
    # (--debug-single-value: every cell has one value, so no interval)
    lines = result.stdout.splitlines()
    assert "\r" not in result.stdout and "\x1b" not in result.stdout
    rows = {cell.spec for cell in expected.values() if cell.spec.unit == "second"}
    memory = [cell for cell in expected.values() if cell.spec.unit != "second"]
    units = len(rows) + len(memory)
    assert sum(line.startswith("[") and "done" in line for line in lines) == units
    for bench in suite:
        if bench.get_unit() == "second":  # one round: its run is tagged with it
            assert [run.get_metadata()["round"] for run in bench.get_runs()] == [1]
    assert next(line for line in lines if line.startswith("[1/")).endswith("no estimate yet)")
    assert "may be unstable" not in result.stdout
    assert f"  cells with a single value, so no interval: {len(expected)}" in lines
    # the machine's state before the run, recorded beside the environment
    recorded = load_result(output).recorded_environment
    assert recorded is not None
    assert recorded["machine_state"] == "quiet" or recorded["machine_state"].startswith("not ")
    assert {"cpu_governor", "cpu_boost", "load_average", "busy_processes"} <= set(recorded)
    # pyperf's own tools read the file
    stats = subprocess.run(
        [sys.executable, "-m", "pyperf", "stats", str(output)], capture_output=True, check=False
    )
    assert stats.returncode == 0
    compare = subprocess.run(
        [sys.executable, "-m", "pyperf", "compare_to", str(output), str(output)],
        capture_output=True,
        check=False,
    )
    assert compare.returncode == 0


@pytest.mark.slow(seconds=4)
@pytest.mark.timeout(120)
def test_profile_pass_records_counters_per_operation(tmp_path: Path) -> None:
    output = tmp_path / "profile.json"
    # Sleeping tasks, and runs so short that the pass stops at its wall-time cap.
    result = run(
        "--debug-single-value", "--models", "serial,threads", "--no-latency",
        "--spec", "fan_out:tasks=5,work=sleep,delay_ms=1", "--spec", "fan_out:tasks=5,work=cpu",
        "-o", str(output),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    suite = pyperf.BenchmarkSuite.load(str(output))
    for bench in suite:
        meta = bench.get_metadata()
        for key in PROFILE_METADATA:
            assert key in meta, (bench.get_name(), key)
        assert meta["peak_rss_self"] > 1_000_000
    sleepers = [b for b in suite if "work=sleep" in b.get_name()]
    # every sleeping task blocks at least once, in any model
    assert all(b.get_metadata()["ctx_voluntary_per_op"] >= 0.9 for b in sleepers)
    assert "Context switches per operation" in result.stdout


def test_existing_output_is_never_overwritten(tmp_path: Path) -> None:
    output = tmp_path / "mine.json"
    output.write_text("precious")
    result = run("--debug-single-value", "--models", "serial", "-o", str(output), timeout=60)
    assert result.returncode != 0
    assert output.read_text() == "precious"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--models", "serial,fibers"), "unknown model 'fibers'; valid: "),
        (("--workloads", "pingpong,teleport"), "unknown workload 'teleport'; valid: "),
        (("--start-method", "teleport"), "unknown start method 'teleport'; valid: "),
    ],
)
def test_unknown_names_are_a_one_line_error(args: tuple[str, ...], message: str) -> None:
    result = run(*args, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_list_names_every_model_and_workload() -> None:
    result = run("--list", timeout=60)
    assert result.returncode == 0, result.stderr
    for name in model_names():
        assert f"  {name} " in result.stdout
    for workload in SPECS:
        assert f"  {workload}: " in result.stdout


def test_a_model_missing_its_library_is_unavailable_with_a_reason() -> None:
    model = get_model("serial")
    record = dataclasses.replace(model.record, requires=("no_such_library_for_concbench",))
    reason = dataclasses.replace(model, record=record).unavailable_reason()
    assert reason is not None and "no_such_library_for_concbench" in reason


def test_worker_command_carries_the_cell() -> None:
    from runners.options import _worker_args

    cmd: list[str] = []
    args = argparse.Namespace(cell="pingpong[rounds=5]/serial", start_method="spawn")
    _worker_args(cmd, args)
    assert cmd == ["--cell", "pingpong[rounds=5]/serial", "--start-method", "spawn"]


def test_a_cell_process_gets_the_pyperf_options_but_not_the_runner_options() -> None:
    from runners.options import cell_argv

    argv = [
        "--fast", "-o", "out.json", "--models", "serial", "--output=x.json", "-oy.json",
        "--workloads=pingpong", "--cell-timeout", "5", "--resume", "r.json", "--append", "a",
        "--list", "--matrix", "smoke", "--spec", "spawn:tasks=5", "-p", "3", "--no-profile",
        "--inherit-environ", "FOO",
    ]  # fmt: skip
    args = argparse.Namespace(start_method="fork", quiet=False, verbose=False)
    cmd = cell_argv(argv, args, "spawn[tasks=5]/serial")
    assert cmd[:3] == [sys.executable, "-m", "runners.run"]
    # --quiet: pyperf's warnings are in the summary's precision section instead
    assert cmd[3:] == [
        "--fast", "-p", "3", "--no-profile", "--inherit-environ", "FOO", "--quiet",
        "--cell", "spawn[tasks=5]/serial", "--start-method", "fork",
    ]  # fmt: skip
    # asked for pyperf's details, the user gets them
    verbose = argparse.Namespace(start_method="fork", quiet=False, verbose=True)
    assert "--quiet" not in cell_argv([*argv, "-v"], verbose, "spawn[tasks=5]/serial")


@pytest.mark.slow(seconds=30)  # the smoke run
@pytest.mark.timeout(300)
def test_json_is_pyperf_format_version(smoke_run: SmokeRun) -> None:
    data = json.loads(smoke_run.output.read_text())
    assert "version" in data and "benchmarks" in data


@pytest.mark.slow
def test_variables_that_change_measurements_reach_the_workers(tmp_path: Path) -> None:
    output = tmp_path / "environ.json"
    # A free-threaded build has mimalloc and no plain "malloc" allocator.
    allocator = "mimalloc" if sysconfig.get_config_var("Py_GIL_DISABLED") else "malloc"
    result = subprocess.run(
        [
            sys.executable, "-m", "runners.run", "--debug-single-value", "--models", "serial",
            "--workloads", "spawn", "--matrix", "smoke", "--no-profile", "-o", str(output),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONMALLOC": allocator},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (bench,) = pyperf.BenchmarkSuite.load(str(output))
    # the metadata is collected inside the pyperf worker, so this proves the worker saw it
    assert bench.get_metadata()["environ"] == f"PYTHONMALLOC={allocator}"


def test_no_source_file_monkey_patches() -> None:
    # gevent's monkey-patching would leak into every model measured in the same worker.
    for folder in ("bench", "runners"):
        for path in (ROOT / folder).rglob("*.py"):
            source = path.read_text()
            for call in ("patch_all(", "monkey.patch_", "import monkey", "gevent.monkey"):
                assert call not in source, (path, call)


@pytest.mark.slow
def test_append_adds_runs_to_an_existing_file_and_refuses_a_bad_one(tmp_path: Path) -> None:
    output = tmp_path / "grow.json"
    common = ("--debug-single-value", "--matrix", "smoke", "--workloads", "spawn", "--no-profile")
    first = run(*common, "--models", "serial", "-o", str(output), timeout=60)
    assert first.returncode == 0, first.stderr
    second = run(*common, "--models", "serial,threads", "--append", str(output), timeout=60)
    assert second.returncode == 0, second.stderr
    suite = pyperf.BenchmarkSuite.load(str(output))
    runs = {bench.get_name().split("/")[-1]: bench.get_nrun() for bench in suite}
    assert runs == {"serial": 2, "threads": 1}

    broken = tmp_path / "broken.json"
    broken.write_text("{")
    result = run(*common, "--models", "serial", "--append", str(broken), timeout=60)
    assert result.returncode == 2
    assert "truncated JSON" in result.stderr
    assert broken.read_text() == "{"


@pytest.mark.slow(seconds=30)  # the smoke run
@pytest.mark.timeout(300)
def test_the_run_records_its_machine_calibration(smoke_run: SmokeRun) -> None:
    """Measured once by the runner before the first cell; not a key a resumed or appended run
    must match (test_append_adds_runs_to_an_existing_file_and_refuses_a_bad_one appends to a
    file measured by another run, with another calibration)."""
    from bench.measure.calibration import CALIBRATION_VERSION
    from bench.results import schema

    calibration = schema.load(smoke_run.output).calibration
    assert calibration is not None
    assert 0 < calibration.ns_per_iteration < 1e6
    assert calibration.version == CALIBRATION_VERSION
    assert not {"calibration_ns", "calibration_version"} & set(schema.RESUME_KEYS)


@pytest.mark.slow(seconds=30)  # the smoke run
@pytest.mark.timeout(300)
def test_fan_out_cells_record_their_ideal_makespan(smoke_run: SmokeRun) -> None:
    """Measured by pyperf's workers, every fan_out cell records the bound of the concurrency its
    model declares: one task at a time for serial, one per usable CPU for the process pool, all
    the tasks at once for the others."""
    result = smoke_run.result
    models = [get_model(name) for name in available_model_names()]
    cells = {cell.name: cell for cell in plan(models, ["fan_out"], SMOKE_MATRIX)}
    recorded = {
        bench.get_name(): bench.get_metadata()
        for bench in smoke_run.suite
        if bench.get_name().startswith("fan_out[")
    }
    assert set(recorded) == set(cells)
    for name, meta in recorded.items():
        bound = cells[name].fan_out_bound()
        assert bound is not None
        expected = bound_metadata(bound)
        assert {key: meta.get(key) for key in expected} == expected, name
        assert ("fan_out_ideal" in meta) == (cells[name].spec.params.count("work=cpu") == 0)
    sleep = "fan_out[tasks=5,work=sleep,delay_ms=1.0,cpu_iterations=100]"
    assert recorded[f"{sleep}/serial"]["fan_out_ideal"] == pytest.approx(0.005)
    assert "fan_out overhead per task" in result.stdout


def test_list_shows_each_variant_with_its_availability() -> None:
    result = run("--list", model_dir=HARNESS_MODELS, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  t")}
    assert "available; workloads: pingpong, spawn" in lines["tuned[lane=b]"]
    assert "available; workloads: spawn" in lines["tuned[lane=d,pace=2]"]
    assert (
        "unavailable: no_such_library_for_concbench cannot be imported: ModuleNotFoundError"
        in lines["tuned[lane=c]"]
    )


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_variant_runs_as_a_cell_of_its_own(tmp_path: Path) -> None:
    """Selected by name, each variant is measured as its own cell and records its model, base
    model and variant; an unavailable variant is skipped with its reason, its base still runs."""
    output = tmp_path / "variants.json"
    result = run(
        "--debug-single-value", "--no-profile", "--no-latency",
        "--models", "tuned,tuned[lane=b],tuned[lane=c],tuned[lane=d,pace=2]",
        "--spec", "pingpong:rounds=5", "--spec", "spawn:tasks=5", "-o", str(output),
        model_dir=HARNESS_MODELS, timeout=170,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    recorded = {
        bench.get_name(): bench.get_metadata() for bench in pyperf.BenchmarkSuite.load(str(output))
    }
    # cell -> its variant and its order (the record's, plus the variant's position)
    expected = {
        "pingpong[rounds=5]/tuned": ("", 2000),
        "pingpong[rounds=5]/tuned[lane=b]": ("lane=b", 2001),
        "spawn[tasks=5]/tuned": ("", 2000),
        "spawn[tasks=5]/tuned[lane=b]": ("lane=b", 2001),
        "spawn[tasks=5]/tuned[lane=d,pace=2]": ("lane=d,pace=2", 2003),
    }
    assert set(recorded) == set(expected)
    for name, (variant, order) in expected.items():
        meta = recorded[name]
        assert meta["model"] == name.partition("/")[2], name
        # pyperf refuses an empty value: the plain model records no variant
        assert (meta["base_model"], meta.get("variant", "")) == ("tuned", variant), name
        assert meta["model_order"] == order, name
    assert recorded["pingpong[rounds=5]/tuned[lane=b]"]["primitive"] == "a loop in lane b"
    assert recorded["spawn[tasks=5]/tuned[lane=d,pace=2]"]["model_colour"] == "#abcdef"
    skipped = gaps(load(output))
    assert {
        name: (gap["status"], gap["reason"].split(":")[0]) for name, gap in skipped.items()
    } == {
        "pingpong[rounds=5]/tuned[lane=c]": ("skipped", "unavailable"),
        "spawn[tasks=5]/tuned[lane=c]": ("skipped", "unavailable"),
    }
    assert "tuned[lane=c]: skipped: unavailable: no_such_library_for_concbench" in result.stdout


def test_the_run_records_and_resume_compares_the_libraries_its_models_declare() -> None:
    from runners.campaign import model_libraries, run_environment

    args = argparse.Namespace(
        start_method="fork", processes=1, values=1, warmups=0, loops=1, min_time=0.1,
        memory_samples=None, no_profile=True, min_rounds=1, max_rounds=1, precision=0.02,
        cell_budget=1.0, affinity=None, fast=True,
    )  # fmt: skip

    def versions(*names: str) -> set[str]:
        environment = run_environment(args, model_libraries([get_model(n) for n in names]))
        suite = {"concbench_version", "spec_version"}
        return {key for key in environment if key.endswith("_version")} - suite

    assert model_libraries([get_model("threads"), get_model("gevent")]) == ("gevent", "greenlet")
    assert versions("threads") == {"pyperf_version", "psutil_version"}
    assert versions("threads", "gevent") == versions("threads") | {
        "gevent_version",
        "greenlet_version",
    }
