"""The runner the user starts: plans the cells, measures each in a supervised process of its
own, and keeps every result it obtains.

A cell that hangs (past ``--cell-timeout``), crashes, returns a wrong checksum or leaves a
process running is recorded as failed with its reason, and the run goes on; a cell that hits a
resource limit, and every cell of an unavailable model, is recorded as skipped. The result file
is rewritten atomically after every cell. SIGINT and SIGTERM stop the current cell's processes,
keep the finished cells and print how to resume.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pyperf

from bench.measure import latency
from bench.measure.cells import Cell, plan
from bench.measure.environment import environment_metadata
from bench.registry import Model, get_model
from bench.render.terminal import render_all
from bench.results.storage import (
    CellGap,
    GapStatus,
    ResultFile,
    StorageError,
    StoredResults,
    default_output,
    read_results,
)
from bench.spec.workloads import MATRICES, SWEEP_MATRICES, Scope, Spec
from runners.options import RESULT_FILE_OPTIONS, UsageError, cell_argv, drop_options
from runners.supervisor import Finished, Supervised, become_subreaper
from runners.sweeps import order_cells, skip_reason, sweep_report

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TAIL_SHOWN = 8
# The last line of a Python traceback: "package.module.ErrorName: message".
EXCEPTION_LINE = re.compile(
    r"^(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*(?:Error|Exception|Failed)): (.+)$"
)
RESOURCE_LIMIT = re.compile(r"ResourceLimitError: (.+)$")
# Metadata that a resumed or appended run must share with the file it continues.
ENVIRONMENT_KEYS = (
    "python_build", "python_gil", "pyperf_version", "greenlet_version", "gevent_version",
    "psutil_version", "concbench_version", "spec_version", "mp_start_method", "environ",
    "hostname", "cpu_count",
)  # fmt: skip


def run_environment(args: argparse.Namespace) -> dict[str, Any]:
    """What a number of this run depends on besides its cell: recorded in the result file."""
    environment: dict[str, Any] = {
        key: value
        for key, value in environment_metadata(args.start_method).items()
        if key in ENVIRONMENT_KEYS
    }
    environment["environ"] = environment.get("environ", "")
    environment["hostname"] = socket.gethostname()
    environment["cpu_count"] = os.cpu_count() or 0
    environment["measurement"] = (
        f"processes={args.processes} values={args.values} warmups={args.warmups} "
        f"loops={args.loops} min_time={args.min_time:g} "
        f"memory_samples={args.memory_samples or 'default'} "
        f"profile={'no' if args.no_profile else 'yes'}"
    )
    return environment


def environment_differences(stored: StoredResults, current: dict[str, Any]) -> list[str]:
    """How this run's environment differs from the one that wrote ``stored``."""
    recorded: dict[str, Any]
    if stored.environment is not None:
        recorded = dict(stored.environment)
    elif stored.benchmarks:
        # A file written before the environment was recorded: its benchmarks carry most of it.
        recorded = dict(stored.benchmarks[0].get_metadata())
        recorded.setdefault("environ", "")
    else:
        return []
    differences = []
    for key, value in current.items():
        if key in recorded and str(recorded[key]) != str(value):
            differences.append(f"{key} is {recorded[key]!r} in the file, {value!r} here")
    return differences


@dataclass
class RunState:
    """What the run has so far; the result file is rewritten from it after every cell."""

    result_file: ResultFile
    environment: dict[str, Any]
    benchmarks: list[pyperf.Benchmark] = field(default_factory=list)
    gaps: list[CellGap] = field(default_factory=list)
    # Cell name -> its latency record (bench.measure.latency). A re-measured cell's new record
    # replaces
    # the stored one; re-measured with --no-latency, it keeps the stored one.
    latency: dict[str, dict[str, Any]] = field(default_factory=dict)
    current: Supervised | None = None
    stop_signal: int | None = None

    def save(self) -> None:
        self.result_file.write(
            self.benchmarks,
            self.gaps,
            self.environment,
            interrupted=self.stop_signal is not None,
            latency=self.latency,
        )

    def record(self, bench: pyperf.Benchmark, latency: dict[str, Any] | None = None) -> None:
        self._forget_gap(bench.get_name())
        if latency is not None:
            self.latency[bench.get_name()] = latency
        for existing in self.benchmarks:
            if existing.get_name() == bench.get_name():
                existing.add_runs(bench)
                return
        self.benchmarks.append(bench)

    def record_gap(
        self, cell: Cell, status: GapStatus, reason: str, output: tuple[str, ...] = ()
    ) -> None:
        self._forget_gap(cell.name)
        spec = cell.spec
        self.gaps.append(
            CellGap(cell.name, spec.workload, spec.params, cell.model.name, status, reason, output)
        )

    def _forget_gap(self, name: str) -> None:
        self.gaps = [gap for gap in self.gaps if gap.name != name]


