"""The ``concbench`` command: each subcommand does what its tox environment or script does, with
its own --help, and bad input is one line with exit status 2."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pyperf
import pytest

from runners import concbench

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
PY311 = DATA / "py311.json"
PY313 = DATA / "py313.json"


def run(*args: object, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


def concbench_command(*args: object, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run("-m", "runners.concbench", *args, timeout=timeout)


def test_the_package_installs_the_command() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["concbench"] == "runners.concbench:main"
    installed = Path(sys.executable).parent / "concbench"
    if not installed.exists():
        pytest.skip(f"the package is not installed beside {sys.executable}")
    done = subprocess.run(
        [str(installed), "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    assert done.returncode == 0 and done.stdout.startswith("concbench "), done.stderr


def test_help_names_every_command_and_how_to_run_what_tox_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert concbench.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("run", "list", "compare", "report", "readme"):
        assert f"\n  {command} " in out
    assert "concbench run --fast" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no command given; valid: run, list, compare, report, readme"),
        (["teleport"], "unknown command 'teleport'; valid: run, list, compare, report, readme"),
        (["list", "--models", "serial"], "unrecognized arguments: --models"),
        (["list", "--matrix", "huge"], "invalid choice: 'huge'"),
        (["compare", str(PY311)], "the following arguments are required: NEW"),
        (["report", str(PY311)], "the following arguments are required: -o/--output"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status: int | str | None
    try:
        status = concbench.main(args)
    except SystemExit as exc:  # argparse's way out, through cli.fail
        status = exc.code
    assert status == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("concbench"), captured.err
    assert message in captured.err


NO_MATPLOTLIB = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="readme needs matplotlib"
)


@pytest.mark.parametrize(
    "command", ["list", "compare", "report", pytest.param("readme", marks=NO_MATPLOTLIB)]
)
def test_each_command_has_its_own_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_status:
        concbench.main([command, "--help"])
    assert exit_status.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: concbench {command} ")


def test_run_help_is_the_runners_and_says_what_tox_adds() -> None:
    done = concbench_command("run", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: concbench run ")
    assert "tox -e bench adds pyperf's --fast" in " ".join(done.stdout.split())
    assert "--models" in done.stdout and "--rigorous" in done.stdout
    assert done.stderr == ""


def test_run_rejects_what_the_runner_rejects() -> None:
    done = concbench_command("run", "--models", "serial,fibers")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown model 'fibers'; valid: " in lines[0], done.stderr


@pytest.mark.parametrize("matrix", [[], ["--matrix", "smoke"]])
def test_list_prints_what_the_runners_list_prints(matrix: list[str]) -> None:
    listed = concbench_command("list", *matrix)
    runner = run("-m", "runners.run", "--list", *matrix)
    assert listed.returncode == runner.returncode == 0, listed.stderr + runner.stderr
    assert listed.stdout == runner.stdout
    assert "models:" in listed.stdout


def test_compare_prints_what_the_script_prints() -> None:
    args = (PY311, PY313, "--min-change", "5", "--format", "markdown")
    through_command = concbench_command("compare", *args)
    through_script = run(ROOT / "scripts" / "compare.py", *args)
    assert through_command.returncode == through_script.returncode == 0
    assert through_command.stdout == through_script.stdout
    assert "| benchmark |" in through_command.stdout


def test_compare_names_itself_in_its_messages() -> None:
    done = concbench_command("compare", PY311, DATA / "py311_regressed.json", "--fail-above", "10")
    assert done.returncode == 1
    assert done.stderr.startswith("concbench compare: regression: ")


@pytest.mark.timeout(120)
def test_run_measures_a_cell_whose_workers_run_the_runner(tmp_path: Path) -> None:
    output = tmp_path / "one.json"
    done = concbench_command(
        "run", "--debug-single-value", "--models", "serial", "--workloads", "spawn",
        "--matrix", "smoke", "--no-profile", "--no-latency", "-o", output,
        timeout=110,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    names = pyperf.BenchmarkSuite.load(str(output)).get_benchmark_names()
    assert names and all(name.startswith("spawn[") and name.endswith("/serial") for name in names)
