"""scripts/build-freethreaded-python.sh without building: its one-line refusals, and that it
does nothing when PREFIX already holds an interpreter of the kind asked for."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runs import ROOT

SCRIPT = ROOT / "scripts" / "build-freethreaded-python.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "usage:"),
        (("/tmp/x", "3.13", "extra"), "usage:"),
        (("/tmp/x", "3.12"), "VERSION must be 3.13 or later"),
        (("--with-gil", "/tmp/x", "three"), "VERSION must be 3.13 or later"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_1(args: tuple[str, ...], message: str) -> None:
    result = _run(*args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_an_existing_interpreter_of_the_kind_asked_for_is_kept(tmp_path: Path) -> None:
    if not getattr(sys, "_is_gil_enabled", lambda: True)():
        pytest.skip("this interpreter is a free-threaded build")
    (tmp_path / "bin").mkdir()
    os.symlink(sys.executable, tmp_path / "bin" / "python3.13")
    result = _run("--with-gil", str(tmp_path), "3.13")
    assert result.returncode == 0, result.stderr
    assert "is already a default (GIL) build" in result.stdout
    assert f'PATH="{tmp_path}/bin:$PATH" tox -e py313-bench' in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]  # nothing built or downloaded
