"""A row of timed cells measured in interleaved rounds (``bench.measure.sampling``).

A row is the cells of one workload with one set of parameters. For each of them the runner
starts, one at a time and each under supervision (``runners.supervisor``):

1. its probe, running the profile pass and, for the workloads that have one, the latency pass;
   the profile's run time sizes pyperf's loops by pyperf's own rule (without the profile pass,
   a pyperf calibration worker does, and the latency pass runs in a probe of its own at the
   end);
2. rounds: in each, one pyperf worker per cell still sampling, in an order that changes from
   round to round. Each worker makes pyperf's warm-ups and values with those loops and writes
   one pyperf run, tagged with its round, its place in the round and the runner's session
   (``bench.results.schema.ROUND_KEY`` and its neighbours), so that runs measured side by side
   can be paired later. A cell stops when its mean is precise enough or its time budget is
   spent.

The runs of a cell form one ordinary pyperf benchmark. Only one measuring process runs at a
time, and this process only waits for it (see ``runners.supervisor``): nothing of the harness
takes a CPU from the tasks measured.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyperf

from bench.measure import echoserver, latency
from bench.measure.cells import Cell
from bench.measure.environment import forwarded_environ
from bench.measure.sampling import CellSampling, SamplingRule, loops_for, round_order
from bench.results.schema import ROUND_KEY, ROUND_POSITION_KEY, ROUNDS_SESSION_KEY, Entry
from bench.spec.workloads import FanOut
from runners.cell_process import latency_fields, probe_argv, profile_fields
from runners.supervisor import TAIL_SHOWN, Finished, Supervised
from runners.verdict import (
    FAILURE_FILE_VARIABLE,
    Failed,
    Skipped,
    exit_text,
    failure_file,
    read_failure,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A run this many times pyperf's --min-time or longer makes one value per worker.
LONG_RUN = 4
# The variables pyperf itself hands its workers (``pyperf._utils.create_environ``): the
# workers run here as they would under pyperf's manager.
_WORKER_ENVIRON = (
    "PATH", "HOME", "TEMP", "TMPDIR", "COMSPEC", "SystemRoot", "SystemDrive", "PYTHONPATH",
    "PYTHON_CPU_COUNT", "PYTHON_GIL",
)  # fmt: skip
_LOCALE_ENVIRON = (
    "LANG", "LC_ADDRESS", "LC_ALL", "LC_COLLATE", "LC_CTYPE", "LC_IDENTIFICATION",
    "LC_MEASUREMENT", "LC_MESSAGES", "LC_MONETARY", "LC_NAME", "LC_NUMERIC", "LC_PAPER",
    "LC_TELEPHONE", "LC_TIME",
)  # fmt: skip


@dataclass(frozen=True)
class RowResult:
    """What a row produced: an entry per measured cell, a verdict per other cell (by name),
    and each cell's stderr tail for people."""

    entries: dict[str, Entry] = field(default_factory=dict)
    gaps: dict[str, Failed | Skipped] = field(default_factory=dict)
    output: dict[str, tuple[str, ...]] = field(default_factory=dict)
    interrupted: bool = False


def new_session() -> str:
    return secrets.token_hex(4)


def round_values(args: argparse.Namespace) -> int:
    """The values a round's worker makes after its warm-up (a run that lasts 4x --min-time or
    more makes one, ``LONG_RUN``). With --fast one: the process is the sample the interval
    counts, and a second value costs about half of what another round's process does; pyperf's
    --processes and --values then apply to the cells measured one by one (sweeps)."""
    return 1 if args.fast else int(args.values)


def sampling_rule(args: argparse.Namespace) -> SamplingRule:
    if args.debug_single_value:
        return SamplingRule(target=args.precision, min_rounds=1, max_rounds=1)
    return SamplingRule(
        target=args.precision,
        min_rounds=args.min_rounds,
        max_rounds=args.max_rounds,
        budget_seconds=args.cell_budget,
    )


