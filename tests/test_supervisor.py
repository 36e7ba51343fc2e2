"""The supervisor on small stand-in processes: result pipe, error tail, time limit, strays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from runners import supervisor
from runners.supervisor import Supervised

pytestmark = pytest.mark.timeout(60)


def python(source: str) -> list[str]:
    """A cell stand-in: the script gets the result pipe's number as its last argument."""
    return [sys.executable, "-c", textwrap.dedent(source), "cell"]


def run(source: str, timeout: float = 30.0) -> supervisor.Finished:
    return Supervised(python(source), timeout=timeout, cwd=Path.cwd()).run("--result-fd")


def test_the_result_pipe_and_the_error_tail_reach_the_runner() -> None:
    finished = run(
        """
        import os, sys
        print("warning: one", file=sys.stderr)
        with os.fdopen(int(sys.argv[-1]), "w") as out:
            out.write("the result")
        """
    )
    assert finished.returncode == 0
    assert finished.result == "the result"
    assert finished.stderr_tail == ["warning: one"]
    assert not finished.timed_out and not finished.stopped and finished.leftovers == []


def test_the_cell_gets_the_variables_it_is_given_besides_the_runners() -> None:
    source = """
        import os, sys
        with os.fdopen(int(sys.argv[-1]), "w") as out:
            out.write(os.environ["CONCBENCH_TEST_GIVEN"] + " " + os.environ["PATH"])
        """
    given = Supervised(
        python(source), timeout=30.0, cwd=Path.cwd(), environ={"CONCBENCH_TEST_GIVEN": "yes"}
    ).run("--result-fd")
    assert given.result == f"yes {os.environ['PATH']}"
    assert "CONCBENCH_TEST_GIVEN" not in os.environ
    assert run(source).returncode != 0  # without it, the stand-in has no such variable


def test_only_the_last_lines_of_error_output_are_kept() -> None:
    finished = run("import sys\nfor i in range(1000): print(i, file=sys.stderr)")
    assert finished.stderr_tail == [str(i) for i in range(1000 - supervisor.TAIL_LINES, 1000)]


@pytest.mark.slow
def test_a_process_past_its_time_limit_is_killed_with_its_children(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The stand-in ignores SIGTERM: it is killed after the grace, which need not be a second.
    monkeypatch.setattr(supervisor, "TERMINATE_GRACE", 0.05)
    started = time.monotonic()
    finished = run(
        """
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        time.sleep(60)
        """,
        timeout=1.0,
    )
    assert finished.timed_out
    assert time.monotonic() - started < 10
    assert len(finished.leftovers) == 2  # the stand-in and its child, both stopped
    assert finished.returncode < 0


ESCAPE = """
import json, sys
from pathlib import Path
from runners.supervisor import Supervised, become_subreaper

cell = '''
import os, subprocess, sys
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)"],
    start_new_session=True, stderr=subprocess.DEVNULL,
)
os.fdopen(int(sys.argv[-1]), "w").write(str(child.pid))
'''
become_subreaper()
finished = Supervised([sys.executable, "-c", cell, "cell"], timeout=30, cwd=Path.cwd()).run(
    "--result-fd"
)
print(json.dumps({"stray": int(finished.result), "leftovers": finished.leftovers}))
"""


@pytest.mark.slow
def test_a_process_that_escapes_its_group_is_found_and_killed() -> None:
    # In a process of its own: becoming a subreaper would change how this one reaps orphans.
    out = subprocess.run(
        [sys.executable, "-c", ESCAPE], capture_output=True, text=True, check=True, timeout=50
    ).stdout
    report = json.loads(out)
    assert len(report["leftovers"]) == 1 and f"pid {report['stray']} " in report["leftovers"][0]
    assert not psutil.pid_exists(report["stray"])


def test_a_stop_request_ends_the_process_at_once() -> None:
    cell = Supervised(python("import time; time.sleep(60)"), timeout=60, cwd=Path.cwd())
    cell.request_stop()  # a signal that arrives before the process starts still counts
    started = time.monotonic()
    finished = cell.run("--result-fd")
    assert finished.stopped and not finished.timed_out
    assert time.monotonic() - started < 5


def test_no_descriptor_is_left_open() -> None:
    before = len(os.listdir("/proc/self/fd"))
    run("pass")
    assert len(os.listdir("/proc/self/fd")) == before


def test_processes_the_runner_had_before_the_cell_are_not_the_cells() -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        finished = run("pass")
        assert finished.leftovers == []
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
