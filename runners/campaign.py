"""The runner the user starts: plans the cells, measures each in a supervised process of its
own, and keeps every result it obtains.

A cell that hangs (past ``--cell-timeout``), crashes, returns a wrong checksum or leaves a
process running is recorded as failed with its reason, and the run goes on; a cell that hits a
resource limit, and every cell of an unavailable model, is recorded as skipped. How a cell
ended is the verdict its process reports as data (``runners.verdict``), or, for a cell process
that died without one, what its supervisor saw (its exit status, its time limit, the processes
it left); its error output is kept and shown for people, never parsed. The result file is
rewritten atomically after every cell. SIGINT and SIGTERM stop the current cell's processes,
keep the finished cells and print how to resume.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from bench.measure import latency
from bench.measure.calibration import CALIBRATION_VERSION, calibrate
from bench.measure.cells import Cell
from bench.measure.environment import environment_metadata, version_key
from bench.measure.machine import machine_state
from bench.planning import plan
from bench.registry import Model, get_model
from bench.render.terminal import render_all
from bench.results.schema import (
    RESUME_KEYS,
    Calibration,
    Entry,
    Gap,
    GapStatus,
    ResultFile,
    ResultFileError,
    ResultSet,
    default_output,
    load,
)
from bench.spec.workloads import MATRICES, SWEEP_MATRICES, Scope, Spec
from runners.facts import model_facts
from runners.options import RESULT_FILE_OPTIONS, UsageError, cell_argv, drop_options
from runners.progress import Progress
from runners.rounds import RowRunner, measure_row, new_session, round_values
from runners.supervisor import Finished, Supervised, become_subreaper
from runners.sweeps import order_cells, skip_reason, sweep_report
from runners.verdict import (
    FAILURE_FILE_VARIABLE,
    Failed,
    Measured,
    Verdict,
    exit_text,
    failure_file,
)
from runners.verdict import parse as parse_verdict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def model_libraries(models: list[Model]) -> tuple[str, ...]:
    """The libraries the models of a run declare (``ModelRecord.libraries``), once each."""
    return tuple(dict.fromkeys(library for model in models for library in model.libraries))


def run_environment(args: argparse.Namespace, libraries: tuple[str, ...]) -> dict[str, Any]:
    """What a number of this run depends on besides its cell: recorded in the result file.
    ``libraries``: those the run's models declare, whose versions are recorded and compared."""
    kept = {*RESUME_KEYS, *(version_key(library) for library in libraries)}
    environment: dict[str, Any] = {
        key: value
        for key, value in environment_metadata(args.start_method, libraries).items()
        if key in kept
    }
    environment["environ"] = environment.get("environ", "")
    environment["hostname"] = socket.gethostname()
    environment["cpu_count"] = os.cpu_count() or 0
    environment["measurement"] = (
        f"processes={args.processes} values={args.values} warmups={args.warmups} "
        f"loops={args.loops} min_time={args.min_time:g} "
        f"memory_samples={args.memory_samples or 'default'} "
        f"profile={'no' if args.no_profile else 'yes'} "
        f"rounds={args.min_rounds}-{args.max_rounds} round_values={round_values(args)} "
        f"precision={args.precision:g} "
        f"cell_budget={args.cell_budget:g} affinity={args.affinity or 'none'}"
    )
    return environment


def environment_differences(stored: ResultSet, current: dict[str, Any]) -> list[str]:
    """How this run's environment differs from the one that wrote ``stored``."""
    recorded: dict[str, Any]
    if stored.recorded_environment is not None:
        recorded = dict(stored.recorded_environment)
    elif stored.entries:
        # A file written before the environment was recorded: its benchmarks carry most of it.
        recorded = dict(stored.entries[0].metadata)
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
    entries: list[Entry] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    current: Supervised | None = None
    stop_signal: int | None = None

    def save(self) -> None:
        self.result_file.write(
            self.entries, self.gaps, self.environment, interrupted=self.stop_signal is not None
        )

    def record(self, entry: Entry) -> None:
        """A measured cell; measured again (``--append``), its runs join the stored ones, and
        its new latency record replaces the stored one (with --no-latency it keeps it)."""
        self._forget_gap(entry.name)
        for index, existing in enumerate(self.entries):
            if existing.name == entry.name:
                self.entries[index] = existing.add_runs(entry)
                return
        self.entries.append(entry)

    def record_gap(
        self, cell: Cell, status: GapStatus, reason: str, output: tuple[str, ...] = ()
    ) -> None:
        self._forget_gap(cell.name)
        spec = cell.spec
        self.gaps.append(
            Gap(cell.name, spec.workload, spec.params, cell.model.name, status, reason,
                output, facts=model_facts(cell.model))
        )  # fmt: skip

    def set_current(self, supervised: Supervised | None) -> None:
        """The process the run waits for now, stopped by a signal (``stop_on_signals``)."""
        self.current = supervised

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
    reason = skip_reason(cell, state.entries, state.gaps, args.sweep_run_limit, args.cell_timeout)
    if reason is None:
        return False
    print(f"{cell.name}: SKIPPED: {reason}", flush=True)
    state.record_gap(cell, "skipped", reason)
    return True


