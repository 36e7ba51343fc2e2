"""SIGINT and SIGTERM sent to a real run mid-way, and resuming it afterwards.

The run measures a row of two healthy cells (spawn), then reaches the pingpong row, whose
``hangs`` cell would run until its (long) time limit: the signal arrives while that cell's
processes are running. A row is measured in interleaved rounds, so the interrupted row keeps
none of its cells: a resumed run measures it again, whole.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from bench.results import schema
from tests.runs import (
    faulty_model_dir,
    gaps,
    kill_leftovers,
    leftovers,
    load,
    names,
    run_runner,
    start_runner,
)

COMMON = ("--debug-single-value", "--quiet", "--matrix", "smoke", "--workloads", "pingpong",
          "--no-profile")  # fmt: skip
# The spawn row first, then the pingpong row with the hanging cell.
ROWS = ("--debug-single-value", "--quiet", "--spec", "spawn:tasks=5", "--spec", "pingpong:rounds=5",
        "--no-profile")  # fmt: skip
FINISHED = {"spawn[tasks=5]/serial", "spawn[tasks=5]/generators"}
# Time the run gets to stop after the signal; the hung cell ignores SIGTERM, so this includes
# the escalation to SIGKILL.
STOP_WITHIN = 10.0

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow(seconds=5)]


def _hung_cell_is_hanging() -> bool:
    """Whether the hanging cell's pyperf worker ignores SIGTERM: it has reached its hang."""
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or ())
        if "--worker" not in command or "/hangs" not in command:
            continue
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            continue
        ignored = next(line for line in status.splitlines() if line.startswith("SigIgn:"))
        if int(ignored.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
            return True
    return False


def _measured(path: Path) -> set[str]:
    try:
        return names(path)
    except Exception:  # noqa: BLE001 - the file may not exist yet
        return set()


def interrupted_run(tmp_path: Path, signum: int) -> tuple[Path, Path, str, str, int, float]:
    model_dir = faulty_model_dir(tmp_path)
    output = tmp_path / "run.json"
    proc = start_runner(
        *ROWS, "--models", "serial,generators,hangs", "--cell-timeout", "120",
        "-o", str(output), model_dir=model_dir,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while _measured(output) != FINISHED:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the healthy cells never finished"
            time.sleep(0.1)
        while not _hung_cell_is_hanging():
            assert time.monotonic() < deadline, "the hanging cell never started"
            time.sleep(0.05)
        sent = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        left = leftovers(model_dir)
        kill_leftovers(model_dir)
    assert left == []
    return output, model_dir, out, err, proc.returncode, took


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_run_keeps_finished_cells_and_says_how_to_resume(
    tmp_path: Path, signum: int
) -> None:
    output, _, _, err, returncode, took = interrupted_run(tmp_path, signum)
    assert returncode == 128 + signum
    assert took < STOP_WITHIN
    assert names(output) == FINISHED
    data = load(output)
    assert data["concbench"]["interrupted"] is True
    # an interrupted cell is not a failure: it is simply not done
    assert gaps(data) == {}
    name = signal.Signals(signum).name
    assert f"interrupted by {name}: every finished cell is kept in {output}" in err
    assert f"--resume {output}" in err
    assert "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir() if p.name != "models"] == [output.name]


def test_resume_measures_only_the_missing_cells(tmp_path: Path) -> None:
    output, model_dir, *_ = interrupted_run(tmp_path, signal.SIGINT)
    before = {entry.name: len(entry.runs) for entry in _entries(output)}
    result = run_runner(
        *ROWS, "--models", "serial,generators,threads", "--resume", str(output),
        model_dir=model_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 of 6 cells are already measured there; 4 to go" in result.stdout
    after = {entry.name: len(entry.runs) for entry in _entries(output)}
    resumed = {"spawn[tasks=5]/threads", *(f"pingpong[rounds=5]/{m}" for m in
               ("serial", "generators", "threads"))}  # fmt: skip
    assert after == {**before, **dict.fromkeys(resumed, 1)}
    assert load(output)["concbench"]["interrupted"] is False


def _one_line_refusal(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_resume_is_refused_when_the_environment_differs(tmp_path: Path) -> None:
    output = tmp_path / "old.json"
    first = run_runner(*COMMON, "--models", "serial", "-o", str(output))
    assert first.returncode == 0, first.stderr
    pristine = output.read_bytes()

    # other pyperf settings would mix samples of different sizes
    other_settings = [arg for arg in COMMON if arg != "--debug-single-value"]
    result = run_runner("--fast", *other_settings, "--models", "serial,generators",
                        "--resume", str(output))  # fmt: skip
    line = _one_line_refusal(result)
    assert line.startswith(f"error: cannot resume {output}: it was measured in another environment")
    assert "measurement is 'processes=1 values=1" in line
    assert output.read_bytes() == pristine

    data = json.loads(pristine)
    data["concbench"]["environment"]["python_build"] = "CPython 2.7.18"
    output.write_text(json.dumps(data))
    before = output.read_bytes()
    result = run_runner(*COMMON, "--models", "serial,generators", "--resume", str(output))
    assert "python_build is 'CPython 2.7.18' in the file" in _one_line_refusal(result)
    assert output.read_bytes() == before


def _entries(path: Path) -> tuple[schema.Entry, ...]:
    return schema.load(path).entries
