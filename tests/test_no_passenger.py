"""No passenger: nothing of the harness runs while a region is measured.

The ``watcher`` model (tests/harness_models) checks it from inside every measured region of a
real run: the timed runs in a pyperf worker, the profile and latency passes, the memory probe.
The negative controls show that its check catches a thread that wakes every 10 ms, and the
supervisor's tests that the runner's wait for a cell, pidfd or fallback, does not wake.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import ModuleType

import pyperf
import pytest

from tests.runs import gaps, kill_leftovers, leftovers, load, run_runner

HARNESS_MODELS = Path(__file__).resolve().parent / "harness_models"
ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the watcher reads /proc"),
]


def _watcher() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "watcher_under_test", HARNESS_MODELS / "watcher.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


watcher = _watcher()


@pytest.mark.slow
def test_no_harness_thread_runs_during_any_measured_region(tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    shutil.copytree(HARNESS_MODELS, model_dir, ignore=shutil.ignore_patterns("__pycache__"))
    output = tmp_path / "quiet.json"
    try:
        result = run_runner(
            "-p", "1", "-n", "1", "-w", "0", "--loops", "1", "--memory-samples", "1",
            "--min-rounds", "1", "--max-rounds", "1",
            "--models", "watcher", "--spec", "pingpong:rounds=3", "--spec", "memory:tasks=5",
            "--cell-timeout", "120", "-o", str(output),
            model_dir=model_dir,
        )  # fmt: skip
        left = leftovers(model_dir)
    finally:
        kill_leftovers(model_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    data = load(output)
    assert gaps(data) == {}
    benches = {bench.get_name(): bench for bench in pyperf.BenchmarkSuite.load(str(output))}
    pingpong = benches["pingpong[rounds=3]/watcher"]
    # measured by all three passes: pyperf's worker, the profile probe, the latency probe
    assert pingpong.get_nvalue() == 1
    assert pingpong.get_metadata()["profile_runs"] >= 1
    assert "pingpong[rounds=3]/watcher" in data["concbench"]["latency"]
    assert benches["memory[tasks=5]/watcher"].get_metadata()["memory_delta"] > 0
    assert left == []


def _ticking_process(period: float) -> tuple[subprocess.Popen[str], int]:
    """A process whose second thread wakes every ``period`` seconds; and that thread's id."""
    source = f"""
        import sys, threading, time

        def tick():
            while True:
                time.sleep({period})

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        print(ticker.native_id, flush=True)
        sys.stdin.read()
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(source)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ticker = int(proc.stdout.readline())
    _settle(proc.pid)
    return proc, ticker


def _settle(pid: int) -> None:
    """Wait until the process's threads have reached their waits: the main thread prints the
    ticker's id before it blocks reading stdin, so right after the print it may still run."""
    deadline = time.monotonic() + 10.0
    main = (pid, pid)
    before = watcher.thread_switches([pid])[main]
    while time.monotonic() < deadline:
        time.sleep(0.05)
        after = watcher.thread_switches([pid])[main]
        if after == before:
            return
        before = after


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.communicate()


def test_the_watcher_catches_a_thread_that_wakes_every_10_ms() -> None:
    proc, ticker = _ticking_process(0.01)
    try:
        with pytest.raises(watcher.PassengerError) as caught:
            watcher.check_quiet([proc.pid])
    finally:
        _stop(proc)
    message = str(caught.value)
    assert f"pid {proc.pid} thread {ticker}: " in message and "context switches" in message
    # the blocked main thread did not wake: only the ticker is named
    assert f"pid {proc.pid} thread {proc.pid}:" not in message


def test_the_watcher_passes_a_process_whose_threads_all_block() -> None:
    proc, _ticker = _ticking_process(3600.0)
    try:
        watcher.check_quiet([proc.pid])
    finally:
        _stop(proc)


def test_the_watcher_refuses_a_second_thread_in_the_measuring_process() -> None:
    release = threading.Event()
    extra = threading.Thread(target=release.wait)
    extra.start()
    try:
        with pytest.raises(watcher.PassengerError, match=r"runs [2-9]\d* threads"):
            watcher.check_alone()
    finally:
        release.set()
        extra.join()


@pytest.mark.parametrize(
    ("argv", "harness"),
    [
        (["python3", "-m", "runners.run", "--cell", "pingpong[rounds=3]/watcher"], True),
        (["python3", "-m", "runners.probe", "latency", "--model", "watcher"], True),
        (["python3", "-m", "pytest", "tests"], False),
        (["python3", "-c", "...", "-m", "runners.run"], False),
    ],
)
def test_harness_processes_are_recognised_by_their_command_line(
    argv: list[str], harness: bool
) -> None:
    assert watcher.is_harness(argv) is harness


# A runner stand-in: supervises a cell stand-in that watches it (and its threads) while the
# runner waits. Run in a process of its own so that no thread of pytest's is watched.
RUNNER = """
import json, sys
from pathlib import Path
from runners import supervisor

if sys.argv[1] == "fallback":
    del supervisor.os.pidfd_open  # the portable wait: a thread blocked in waitpid
cell = '''
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("watcher", sys.argv[1])
watcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(watcher)
try:
    watcher.check_quiet([os.getppid()], 0.5)
    verdict = "quiet"
except watcher.PassengerError as exc:
    verdict = str(exc)
os.fdopen(int(sys.argv[-1]), "w").write(verdict)
'''
argv = [sys.executable, "-c", cell, sys.argv[2]]
finished = supervisor.Supervised(argv, timeout=60, cwd=Path.cwd()).run("--result-fd")
print(json.dumps({"result": finished.result, "returncode": finished.returncode}))
"""


@pytest.mark.parametrize("wait", ["pidfd", "fallback"])
def test_the_runner_sleeps_while_its_cell_runs(wait: str) -> None:
    if wait == "pidfd" and not hasattr(os, "pidfd_open"):
        pytest.skip("no pidfd_open here")
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, wait, str(HARNESS_MODELS / "watcher.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    report = json.loads(out)
    assert report == {"result": "quiet", "returncode": 0}
