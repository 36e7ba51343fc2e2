"""Bad input to the runner: one line on stderr naming the problem (and the valid choices),
exit status 2, no traceback, and nothing written or changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.runs import run_runner

EXISTING = "existing.json"
GARBLED = "garbled.json"
NOT_PYPERF = "not-pyperf.json"

CASES: list[tuple[tuple[str, ...], str]] = [
    (("--models", "serial,fibers"), "unknown model 'fibers'; valid: anyio, "),
    (("--models", ","), "no model selected; valid: "),
    (("--models", "asyncio[loop=nothing]"), "unknown model 'asyncio[loop=nothing]'; valid: "),
    (("--workloads", "teleport"), "unknown workload 'teleport'; valid: pingpong, "),
    (("--start-method", "teleport"), "unknown start method 'teleport'; valid: "),
    (("--matrix", "huge"), "invalid choice: 'huge' (choose from 'default', 'smoke', 'sweep', "),
    (("--spec", "producer_consumer:capacity=0"), "capacity must be an integer from 1 to "),
    (("--spec", "fan_out:tasks=-5"), "tasks must be an integer from 1 to 1,000,000, got -5"),
    (("--spec", "spawn:tasks=1000000000"), "tasks must be an integer from 1 to 1,000,000"),
    (("--spec", "producer_consumer:producers=5000000"), "producers must be an integer from 1"),
    (("--spec", "fan_out:delay_ms=-1"), "delay_ms must be from 0 to 60000"),
    (("--spec", "fan_out:work=dance"), "work must be one of cpu, sleep, echo, got 'dance'"),
    (("--spec", "fan_out:work=echo,request_bytes=4"), "request_bytes must be an integer from 8"),
    (("--spec", "fan_out:work=sleep,connect=reuse"), "connect applies to work=echo only"),
    (("--spec", "pingpong:rounds=many"), "rounds must be an integer, got 'many'"),
    (("--spec", "pingpong:speed=3"), "unknown parameter 'speed'; valid: rounds"),
    (("--spec", "teleport:x=1"), "unknown workload 'teleport'; valid: pingpong, "),
    (("--spec", "pingpong:rounds=5", "--matrix", "smoke"), "give --spec or --matrix, not both"),
    (("--memory-samples", "0"), "--memory-samples must be from 1 to 1000"),
    (("--cell-timeout", "0"), "--cell-timeout must be more than 0"),
    (("--cell-timeout", "-3"), "--cell-timeout must be more than 0"),
    (("--cell-timeout", "soon"), "argument --cell-timeout: invalid float value: 'soon'"),
    (("-p", "0"), "argument -p/--processes"),
    (("--modles", "serial"), "unrecognized arguments: --modles"),
    (("--model", "serial"), "unrecognized arguments: --model"),  # no silent abbreviation
    (("--track-memory",), "--track-memory is not supported"),
    (("-o", EXISTING), "existing.json already exists; choose another output file"),
    (("--resume", "missing.json"), "missing.json: no such file"),
    (("--append", "missing.json"), "missing.json: no such file"),
    (("--resume", GARBLED), "garbled.json: truncated JSON"),
    (("--resume", NOT_PYPERF), "not-pyperf.json: not a pyperf result file"),
    (("--resume", "."), ": is a directory, not a result file"),
    (("-o", "new.json", "--resume", EXISTING), "-o and --resume exclude each other"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / EXISTING).write_text("precious")
    (tmp_path / GARBLED).write_text('{"benchmarks": [')
    (tmp_path / NOT_PYPERF).write_text(json.dumps({"hello": "world"}))
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    paths = [str(tmp_path / arg) if arg.endswith(".json") or arg == "." else arg for arg in args]
    result = run_runner(*paths, timeout=60)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert after == before


def test_a_missing_model_directory_is_one_line(tmp_path: Path) -> None:
    result = run_runner("--list", model_dir=tmp_path / "nowhere")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: CONCBENCH_MODEL_PATH: {tmp_path / 'nowhere'} is not a directory"
    )