@contextmanager
def stop_on_signals(state: RunState) -> Iterator[None]:
    """SIGINT and SIGTERM stop the current cell and end the loop; the run then saves."""

    def handler(signum: int, frame: FrameType | None) -> None:
        state.stop_signal = state.stop_signal or signum
        if state.current is not None:
            state.current.request_stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _cells(args: argparse.Namespace, models: list[Model]) -> list[Cell]:
    matrix: tuple[tuple[Spec, Scope], ...]
    if args.specs:
        matrix = tuple((spec, "all") for spec in args.specs)
        workloads = list(dict.fromkeys(spec.workload for spec in args.specs))
        if args.workloads is not None:
            workloads = [w for w in workloads if w in args.workloads]
    else:
        matrix = MATRICES[args.matrix]
        workloads = args.workloads
    cells = plan(models, workloads, matrix)
    return order_cells(cells) if _sweeping(args) else cells


def _sweeping(args: argparse.Namespace) -> bool:
    return not args.specs and args.matrix in SWEEP_MATRICES


def _sweep_skip(state: RunState, cell: Cell, args: argparse.Namespace) -> bool:
    """In a sweep, record ``cell`` as skipped when it cannot usefully be measured."""
    reason = skip_reason(
        cell, state.benchmarks, state.gaps, args.sweep_run_limit, args.cell_timeout
    )
    if reason is None:
        return False
    print(f"{cell.name}: SKIPPED: {reason}", flush=True)
    state.record_gap(cell, "skipped", reason)
    return True


def classify(finished: Finished, timeout: float, name: str) -> tuple[GapStatus, str] | None:
    """A finished cell's gap status and reason, or None when it produced a clean result."""
    verdict = _verdict(finished, timeout)
    if verdict is None:
        return None
    status, reason = verdict
    # Errors raised inside a cell start with its name; the gap is listed under it already.
    return status, reason.replace(f"{name}: ", "")


def _verdict(finished: Finished, timeout: float) -> tuple[GapStatus, str] | None:
    tail = finished.stderr_tail
    if finished.timed_out:
        stopped = f"; stopped {len(finished.leftovers)} processes" if finished.leftovers else ""
        return "failed", f"timed out after {timeout:g} s (--cell-timeout){stopped}"
    for line in reversed(tail):
        limit = RESOURCE_LIMIT.search(line)
        if limit:
            return "skipped", f"resource limit: {limit.group(1)}"
    if finished.returncode != 0:
        return "failed", _crash_reason(finished)
    if finished.leftovers:
        shown = ", ".join(finished.leftovers[:3])
        more = f" and {len(finished.leftovers) - 3} more" if len(finished.leftovers) > 3 else ""
        return "failed", (
            f"left {len(finished.leftovers)} process(es) running after it ended: "
            f"{shown}{more}; killed"
        )
    if not finished.result.strip():
        return "failed", "the cell process wrote no result"
    return None


def _crash_reason(finished: Finished) -> str:
    # The worker's traceback ends with the cause; the cell process's own line says how pyperf
    # saw it (exit status or signal). Prefer the cause.
    for line in reversed(finished.stderr_tail):
        match = EXCEPTION_LINE.match(line)
        if match and not line.startswith("concbench:"):
            return f"{match.group(1)}: {match.group(2)}"
    for line in reversed(finished.stderr_tail):
        if line.startswith("concbench: cell failed: "):
            return line.removeprefix("concbench: cell failed: ")
    if finished.returncode < 0:
        return f"the cell process was killed by {signal.Signals(-finished.returncode).name}"
    return f"the cell process exited with status {finished.returncode}"


def measure_cell(state: RunState, cell: Cell, argv: list[str], args: argparse.Namespace) -> None:
    supervised = Supervised(cell_argv(argv, args, cell.name), timeout=args.cell_timeout,
                            cwd=PROJECT_ROOT)  # fmt: skip
    state.current = supervised
    try:
        finished = supervised.run("--result-fd")
    finally:
        state.current = None
    # A latency pass stopped by the time limit or a signal cannot remove its stamp file.
    latency.remove_orphans()
    if finished.stopped:
        return  # interrupted: the cell is simply not done; a resumed run measures it
    verdict = classify(finished, args.cell_timeout, cell.name) or _record(state, finished)
    if verdict is None:
        return
    status, reason = verdict
    print(f"{cell.name}: {status.upper()}: {reason}", flush=True)
    output: tuple[str, ...] = ()
    if status == "failed":
        output = _last_lines(finished.stderr_tail)
        _show_stderr(finished.stderr_tail)
    state.record_gap(cell, status, reason, output)


