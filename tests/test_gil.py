"""The GIL as measured (``bench.results.gil``): recorded by the measuring processes, flagged in the
summary and the report where it differs from what the run asked for, and off in a free-threaded
run's threads cells; a process measuring threads or processes imports no greenlet or gevent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyperf
import pytest

from bench.analysis.findings import gap_findings
from bench.render.terminal import gil_warning, render_all
from bench.results import gil
from bench.results.schema import Entry, load
from bench.spec.cellnames import parse_cell_name
from tests.runs import ROOT, runner_env

FREE_THREADED_VARIABLE = "CONCBENCH_FREE_THREADED_PYTHON"
FREE_THREADED_NAMES = ("python3.13t", "python3.14t")
FREE_THREADED_FALLBACK = Path("/opt/python3.13t/bin/python3.13t")
FT_BUILD = "CPython 3.13.15 (free-threading)"
GIL_BUILD = "CPython 3.13.15"
CELL = "pingpong[rounds=5]/threads"


def _bench(name: str, common: dict[str, Any], *run_readings: str | None) -> pyperf.Benchmark:
    parts = parse_cell_name(name)
    cell = {"workload": parts.workload, "params": parts.params, "model": parts.model}
    runs = []
    for reading in run_readings:
        metadata: dict[str, Any] = {"name": name, "unit": "second", **cell, **common}
        if reading is not None:
            metadata[gil.MEASURED_KEY] = reading
        runs.append(pyperf.Run([1e-6], metadata=metadata, collect_metadata=False))
    return pyperf.Benchmark(runs)


def test_requested_state_follows_the_build_and_python_gil() -> None:
    assert gil.requested({"python_build": FT_BUILD}) == gil.DISABLED
    assert gil.requested({"python_build": FT_BUILD, "environ": "PYTHON_GIL=0"}) == gil.DISABLED
    assert gil.requested({"python_build": FT_BUILD, "environ": "A=1 PYTHON_GIL=1"}) == gil.ENABLED
    assert gil.requested({"python_build": GIL_BUILD}) == gil.ENABLED
    assert gil.requested({}) is None


def test_mismatch_flags_mixed_and_unrequested_readings_only() -> None:
    off, on = {gil.MEASURED_KEY: gil.DISABLED}, {gil.MEASURED_KEY: gil.ENABLED}
    assert gil.mismatch([off, off], gil.DISABLED) is None
    assert gil.mismatch([on], gil.DISABLED) == "GIL enabled, the run asked for it disabled"
    assert gil.mismatch([off, on], gil.DISABLED) == "GIL disabled in some runs, enabled in others"
    # a probe's reading counts as much as a worker's
    assert gil.mismatch([off, {"latency_gil_measured": gil.ENABLED}], gil.DISABLED) is not None
    # files from before the readings: nothing to compare
    assert gil.mismatch([{}, {"python_gil": "disabled"}], gil.DISABLED) is None


def test_the_hook_reports_enabled_if_any_run_ended_with_the_gil_on() -> None:
    metadata: dict[str, Any] = {}
    hook = gil.GilReading()
    hook.teardown(metadata)
    assert metadata == {}
    with hook:
        pass
    hook.teardown(metadata)
    assert metadata == {gil.MEASURED_KEY: gil.state()}
    hook.readings = {gil.DISABLED, gil.ENABLED}
    hook.teardown(metadata)
    assert metadata[gil.MEASURED_KEY] == gil.ENABLED


def test_the_summary_warns_once_naming_the_cells_whose_gil_came_on() -> None:
    ft = {"python_build": FT_BUILD}
    good = Entry.from_pyperf(_bench("pingpong[rounds=5]/serial", ft, gil.DISABLED, gil.DISABLED))
    turned_on = Entry.from_pyperf(_bench(CELL, ft, gil.DISABLED, gil.ENABLED))
    assert gil_warning([good]) is None
    warning = gil_warning([good, turned_on])
    assert warning is not None
    assert "\n" not in warning
    assert warning.startswith("warning: 1 cell(s)")
    assert CELL in warning and "serial" not in warning
    assert "asked for GIL off" in warning
    assert render_all([good, turned_on], []).splitlines()[0] == warning
    # PYTHON_GIL=1 on the free-threaded build asks for the GIL: enabled is what it asked for
    forced = {**ft, "environ": "PYTHON_GIL=1"}
    assert gil_warning([Entry.from_pyperf(_bench(CELL, forced, gil.ENABLED, gil.ENABLED))]) is None
    # an old file without readings behaves as before
    old = Entry.from_pyperf(_bench(CELL, ft, None, None))
    assert gil_warning([old]) is None
    assert not render_all([old], []).startswith("warning")


def test_the_report_says_which_cells_measured_another_gil_state(tmp_path: Path) -> None:
    ft = {"python_build": FT_BUILD}
    benches = [
        _bench("pingpong[rounds=5]/serial", ft, gil.DISABLED),
        _bench(CELL, ft, gil.ENABLED),
    ]
    path = tmp_path / "ft.json"
    pyperf.BenchmarkSuite(benches).dump(str(path))
    texts = [finding.text for finding in gap_findings(load(path))]
    assert len(texts) == 1
    assert texts[0].startswith("1 cell(s) measured a GIL state other than the run's")
    assert "threads in pingpong" in texts[0] and "serial" not in texts[0]

    consistent = tmp_path / "consistent.json"
    pyperf.BenchmarkSuite([benches[0]]).dump(str(consistent))
    assert gap_findings(load(consistent)) == []


# What a cell process and its pyperf workers import (runners.run -> runners.roles), then one
# run of the cell, as a worker makes it; prints the GIL-affecting modules and the GIL state.
IMPORT_PATH = """
import json, sys
from runners import roles as manager
from runners.cell_process import parse_cell_name
from runners.options import make_runner
from bench.measure.cells import run_cell
from bench.measure.environment import environment_metadata
from bench.measure.meters import Clock
make_runner()
cell = parse_cell_name(sys.argv[1])
run_cell(cell, Clock())
environment_metadata("fork", cell.model.libraries)
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("greenlet", "gevent"))
gil_on = sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True
print(json.dumps({"loaded": loaded, "gil": gil_on}))
"""


def _import_path(python: str, cell: str) -> dict[str, Any]:
    result = subprocess.run(
        [python, "-c", IMPORT_PATH, cell],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=runner_env(),
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.parametrize("model", ["threads", "processes"])
def test_a_threads_or_processes_cell_process_imports_no_greenlet_or_gevent(model: str) -> None:
    assert _import_path(sys.executable, f"pingpong[rounds=5]/{model}")["loaded"] == []


def test_the_import_check_sees_a_model_that_imports_greenlet() -> None:
    pytest.importorskip("greenlet", reason="greenlet is not installed here")
    assert "greenlet" in _import_path(sys.executable, "pingpong[rounds=5]/greenlet")["loaded"]


def free_threaded_python() -> str | None:
    """A free-threaded interpreter: $CONCBENCH_FREE_THREADED_PYTHON, python3.13t or python3.14t
    on PATH, or the one scripts/build-freethreaded-python.sh installs by default."""
    named = os.environ.get(FREE_THREADED_VARIABLE)
    if named:
        return named
    for name in FREE_THREADED_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return str(FREE_THREADED_FALLBACK) if FREE_THREADED_FALLBACK.exists() else None


@pytest.fixture(scope="module")
def ft_python() -> str:
    python = free_threaded_python()
    if python is None:
        pytest.skip(
            f"no free-threaded Python: set {FREE_THREADED_VARIABLE}, put python3.13t on PATH "
            "or build one with scripts/build-freethreaded-python.sh"
        )
    check = "import sys, pyperf, psutil; print(sys._is_gil_enabled())"
    probe = subprocess.run([python, "-c", check], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["it does not run"])[-1]
        pytest.skip(f"{python} cannot run the runner (pip install pyperf psutil there): {last}")
    assert probe.stdout.strip() == "False", f"{python} is not a free-threaded build"
    return python


def test_the_threads_import_path_keeps_the_gil_off_on_the_free_threaded_build(
    ft_python: str,
) -> None:
    assert _import_path(ft_python, CELL) == {"loaded": [], "gil": False}


def _run_tiny_cell(python: str, output: Path, models: str = "threads") -> pyperf.Benchmark:
    """The threads cell of a tiny run of ``models`` (its other cells: ``_benchmarks``)."""
    return _benchmarks(python, output, models)[CELL]


def _benchmarks(python: str, output: Path, models: str) -> dict[str, pyperf.Benchmark]:
    args = ["--spec", "pingpong:rounds=5", "--models", models, "-p", "1", "-n", "1", "-w", "0"]
    result = subprocess.run(
        [python, "-m", "runners.run", *args, "--loops", "1", "-o", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # the run asks for nothing: a free-threaded build's default is the GIL off
        env={name: value for name, value in runner_env().items() if name != "PYTHON_GIL"},
    )
    assert result.returncode == 0, result.stderr
    benchmarks = pyperf.BenchmarkSuite.load(str(output)).get_benchmarks()
    return {bench.get_name(): bench for bench in benchmarks}


def _readings(bench: pyperf.Benchmark) -> dict[str, str]:
    metadata = bench.get_metadata()
    return {key: metadata[key] for key in gil.MEASURED_KEYS}


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_runner_records_the_gil_its_workers_and_probes_measured(tmp_path: Path) -> None:
    bench = _run_tiny_cell(sys.executable, tmp_path / "here.json")
    expected = gil.state()
    assert _readings(bench) == dict.fromkeys(gil.MEASURED_KEYS, expected)
    assert all(run.get_metadata()[gil.MEASURED_KEY] == expected for run in bench.get_runs())


@pytest.mark.slow(seconds=3)
@pytest.mark.timeout(180)
def test_a_free_threaded_runs_threads_cell_measured_with_the_gil_off(
    ft_python: str, tmp_path: Path
) -> None:
    bench = _run_tiny_cell(ft_python, tmp_path / "ft.json")
    assert "free-threading" in bench.get_metadata()["python_build"]
    assert _readings(bench) == dict.fromkeys(gil.MEASURED_KEYS, gil.DISABLED)
    assert gil_warning([Entry.from_pyperf(bench)]) is None


@pytest.mark.slow(seconds=5)
@pytest.mark.timeout(240)
def test_a_free_threaded_run_measures_its_gil_on_twin_with_the_gil_on(
    ft_python: str, tmp_path: Path
) -> None:
    """One run, two GIL states: the twin's worker and probes start with PYTHON_GIL=1, the
    plain model's do not, and neither is flagged, since each measured what it asked for."""
    twin = f"{CELL}[gil=on]"
    benchmarks = _benchmarks(ft_python, tmp_path / "ft.json", "threads,threads[gil=on]")
    assert _readings(benchmarks[CELL]) == dict.fromkeys(gil.MEASURED_KEYS, gil.DISABLED)
    assert _readings(benchmarks[twin]) == dict.fromkeys(gil.MEASURED_KEYS, gil.ENABLED)
    assert benchmarks[twin].get_metadata()["environ"] == "PYTHON_GIL=1"
    entries = [Entry.from_pyperf(bench) for bench in benchmarks.values()]
    assert gil_warning(entries) is None
    assert load(tmp_path / "ft.json").label.endswith("t GIL off")