def worker_environ(args: argparse.Namespace, extra: dict[str, str]) -> dict[str, str]:
    """The variables a worker gets: those pyperf's manager would hand it (``--copy-env``: all),
    the runner's ``--inherit-environ`` list, and ``extra``."""
    if args.copy_env:
        return {**os.environ, **extra}
    names = [*_WORKER_ENVIRON, *(args.inherit_environ or ()), *forwarded_environ()]
    if args.locale:
        names += _LOCALE_ENVIRON
    if echoserver.ADDRESS_VARIABLE in os.environ:
        names.append(echoserver.ADDRESS_VARIABLE)
    return {**{n: os.environ[n] for n in names if n in os.environ}, **extra}


def worker_argv(
    args: argparse.Namespace,
    cell: Cell,
    loops: int | None,
    tags: dict[str, Any],
    values: int | None = None,
) -> list[str]:
    """A pyperf worker's command, as pyperf's manager builds it, for one round of ``cell``
    (``loops`` None: a loop calibration; ``values``: pyperf's --values unless given). The
    supervisor appends ``--pipe FD``."""
    argv = [
        sys.executable, "-m", "runners.run", "--worker", "--worker-task=0",
        "--values", str(values or args.values), "--min-time", repr(args.min_time),
        "--warmups", str(args.warmups),
    ]  # fmt: skip
    argv += ["--calibrate-loops"] if loops is None else ["--loops", str(loops)]
    if args.verbose:
        argv.append("-" + "v" * args.verbose)
    if args.affinity:
        argv.append(f"--affinity={args.affinity}")
    for hook in args.hook or ():
        argv += ["--hook", hook]
    argv += ["--cell", cell.name, "--start-method", args.start_method]
    for key, value in tags.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


class ProcessFailed(Exception):
    def __init__(self, verdict: Failed | Skipped, output: tuple[str, ...]) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict
        self.output = output


class Interrupted(Exception):
    """The run was asked to stop while a process of the row ran."""


class RowRunner:
    """Runs the supervised processes of one row, one at a time. ``on_process`` is told about
    each (the run's state keeps it to stop it on a signal)."""

    def __init__(
        self,
        args: argparse.Namespace,
        session: str,
        on_process: Callable[[Supervised | None], None],
        stop_requested: Callable[[], bool],
    ) -> None:
        self.args = args
        self.session = session
        self.on_process = on_process
        self.stop_requested = stop_requested
        self.rule = sampling_rule(args)

    def _run(
        self, argv: list[str], what: str, fd_option: str, environ: Mapping[str, str], inherit: bool
    ) -> tuple[str, Finished]:
        """One supervised process with ``environ`` (added to this process's variables when
        ``inherit``, else its only ones); its result text, or ProcessFailed/Interrupted."""
        if self.stop_requested():
            raise Interrupted
        with failure_file() as path:
            extra = {FAILURE_FILE_VARIABLE: path}
            supervised = Supervised(
                argv,
                timeout=self.args.cell_timeout,
                cwd=PROJECT_ROOT,
                environ={**environ, **extra},
                inherit_environ=inherit,
            )
            self.on_process(supervised)
            try:
                finished = supervised.run(fd_option)
            finally:
                self.on_process(None)
            reported = read_failure(path)
        latency.remove_orphans()
        if finished.stopped:
            raise Interrupted
        output = finished.error_lines()
        if finished.timed_out:
            raise ProcessFailed(
                Failed(f"{what} {finished.timeout_reason(self.args.cell_timeout)}"), output
            )
        if finished.returncode != 0:
            raise ProcessFailed(reported or Failed(exit_text(what, finished.returncode)), output)
        if finished.leftovers:
            raise ProcessFailed(Failed(f"{what} {finished.leftovers_reason()}"), output)
        if not finished.result.strip():
            raise ProcessFailed(Failed(f"{what} wrote no result"), output)
        return finished.result, finished

    def probe(self, cell: Cell, kind: str) -> tuple[dict[str, Any], Finished]:
        argv = [
            sys.executable,
            "-m",
            "runners.probe",
            *probe_argv(cell, kind, self.args.start_method, self.args.affinity),
        ]
        text, finished = self._run(
            argv, f"its {kind} probe", "--result-fd", cell.model.environ, True
        )
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ProcessFailed(
                Failed(f"its {kind} probe wrote unreadable JSON ({exc})"), ()
            ) from None
        return data, finished

    def worker(
        self, cell: Cell, loops: int | None, tags: dict[str, Any], values: int | None = None
    ) -> tuple[pyperf.Benchmark, Finished]:
        argv = worker_argv(self.args, cell, loops, tags, values)
        environ = worker_environ(self.args, dict(cell.model.environ))
        what = "its loop calibration" if loops is None else "a pyperf worker"
        text, finished = self._run(argv, what, "--pipe", environ, False)
        try:
            suite = pyperf.BenchmarkSuite.loads(text)
            benchmarks = suite.get_benchmarks()
        except (ValueError, KeyError, TypeError) as exc:
            raise ProcessFailed(Failed(f"{what} wrote an unreadable result ({exc})"), ()) from None
        if len(benchmarks) != 1:
            raise ProcessFailed(Failed(f"{what} wrote {len(benchmarks)} benchmarks, not 1"), ())
        return benchmarks[0], finished