def judge(finished: Finished, timeout: float) -> Verdict:
    """How a finished cell ended: the verdict its process reported, unless the supervisor saw
    worse (its time limit, an exit after the verdict, processes it left running); for a cell
    process that reported none, what the supervisor saw."""
    if finished.timed_out:
        return Failed(finished.timeout_reason(timeout))
    if not finished.result.strip():
        if finished.returncode != 0:
            return Failed(exit_text("the cell process", finished.returncode))
        return Failed("the cell process wrote no result")
    try:
        reported = parse_verdict(finished.result)
    except (ValueError, ResultFileError) as exc:
        return Failed(f"the cell process wrote an unreadable result ({exc})")
    return _check_measured(reported, finished) if isinstance(reported, Measured) else reported


def _check_measured(reported: Measured, finished: Finished) -> Verdict:
    """A measured cell whose process then failed, or left processes behind, failed."""
    if finished.returncode != 0:
        return Failed(exit_text("the cell process", finished.returncode) + " after its result")
    if finished.leftovers:
        return Failed(finished.leftovers_reason())
    return reported


def measure_cell(state: RunState, cell: Cell, argv: list[str], args: argparse.Namespace) -> None:
    with failure_file() as path:
        supervised = Supervised(
            cell_argv(argv, args, cell.name),
            timeout=args.cell_timeout,
            cwd=PROJECT_ROOT,
            environ={**cell.model.environ, FAILURE_FILE_VARIABLE: path},
        )
        state.current = supervised
        try:
            finished = supervised.run("--result-fd")
        finally:
            state.current = None
    # A latency pass stopped by the time limit or a signal cannot remove its stamp file.
    latency.remove_orphans()
    if finished.stopped:
        return  # interrupted: the cell is simply not done; a resumed run measures it
    verdict = judge(finished, args.cell_timeout)
    if isinstance(verdict, Measured):
        _show_stderr(finished.error_lines())
        try:
            state.record(verdict.entry.with_metadata({"cell_seconds": round(finished.elapsed, 3)}))
            return
        except ValueError as exc:  # --append: pyperf would not merge these runs either
            verdict = Failed(f"its runs cannot join those the file has: {exc}")
    status: GapStatus = "failed" if isinstance(verdict, Failed) else "skipped"
    # Errors raised inside a cell start with its name; the gap is listed under it already.
    reason = verdict.reason.replace(f"{cell.name}: ", "")
    print(f"{cell.name}: {status.upper()}: {reason}", flush=True)
    output: tuple[str, ...] = ()
    if isinstance(verdict, Failed):
        output = finished.error_lines()
        _show_stderr(finished.error_lines())
    state.record_gap(cell, status, reason, output)


def _show_stderr(lines: Sequence[str]) -> None:
    for line in lines:
        print(f"    | {line}", flush=True)


