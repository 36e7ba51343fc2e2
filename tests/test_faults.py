"""Faults injected into a real run: deliberately faulty models (tests/faulty_models) run in a
small matrix beside healthy ones. Every healthy cell's result must be in the file, every faulty
cell listed with its reason, the exit status right, and no process left behind."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.runs import faulty_model_dir, gaps, kill_leftovers, leftovers, load, names, run_runner

CELL_TIMEOUT = "4"
HEALTHY = ("serial", "generators")


@dataclass
class FaultyRun:
    result: subprocess.CompletedProcess[str]
    output: Path
    data: dict[str, Any]
    left: list[str]


def _run(tmp_path: Path, models: str, workloads: str) -> FaultyRun:
    model_dir = faulty_model_dir(tmp_path)
    output = tmp_path / "faults.json"
    try:
        result = run_runner(
            "--debug-single-value", "--quiet", "--matrix", "smoke", "--no-profile",
            "--models", f"{','.join(HEALTHY)},{models}", "--workloads", workloads,
            "--cell-timeout", CELL_TIMEOUT, "-o", str(output),
            model_dir=model_dir,
        )  # fmt: skip
        left = leftovers(model_dir)
    finally:
        kill_leftovers(model_dir)
    return FaultyRun(result, output, load(output), left)


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyRun]:
    tmp_path = tmp_path_factory.mktemp("faults")
    yield _run(
        tmp_path,
        "hangs,crashes,miscounts,leaks,exhausts,missinglib",
        "pingpong,spawn,fan_out,memory",
    )


pytestmark = pytest.mark.timeout(240)


def test_the_run_goes_on_and_keeps_every_healthy_cell(faulty_run: FaultyRun) -> None:
    measured = names(faulty_run.output)
    for workload in ("pingpong[rounds=5]", "spawn[tasks=5]"):
        for model in HEALTHY:
            assert f"{workload}/{model}" in measured, faulty_run.result.stdout
    # the healthy cells after the faulty ones in the plan ran too
    assert "memory[tasks=5]/generators" in measured
    assert not any(name.split("/")[-1] not in HEALTHY for name in measured)


def test_any_failed_cell_makes_the_exit_status_non_zero(faulty_run: FaultyRun) -> None:
    assert faulty_run.result.returncode == 1, faulty_run.result.stderr
    assert "Traceback" not in faulty_run.result.stderr


def test_no_process_is_left_behind(faulty_run: FaultyRun) -> None:
    assert faulty_run.left == []


def test_no_temporary_file_is_left_behind(faulty_run: FaultyRun) -> None:
    assert [p.name for p in faulty_run.output.parent.iterdir() if p.name != "models"] == [
        faulty_run.output.name
    ]


@pytest.mark.parametrize(
    ("cell", "status", "reason"),
    [
        ("pingpong[rounds=5]/hangs", "failed", f"timed out after {CELL_TIMEOUT} s"),
        ("pingpong[rounds=5]/crashes", "failed", "ValueError: simulated crash in the pingpong"),
        ("spawn[tasks=5]/crashes", "failed", "a pyperf worker exited with status 3"),
        (
            "fan_out[tasks=5,work=cpu,delay_ms=1.0,cpu_iterations=3]/crashes",
            "failed",
            "a pyperf worker was killed by SIGKILL",
        ),
        ("pingpong[rounds=5]/miscounts", "failed", "CellError: checksum (11,) != reference (10,)"),
        ("pingpong[rounds=5]/leaks", "failed", "process(es) running after it ended"),
        ("spawn[tasks=5]/leaks", "failed", "process(es) running after it ended"),
        ("pingpong[rounds=5]/exhausts", "skipped", "resource limit: cannot start its tasks: "
         "can't start new thread"),
        ("spawn[tasks=5]/exhausts", "skipped", "Resource temporarily unavailable (EAGAIN)"),
        ("memory[tasks=5]/exhausts", "skipped", "out of memory (MemoryError)"),
        ("pingpong[rounds=5]/missinglib", "skipped", "unavailable: no_such_library_for_concbench "
         "cannot be imported: ModuleNotFoundError"),
    ],
)  # fmt: skip
def test_each_fault_is_recorded_with_its_reason(
    faulty_run: FaultyRun, cell: str, status: str, reason: str
) -> None:
    gap = gaps(faulty_run.data)[cell]
    assert gap["status"] == status
    assert reason in gap["reason"]
    # and said on the terminal: as it happens, and in the list at the end
    out = faulty_run.result.stdout
    if "missinglib" not in cell:  # never started: said once, before the run
        assert f"{cell}: {status.upper()}: " in out
    assert f"  {cell}: {gap['reason']}" in out.split(f"\n{status} cells (")[1]


def test_a_wrong_checksum_stores_no_number(faulty_run: FaultyRun) -> None:
    assert not any("miscounts" in name for name in names(faulty_run.output))


def test_a_crash_keeps_the_last_lines_of_the_error_output(faulty_run: FaultyRun) -> None:
    recorded = gaps(faulty_run.data)["pingpong[rounds=5]/crashes"]["output"]
    assert "ValueError: simulated crash in the pingpong loop" in recorded
    assert 1 < len(recorded) <= 8
    out = faulty_run.result.stdout
    block = out.split("pingpong[rounds=5]/crashes: FAILED: ")[1].split("\n\n")[0]
    assert "    | ValueError: simulated crash in the pingpong loop" in block
    assert "raise ValueError" in block


def test_the_summary_table_marks_the_gaps(faulty_run: FaultyRun) -> None:
    row = next(
        line for line in faulty_run.result.stdout.splitlines() if line.startswith("pingpong ")
    )
    assert row.count("FAILED") == 4 and row.count("skipped") == 2


def test_a_run_in_which_every_cell_fails_still_records_why(tmp_path: Path) -> None:
    model_dir = faulty_model_dir(tmp_path)
    output = tmp_path / "all-failed.json"
    try:
        result = run_runner(
            "--debug-single-value", "--matrix", "smoke", "--no-profile", "--models", "crashes",
            "--workloads", "pingpong", "-o", str(output), model_dir=model_dir,
        )  # fmt: skip
    finally:
        kill_leftovers(model_dir)
    assert result.returncode == 1
    data = load(output)
    assert data["benchmarks"] == []
    assert list(gaps(data)) == ["pingpong[rounds=5]/crashes"]
