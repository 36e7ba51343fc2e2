"""Faults injected into a real run: deliberately faulty models (tests/faulty_models) run in a
small matrix beside healthy ones. Every healthy cell's result must be in the file, every faulty
cell listed with its reason, the exit status right, and no process left behind.

How a cell ended travels as data (``runners.verdict``): the cell process reports it on its
result channel, and error output that merely looks like a failure changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runners import campaign
from runners.supervisor import Finished, Supervised
from runners.verdict import FAILURE_FILE_VARIABLE, Failed, Measured, Skipped
from tests.runs import (
    ROOT,
    faulty_model_dir,
    gaps,
    kill_leftovers,
    leftovers,
    load,
    names,
    run_runner,
    runner_env,
)

CELL_TIMEOUT = "4"
HEALTHY = ("serial", "generators")
# Measures correctly; its error output looks like a crash, a resource limit, a failed cell.
MIMICS = "mimics"
# The smoke matrix's cells of the workloads the faults are in (one of its fan_out cells), in
# its order.
SPECS = (
    "pingpong:rounds=5",
    "fan_out:tasks=5,work=cpu,cpu_iterations=3",
    "spawn:tasks=5",
    "memory:tasks=5",
)


@dataclass
class FaultyRun:
    result: subprocess.CompletedProcess[str]
    output: Path
    data: dict[str, Any]
    left: list[str]


def _run(tmp_path: Path, models: str, specs: tuple[str, ...]) -> FaultyRun:
    model_dir = faulty_model_dir(tmp_path)
    output = tmp_path / "faults.json"
    try:
        result = run_runner(
            "--debug-single-value", "--quiet", "--no-profile", "--no-latency",
            "--models", f"{','.join(HEALTHY)},{models}",
            *(option for spec in specs for option in ("--spec", spec)),
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
    yield _run(tmp_path, f"hangs,crashes,miscounts,leaks,exhausts,missinglib,{MIMICS}", SPECS)


# One faulty run (its cell timeout included) for most of the module's tests.
pytestmark = [pytest.mark.timeout(240), pytest.mark.slow(seconds=20)]


def test_the_run_goes_on_and_keeps_every_healthy_cell(faulty_run: FaultyRun) -> None:
    measured = names(faulty_run.output)
    for workload in ("pingpong[rounds=5]", "spawn[tasks=5]"):
        for model in HEALTHY:
            assert f"{workload}/{model}" in measured, faulty_run.result.stdout
    # the healthy cells after the faulty ones in the plan ran too
    assert "memory[tasks=5]/generators" in measured
    assert not any(name.split("/")[-1] not in (*HEALTHY, MIMICS) for name in measured)


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


def test_error_output_that_looks_like_a_failure_changes_no_verdict(faulty_run: FaultyRun) -> None:
    """The mimics cell wrote a traceback's last line, a resource limit and "cell failed" to its
    error output, and measured correctly: it is measured, in the file and the table."""
    cell = f"pingpong[rounds=5]/{MIMICS}"
    assert cell in names(faulty_run.output)
    assert cell not in gaps(faulty_run.data)
    out = faulty_run.result.stdout
    assert f"{cell}: FAILED" not in out and f"{cell}: SKIPPED" not in out
    # its error output was still shown to people, as a measured cell's is
    assert "    | ResourceLimitError: pingpong[rounds=5]/mimics" in out


def _finished(result: str, *tail: str, returncode: int = 0) -> Finished:
    return Finished(returncode=returncode, elapsed=1.0, result=result, stderr_tail=list(tail))


MEASURED = json.dumps(
    {
        "verdict": "measured",
        "benchmark": {"runs": [{"values": [1e-6]}], "metadata": {"name": "a", "unit": "second"}},
        "latency": None,
    }
)
LOOKALIKES = (
    "ResourceLimitError: a: cannot start its tasks: out of memory",
    "ValueError: simulated crash",
    "concbench: cell failed: a pyperf worker exited with status 3",
)


def test_the_runner_judges_the_reported_verdict_not_the_error_output() -> None:
    assert isinstance(campaign.judge(_finished(MEASURED, *LOOKALIKES), 60.0), Measured)
    reported = json.dumps({"verdict": "failed", "error": "ValueError", "message": "real"})
    verdict = campaign.judge(_finished(reported, *LOOKALIKES), 60.0)
    assert verdict == Failed("real", "ValueError") and verdict.reason == "ValueError: real"
    skipped = json.dumps({"verdict": "skipped", "reason": "resource limit: no room"})
    assert campaign.judge(_finished(skipped, "ValueError: x"), 60.0) == Skipped(
        "resource limit: no room"
    )


@pytest.mark.parametrize(
    ("finished", "reason"),
    [
        (_finished("", *LOOKALIKES, returncode=-9), "the cell process was killed by SIGKILL"),
        (_finished("", *LOOKALIKES, returncode=3), "the cell process exited with status 3"),
        (_finished("", *LOOKALIKES), "the cell process wrote no result"),
        (_finished("{", *LOOKALIKES), "the cell process wrote an unreadable result"),
        (_finished(MEASURED, returncode=1), "exited with status 1 after its result"),
        (
            Finished(returncode=-15, elapsed=60.0, timed_out=True, result=MEASURED),
            "timed out after 60 s (--cell-timeout)",
        ),
        (
            Finished(returncode=0, elapsed=1.0, result=MEASURED, leftovers=["pid 7 (sleep)"]),
            "left 1 process(es) running after it ended: pid 7 (sleep); killed",
        ),
    ],
    ids=["killed", "exit", "no-result", "unreadable", "exit-after", "timeout", "leftovers"],
)
def test_a_cell_without_a_usable_verdict_fails_with_what_the_supervisor_saw(
    finished: Finished, reason: str
) -> None:
    verdict = campaign.judge(finished, 60.0)
    assert isinstance(verdict, Failed) and verdict.error is None
    assert reason in verdict.reason


def _cell_verdict(tmp_path: Path, model_dir: Path, cell: str) -> dict[str, Any]:
    """What one cell process writes on its result channel, run as the runner runs it."""
    failure_file = tmp_path / f"failure-{len(list(tmp_path.iterdir()))}.json"
    failure_file.write_text("")
    argv = [sys.executable, "-m", "runners.run", "--debug-single-value", "--no-profile",
            "--no-latency", "--cell", cell]  # fmt: skip
    supervised = Supervised(
        argv,
        timeout=60.0,
        cwd=ROOT,
        environ={**runner_env(model_dir), FAILURE_FILE_VARIABLE: str(failure_file)},
    )
    finished = supervised.run("--result-fd")
    assert not finished.timed_out and finished.leftovers == []
    verdict: dict[str, Any] = json.loads(finished.result)
    return verdict


@pytest.mark.timeout(120)
def test_each_outcome_travels_as_data_on_the_result_channel(tmp_path: Path) -> None:
    model_dir = faulty_model_dir(tmp_path)
    try:
        measured = _cell_verdict(tmp_path, model_dir, f"pingpong[rounds=5]/{MIMICS}")
        raised = _cell_verdict(tmp_path, model_dir, "pingpong[rounds=5]/crashes")
        exited = _cell_verdict(tmp_path, model_dir, "spawn[tasks=5]/crashes")
        limited = _cell_verdict(tmp_path, model_dir, "spawn[tasks=5]/exhausts")
        probe_limited = _cell_verdict(tmp_path, model_dir, "memory[tasks=5]/exhausts")
    finally:
        kill_leftovers(model_dir)
    assert measured["verdict"] == "measured" and measured["latency"] is None
    assert measured["benchmark"]["metadata"]["name"] == f"pingpong[rounds=5]/{MIMICS}"
    # the exception a pyperf worker raised, not pyperf's "worker failed"
    assert raised == {
        "verdict": "failed",
        "error": "ValueError",
        "message": "simulated crash in the pingpong loop",
    }
    # a worker that exits without raising: what the harness saw, and no exception type
    assert exited == {
        "verdict": "failed",
        "error": None,
        "message": "a pyperf worker exited with status 3",
    }
    assert limited["verdict"] == "skipped"
    assert limited["reason"].startswith("resource limit: spawn[tasks=5]/exhausts: cannot start")
    assert "(EAGAIN)" in limited["reason"]
    # the same from a memory probe, a process of the cell's own
    assert probe_limited == {
        "verdict": "skipped",
        "reason": "resource limit: memory[tasks=5]/exhausts: cannot start its tasks: "
        "out of memory (MemoryError)",
    }