def _record(state: RunState, finished: Finished) -> tuple[GapStatus, str] | None:
    """Store a clean cell's benchmark and latency record; a failure verdict if its result
    cannot be read. The result is ``{"benchmark": ..., "latency": ...}``; a bare pyperf
    benchmark is accepted too."""
    try:
        data = json.loads(finished.result)
        latency = None
        if isinstance(data, dict) and "benchmark" in data:
            latency = data.get("latency")
            if latency is not None and not isinstance(latency, dict):
                raise TypeError("its latency record is not an object")
            data = data["benchmark"]
        bench = pyperf.Benchmark.loads(json.dumps(data))
    except (ValueError, KeyError, TypeError) as exc:
        return "failed", f"the cell process wrote an unreadable result ({exc})"
    bench.update_metadata({"cell_seconds": round(finished.elapsed, 3)})
    _show_stderr(finished.stderr_tail)
    state.record(bench, latency)
    return None


def _last_lines(tail: list[str]) -> tuple[str, ...]:
    return tuple(line for line in tail if line.strip())[-TAIL_SHOWN:]


def _show_stderr(tail: list[str]) -> None:
    for line in _last_lines(tail):
        print(f"    | {line}", flush=True)


def _open_result_file(
    args: argparse.Namespace, environment: dict[str, Any]
) -> tuple[ResultFile, StoredResults | None]:
    if args.resume or args.append:
        path = Path(args.resume or args.append)
        stored = read_results(path)
        differences = environment_differences(stored, environment)
        if differences:
            verb = "resume" if args.resume else "append to"
            raise StorageError(
                f"cannot {verb} {path}: it was measured in another environment "
                f"({'; '.join(differences)})"
            )
        result_file = ResultFile(path)
        result_file.adopt()
        return result_file, stored
    result_file = ResultFile(Path(args.output) if args.output else default_output())
    result_file.claim()
    return result_file, None


def _resume_command(argv: list[str], path: Path) -> str:
    kept = drop_options(argv, RESULT_FILE_OPTIONS)
    options = shlex.join([*kept, "--resume", str(path)])
    # tox -e bench adds --fast itself
    tox_options = shlex.join([arg for arg in kept if arg != "--fast"] + ["--resume", str(path)])
    return f"python -m runners.run {options}   (or: tox -e bench -- {tox_options})"


def run_conductor(args: argparse.Namespace, argv: list[str]) -> int:
    # Cell processes write to the same stdout unbuffered; keep this process's lines in order.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    requested = [get_model(name) for name in args.models]
    available = [model for model in requested if model.unavailable_reason() is None]
    cells = _cells(args, available)
    unavailable = _cells(args, [model for model in requested if model not in available])
    if not cells and not unavailable:
        raise UsageError("no cell to run: no selected model supports the selected workloads")

    environment = run_environment(args)
    result_file, stored = _open_result_file(args, environment)
    state = RunState(result_file, environment)
    already: set[str] = set()
    if stored is not None:
        state.benchmarks = stored.benchmarks
        state.gaps = stored.gaps
        state.latency = stored.latency
        if args.resume:
            already = {bench.get_name() for bench in stored.benchmarks}
    for cell in unavailable:
        reason = cell.model.unavailable_reason() or "unavailable"
        state.record_gap(cell, "skipped", f"unavailable: {reason}")
    for model in requested:
        if model not in available:
            print(f"{model.name}: skipped: unavailable: {model.unavailable_reason()}")
    todo = [cell for cell in cells if cell.name not in already]
    if already:
        print(f"resuming {result_file.path}: {len(cells) - len(todo)} of {len(cells)} cells "
              f"are already measured there; {len(todo)} to go")  # fmt: skip

    become_subreaper()
    with stop_on_signals(state):
        state.save()
        for cell in todo:
            if state.stop_signal is not None:
                break
            if not (_sweeping(args) and _sweep_skip(state, cell, args)):
                measure_cell(state, cell, argv, args)
            state.save()
        state.save()
    result_file.discard_if_empty()
    return _finish(state, argv, sweep=_sweeping(args))


def _finish(state: RunState, argv: list[str], sweep: bool = False) -> int:
    print()
    if state.benchmarks or state.gaps:
        print(render_all(state.benchmarks, state.gaps))
    for status in ("failed", "skipped"):
        gaps = [gap for gap in state.gaps if gap.status == status]
        if gaps:
            print(f"\n{status} cells ({len(gaps)}):")
            for gap in gaps:
                print(f"  {gap.name}: {gap.reason}")
    scaling_text = sweep_report(state.benchmarks, state.gaps) if sweep else ""
    if scaling_text:
        print(f"\n{scaling_text}")
    path = state.result_file.path
    if path.exists():
        print(f"\nresults: {path} ({len(state.benchmarks)} cells measured)")
    sys.stdout.flush()  # the closing lines on stderr come after everything above
    if state.stop_signal is not None:
        name = signal.Signals(state.stop_signal).name
        if path.exists():
            print(
                f"\ninterrupted by {name}: every finished cell is kept in {path}\n"
                f"resume with: {_resume_command(argv, path)}",
                file=sys.stderr,
            )
        else:
            print(f"\ninterrupted by {name} before any cell finished", file=sys.stderr)
        return 128 + state.stop_signal
    return 1 if any(gap.status == "failed" for gap in state.gaps) else 0