@dataclass
class _CellState:
    cell: Cell
    sampling: CellSampling = field(default_factory=CellSampling)
    bench: pyperf.Benchmark | None = None
    loops: int | None = None
    loops_source: str = ""
    profile: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, Any] | None = None  # the latency pass, when it ran with the profile's
    values: int = 1
    seconds: float = 0.0
    output: list[str] = field(default_factory=list)

    def took(self, finished: Finished) -> float:
        """Count a process of the cell: its wall time, and its error output for people (a
        measured cell's is shown too, as the per-cell path does)."""
        self.seconds += finished.elapsed
        self.output = [*self.output, *finished.error_lines()][-TAIL_SHOWN:]
        return finished.elapsed

    def add(self, bench: pyperf.Benchmark) -> None:
        if self.bench is None:
            self.bench = bench
        else:
            self.bench.add_runs(bench)


def _echo_server(cells: Sequence[Cell]) -> AbstractContextManager[object]:
    """fan_out work=echo talks to an echo server: one per row, serving every process of it
    (``worker_environ`` and the probes pass its address on)."""
    spec = cells[0].spec
    if isinstance(spec, FanOut) and spec.echoes:
        return echoserver.serving()
    return nullcontext()


def measure_row(
    runner: RowRunner, cells: Sequence[Cell], report: Callable[[str], None]
) -> RowResult:
    """Measure ``cells`` (one row) in interleaved rounds; ``report`` receives one line per
    round for the progress display."""
    result = RowResult()
    states = [_CellState(cell) for cell in cells]
    try:
        with _echo_server(cells):
            _measure(runner, states, result, report)
    except Interrupted:
        return replace(result, interrupted=True)
    except echoserver.EchoServerError as exc:
        for state in states:
            if state.cell.name not in result.gaps:
                result.gaps[state.cell.name] = Failed(str(exc))
                result.entries.pop(state.cell.name, None)
    return result


def _fail(result: RowResult, state: _CellState, exc: ProcessFailed) -> None:
    result.gaps[state.cell.name] = exc.verdict
    result.output[state.cell.name] = exc.output[-TAIL_SHOWN:]