def _open_result_file(
    args: argparse.Namespace, environment: dict[str, Any]
) -> tuple[ResultFile, ResultSet | None]:
    if args.resume or args.append:
        path = Path(args.resume or args.append)
        stored = load(path)
        differences = environment_differences(stored, environment)
        if differences:
            verb = "resume" if args.resume else "append to"
            raise ResultFileError(
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


def reported_models(models: list[Model], named: bool) -> list[Model]:
    """The models a run measures or reports unavailable: all of them when ``named`` by
    --models; otherwise not the GIL-on twins that cannot run here (a build with a GIL, a run
    started with PYTHON_GIL=1 already), which would only be gaps in every run of all models."""
    return [m for m in models if named or not m.environ or m.unavailable_reason() is None]


def run_conductor(args: argparse.Namespace, argv: list[str]) -> int:
    # Cell processes write to the same stdout unbuffered; keep this process's lines in order.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    requested = reported_models([get_model(name) for name in args.models], args.models_named)
    available = [model for model in requested if model.unavailable_reason() is None]
    cells = _cells(args, available)
    unavailable = _cells(args, [model for model in requested if model not in available])
    if not cells and not unavailable:
        raise UsageError("no cell to run: no selected model supports the selected workloads")

    environment = run_environment(args, model_libraries(requested))
    result_file, stored = _open_result_file(args, environment)
    # Before the first cell (its sampling sleeps 0.2 s, never during a cell), after the resume
    # check: the machine's state is this run's, not one a resumed run must match.
    machine = machine_state()
    environment.update(machine.environment())
    if (warning := machine.warning()) is not None:
        print(warning, flush=True)
    # Here, before the first cell, so that it overlaps no measured region; after the resume
    # check, which it is not part of: each run records its own machine's speed.
    environment.update(Calibration(calibrate(), CALIBRATION_VERSION).environment())
    state = RunState(result_file, environment)
    already: set[str] = set()
    if stored is not None:
        state.entries = list(stored.entries)
        state.gaps = list(stored.gaps)
        if args.resume:
            already = {entry.name for entry in stored.entries}
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

    units = _units(todo, interleave=not _sweeping(args))
    progress = Progress([(_unit_name(unit), unit[0].spec.workload) for unit in units], sys.stdout)
    become_subreaper()
    rows = RowRunner(args, new_session(), state.set_current, lambda: state.stop_signal is not None)
    with stop_on_signals(state):
        state.save()
        try:
            for index, unit in enumerate(units):
                if state.stop_signal is not None:
                    break
                progress.start(index)
                if len(unit) > 1 or (_timed(unit[0]) and not _sweeping(args)):
                    measure_unit_in_rounds(state, rows, unit, progress)
                    progress.end()
                elif not (_sweeping(args) and _sweep_skip(state, unit[0], args)):
                    measure_cell(state, unit[0], argv, args)
                    progress.end()
                state.save()
        finally:
            progress.close()  # a terminal's bottom row back, whatever ends the loop
        state.save()
    result_file.discard_if_empty()
    return _finish(state, argv, sweep=_sweeping(args))


def _timed(cell: Cell) -> bool:
    return cell.spec.unit == "second"


def _units(cells: list[Cell], interleave: bool) -> list[list[Cell]]:
    """What the run measures one after the other: a row (the timed cells of one spec, measured
    in interleaved rounds) or a single cell (memory; every cell of a sweep, whose skip rules
    follow each model's series of sizes)."""
    units: list[list[Cell]] = []
    for cell in cells:
        joins = interleave and _timed(cell) and units and _timed(units[-1][0])
        if joins and units[-1][0].spec == cell.spec:
            units[-1].append(cell)
        else:
            units.append([cell])
    return units


def _unit_name(unit: list[Cell]) -> str:
    if len(unit) == 1:
        return unit[0].name
    row = unit[0].name.rpartition("/")[0]
    return f"{row} ({len(unit)} models in rounds)"


def measure_unit_in_rounds(
    state: RunState, rows: RowRunner, cells: list[Cell], progress: Progress
) -> None:
    """A row in interleaved rounds (``runners.rounds``): each measured cell is recorded, each
    other one a gap with its reason; an interrupted row records nothing (a resumed run measures
    it again, whole)."""
    last: list[str] = []

    def report(line: str) -> None:
        last[:] = [line]
        progress.detail(line)

    result = measure_row(rows, cells, report)
    if result.interrupted:
        return
    if last:
        print(f"  {last[0]}", flush=True)
    for cell in cells:
        output = result.output.get(cell.name, ())
        if cell.name in result.entries:
            _show_stderr(output)
            state.record(result.entries[cell.name])
            continue
        verdict = result.gaps[cell.name]
        status: GapStatus = "failed" if isinstance(verdict, Failed) else "skipped"
        reason = verdict.reason.replace(f"{cell.name}: ", "")
        print(f"{cell.name}: {status.upper()}: {reason}", flush=True)
        _show_stderr(output)
        state.record_gap(cell, status, reason, output if status == "failed" else ())


def _finish(state: RunState, argv: list[str], sweep: bool = False) -> int:
    print()
    if state.entries or state.gaps:
        print(render_all(state.entries, state.gaps))
    for status in ("failed", "skipped"):
        gaps = [gap for gap in state.gaps if gap.status == status]
        if gaps:
            print(f"\n{status} cells ({len(gaps)}):")
            for gap in gaps:
                print(f"  {gap.name}: {gap.reason}")
    scaling_text = sweep_report(state.entries, state.gaps) if sweep else ""
    if scaling_text:
        print(f"\n{scaling_text}")
    path = state.result_file.path
    if path.exists():
        print(f"\nresults: {path} ({len(state.entries)} cells measured)")
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