def _measure(
    runner: RowRunner, states: list[_CellState], result: RowResult, report: Callable[[str], None]
) -> None:
    args = runner.args
    live: list[_CellState] = []
    for state in states:
        try:
            _prepare(runner, state)
        except ProcessFailed as exc:
            _fail(result, state, exc)
            continue
        live.append(state)
    sampling = list(live)
    round_number = 0
    while sampling:
        round_number += 1
        for position, state in enumerate(round_order(sampling, round_number)):
            tags = {ROUND_KEY: round_number, ROUND_POSITION_KEY: position,
                    ROUNDS_SESSION_KEY: runner.session}  # fmt: skip
            try:
                bench, finished = runner.worker(state.cell, state.loops, tags, state.values)
            except ProcessFailed as exc:
                _fail(result, state, exc)
                live.remove(state)
                continue
            state.add(bench)
            state.sampling.add(bench.get_runs()[-1].values, state.took(finished))
        sampling = [s for s in sampling if s in live and s.sampling.decide(runner.rule) is None]
        report(_round_line(round_number, live, sampling))
    for state in live:
        try:
            result.entries[state.cell.name] = _finish(runner, state, args)
        except ProcessFailed as exc:
            _fail(result, state, exc)
        else:
            result.output[state.cell.name] = tuple(state.output)


def _prepare(runner: RowRunner, state: _CellState) -> None:
    """The profile probe, and the loops: given (``--loops``), sized from the profile's runs, or
    calibrated by a pyperf worker as pyperf's manager would."""
    args = runner.args
    state.values = round_values(args)
    if not args.no_profile:
        with_latency = _has_latency(state.cell, args)
        data, finished = runner.probe(state.cell, "passes" if with_latency else "profile")
        state.took(finished)
        if with_latency:
            data, state.latency = data["profile"], data["latency"]
        state.profile = profile_fields(data)
    if args.loops:
        state.loops, state.loops_source = args.loops, "given (--loops)"
    elif state.profile:
        region = state.profile["profile_wall_per_op"] * state.cell.spec.ops
        state.loops, state.loops_source = loops_for(region, args.min_time), "profile pass"
        if state.loops == 1 and region >= LONG_RUN * args.min_time:
            # One run already averages over many operations for longer than pyperf would
            # time a value: a second value in the same process adds little that another
            # round's process would not (a spawn of 100 processes takes seconds a run).
            state.values = 1
    else:
        bench, finished = runner.worker(state.cell, None, {})
        state.took(finished)
        state.add(bench)
        state.loops = int(bench.get_runs()[-1].get_metadata()["calibrate_loops"])
        state.loops_source = "pyperf calibration"


def _finish(runner: RowRunner, state: _CellState, args: argparse.Namespace) -> Entry:
    bench = state.bench
    assert bench is not None
    sampling = state.sampling
    precision = sampling.precision
    bench.update_metadata({
        **state.profile,
        "rounds": sampling.rounds,
        "sampling_stop": sampling.stopped or "budget",
        "precision_target": runner.rule.target,
        **({} if precision is None else {"precision_reached": round(precision, 6)}),
        "loops_source": state.loops_source,
    })  # fmt: skip
    entry = Entry.from_pyperf(bench)
    if _has_latency(state.cell, args):
        raw = state.latency
        if raw is None:
            raw, finished = runner.probe(state.cell, "latency")
            state.took(finished)
        record, reading = latency_fields(state.cell, raw)
        entry = replace(entry.with_metadata({**reading, **record.metadata()}), latency=record)
    return entry.with_metadata({"cell_seconds": round(state.seconds, 3)})


def _has_latency(cell: Cell, args: argparse.Namespace) -> bool:
    return latency.supports(cell.spec.workload) and not args.no_latency


def _round_line(round_number: int, live: list[_CellState], sampling: list[_CellState]) -> str:
    shown = []
    for state in live:
        precision = state.sampling.precision
        text = "—" if precision is None else f"±{precision * 100:.1f}%"
        mark = {None: "", "reached": " done", "budget": " budget spent"}[state.sampling.stopped]
        shown.append(f"{state.cell.model.name} {text}{mark}")
    return f"round {round_number}: " + ", ".join(shown)
