"""One cell, measured in a process of its own (``python -m runners.run --cell NAME``).

The runner starts this process for every cell and supervises it (``runners.supervisor``). It
holds the cell's pyperf.Runner: timed cells go through ``Runner.bench_time_func``, whose workers
re-execute this module with the same ``--cell``; memory cells and the profile pass run fresh
processes of their own (``runners.probe``), and so does the latency pass of pingpong,
producer_consumer and fan_out (``bench.measure.latency``), after the timing so that it cannot
change it.
While a worker or a probe measures, this process only waits for it (pyperf's manager blocks
reading the worker's pipe, ``Probe`` in ``communicate``): it runs no sampler or thread that
would take a CPU from the tasks being measured.
Its verdict (``runners.verdict``: measured, with the benchmark and its latency record; failed,
with the exception's type and message; skipped, with the reason) is written as one JSON object
to the file descriptor the runner passed (``--result-fd``). A worker or probe that fails leaves
its own verdict for this process first (``report_failure``), so the exception that reaches the
runner is the cell's, not pyperf's "worker failed". Progress goes to stdout, errors to stderr,
where the runner keeps their last lines for people.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import traceback
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyperf

from bench.measure import echoserver, latency, mpcontext
from bench.measure.cells import Cell, run_cell
from bench.measure.environment import environment_metadata
from bench.measure.meters import Clock, collector_metadata, freeze_collector
from bench.registry import get_model
from bench.results.schema import (
    ROUND_KEY,
    ROUND_POSITION_KEY,
    ROUNDS_SESSION_KEY,
    Entry,
    LatencyRecord,
    bound_metadata,
)
from bench.spec import cellnames
from bench.spec.workloads import SPECS, FanOut, SpecError
from runners.facts import model_facts
from runners.verdict import (
    FAILURE_FILE_VARIABLE,
    CellFailed,
    Failed,
    Measured,
    Skipped,
    Verdict,
    exit_text,
    report_failure,
    reported_failure,
    verdict_of,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def parse_cell_name(name: str) -> Cell:
    """``workload[params]/model`` -> the cell (the inverse of ``Cell.name``)."""
    try:
        parts = cellnames.parse_cell_name(name)
    except cellnames.CellNameError as exc:
        raise CellFailed(str(exc)) from None
    if parts.workload not in SPECS:
        raise CellFailed(f"malformed cell name {name!r}: unknown workload {parts.workload!r}")
    try:
        return Cell(get_model(parts.model), SPECS[parts.workload].from_params(parts.params))
    except (KeyError, SpecError) as exc:
        raise CellFailed(f"cell {name!r}: {exc}") from None


def time_cell(loops: int, cell: Cell) -> float:
    """pyperf's time function: ``loops`` verified runs, summing only their measured regions.
    The collector is frozen before the first run and again after it (each a no-op once done),
    and the Clock collects before every region, outside it."""
    freeze_collector()
    total = 0.0
    for _ in range(loops):
        clock = Clock()
        run_cell(cell, clock)
        total += clock.elapsed
        freeze_collector("warm")
    return total


def bench_cell(runner: pyperf.Runner, cell: Cell, start_method: str) -> pyperf.Benchmark | None:
    """Hand a timed cell to pyperf: in the cell process this measures it in pyperf's workers
    and returns the benchmark; in a worker it runs the part pyperf sent the worker for. The
    workers' runs carry the metadata computed here in each worker, so a fan_out's ideal makespan
    (``Cell.fan_out_bound``) counts the pool workers the measuring process could have (its CPU
    affinity)."""
    bound = cell.fan_out_bound()
    return runner.bench_time_func(
        cell.name,
        time_cell,
        cell,
        inner_loops=cell.spec.ops,
        metadata={
            **round_tags(runner.args),
            **cell.metadata(),
            **(bound_metadata(bound) if bound is not None else {}),
            **model_facts(cell.model).metadata(),
            # A variant's start method (processes[start=spawn]) overrides the run's.
            **environment_metadata(
                mpcontext.method_for(cell.model.parameters(), start_method), cell.model.libraries
            ),
            **collector_metadata(),
        },
    )


def round_tags(args: argparse.Namespace) -> dict[str, int | str]:
    """A round's run carries its round, its place in the round and the runner's session
    (``runners.rounds``); a run of the per-cell path carries none."""
    if getattr(args, "round", None) is None:
        return {}
    return {
        ROUND_KEY: args.round,
        ROUND_POSITION_KEY: args.round_position,
        ROUNDS_SESSION_KEY: args.rounds_session,
    }


class Probe:
    """Runs ``runners.probe`` in a fresh process and waits for it, blocked in ``communicate``.

    Nothing of this process runs meanwhile: an RSS sampler here once took a core from the tasks
    being measured on a 2-core machine (processes pingpong p99.9 340-670 µs with it, 17-19 µs
    without). The probe reports its peak RSS itself, from the kernel's high-water marks.
    """

    def __init__(self, argv: list[str]) -> None:
        self.argv = [sys.executable, "-m", "runners.probe", *argv]

    def run(self) -> str:
        # Its error output goes where this process's goes: to the runner, for people. Why it
        # failed comes as data (``report_failure``), read by ``run_cell_process``.
        proc = subprocess.Popen(self.argv, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
        # No time limit of its own: the runner's --cell-timeout covers the whole cell.
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise CellFailed(exit_text(f"its {self.argv[3]} probe", proc.returncode))
        return out


def probe_argv(cell: Cell, kind: str, start_method: str, affinity: str | None = None) -> list[str]:
    """The arguments of ``runners.probe`` for one pass of ``cell``; ``affinity``: the CPUs it
    is pinned to, as pyperf pins its workers (``--affinity``)."""
    return [
        kind,
        "--model", cell.model.name,
        "--workload", cell.spec.workload,
        "--params", cell.spec.params,
        "--start-method", start_method,
        *(["--affinity", affinity] if affinity else []),
    ]  # fmt: skip


def profile_metadata(
    cell: Cell, start_method: str, affinity: str | None = None
) -> dict[str, float | int | str]:
    probe = Probe(probe_argv(cell, "profile", start_method, affinity))
    return profile_fields(json.loads(probe.run()))


def profile_fields(data: dict[str, Any]) -> dict[str, float | int | str]:
    """The profile probe's report as the benchmark's metadata."""
    return {
        "cpu_user_per_op": data["cpu_user_per_op"],
        "cpu_system_per_op": data["cpu_system_per_op"],
        "cpu_per_op": data["cpu_user_per_op"] + data["cpu_system_per_op"],
        "ctx_voluntary_per_op": data["ctx_voluntary_per_op"],
        "ctx_involuntary_per_op": data["ctx_involuntary_per_op"],
        "ctx_switches_per_op": data["ctx_voluntary_per_op"] + data["ctx_involuntary_per_op"],
        "profile_runs": data["runs"],
        "profile_wall_per_op": data["wall_per_op"],
        # The profile probe's own peak and the largest of its reaped descendants' (the
        # processes model's children): high-water marks, not a sum over the tree.
        "peak_rss_self": data["peak_rss_self"],
        "peak_rss_children_max": data["peak_rss_children_max"],
        "profile_gil_measured": data["gil_measured"],
    }


def latency_record(
    cell: Cell, start_method: str, affinity: str | None = None
) -> tuple[LatencyRecord, dict[str, str]]:
    """The cell's latency pass, run in a fresh process (``runners.probe latency``): its
    percentiles, or, for a cell the timer cannot resolve, its median and why; and the probe's
    GIL reading, which belongs with the benchmark's metadata (``bench.results.gil``)."""
    raw: dict[str, Any] = json.loads(
        Probe(probe_argv(cell, "latency", start_method, affinity)).run()
    )
    return latency_fields(cell, raw)


def latency_fields(cell: Cell, raw: dict[str, Any]) -> tuple[LatencyRecord, dict[str, str]]:
    """The latency probe's report: its record, and its GIL reading as metadata."""
    raw = dict(raw)
    reading = raw.pop("gil_measured", None)
    record = LatencyRecord.from_json(f"the latency pass of {cell.name}", raw)
    return record, {} if reading is None else {"latency_gil_measured": str(reading)}


def measure_memory_cell(
    cell: Cell, samples: int, start_method: str, affinity: str | None = None
) -> pyperf.Benchmark:
    """One fresh probe per value; each run keeps its probe's metadata (the kernel column and
    the peaks among it)."""
    bench: pyperf.Benchmark | None = None
    for index in range(samples):
        probe = Probe(probe_argv(cell, "memory", start_method, affinity))
        sample = pyperf.Benchmark.loads(probe.run())
        if bench is None:
            bench = sample
        else:
            bench.add_runs(sample)
        print("." if index + 1 < samples else ".\n", end="", flush=True)
    assert bench is not None
    return bench


def _print_bench(bench: pyperf.Benchmark) -> None:
    mean = bench.format_value(bench.mean())
    spread = f" +- {bench.format_value(bench.stdev())}" if bench.get_nvalue() > 1 else ""
    print(f"{bench.get_name()}: Mean{' +- std dev' if spread else ''}: {mean}{spread}")


def _memory_samples(args: argparse.Namespace) -> int:
    if args.memory_samples is not None:
        return int(args.memory_samples)
    if args.debug_single_value:
        return 1
    if args.fast:
        return 3
    return 10 if args.rigorous else 5


def _timed_bench(runner: pyperf.Runner, cell: Cell, start_method: str) -> pyperf.Benchmark:
    """The cell measured by pyperf's workers. pyperf reports a failed worker as "<python>
    failed with exit code N" (the worker's own verdict, if it left one, says why) and gives up
    on some problems with sys.exit, after printing why."""
    try:
        bench = bench_cell(runner, cell, start_method)
    except SystemExit as exc:
        raise CellFailed(f"pyperf gave up with exit status {exc.code}") from None
    except RuntimeError as exc:
        _, found, code = str(exc).rpartition("failed with exit code ")
        if not found or not code.lstrip("-").isdigit():
            raise
        raise CellFailed(exit_text("a pyperf worker", int(code))) from None
    if bench is None:
        raise CellFailed("pyperf returned no result")
    return bench


def measure(runner: pyperf.Runner, args: argparse.Namespace, cell: Cell) -> Measured:
    if cell.spec.unit != "second":
        bench = measure_memory_cell(cell, _memory_samples(args), args.start_method, args.affinity)
        _print_bench(bench)
        return Measured(Entry.from_pyperf(bench))
    bench = _timed_bench(runner, cell, args.start_method)
    if not args.no_profile:
        bench.update_metadata(profile_metadata(cell, args.start_method, args.affinity))
    if not latency.supports(cell.spec.workload) or args.no_latency:
        return Measured(Entry.from_pyperf(bench))
    record, gil_reading = latency_record(cell, args.start_method, args.affinity)
    bench.update_metadata({**gil_reading, **record.metadata()})
    return Measured(replace(Entry.from_pyperf(bench), latency=record))


def _echo_server(runner: pyperf.Runner, cell: Cell) -> AbstractContextManager[object]:
    """fan_out work=echo talks to an echo server: one per cell, serving all of its passes
    (pyperf's workers find it through the variable the server sets, the probes inherit it).
    Not among bench.measure.environment's forwarded variables: the address changes with every run
    and must not make --resume refuse a file."""
    if not (isinstance(cell.spec, FanOut) and cell.spec.echoes):
        return nullcontext()
    _pass_to_workers(runner, echoserver.ADDRESS_VARIABLE)
    return echoserver.serving()


def _pass_to_workers(runner: pyperf.Runner, variable: str) -> None:
    """pyperf's workers get only the variables it is told to pass."""
    inherited = runner.args.inherit_environ or []
    runner.args.inherit_environ = [*inherited, variable]


def _failure(exc: Exception) -> Failed | Skipped:
    """The verdict of a cell whose measuring raised ``exc``: the verdict a worker or probe left,
    else what ``exc`` says. The error output gets the line, and a traceback for an exception the
    harness does not expect (a bug, not a failed measurement)."""
    verdict = reported_failure() or verdict_of(exc)
    print(f"concbench: cell {verdict.to_json()['verdict']}: {verdict.reason}", file=sys.stderr)
    if not isinstance(exc, RuntimeError | ValueError | OSError):
        traceback.print_exception(exc, file=sys.stderr)
    return verdict


def run_cell_process(runner: pyperf.Runner, args: argparse.Namespace) -> int:
    """Measure ``args.cell`` (or, in a pyperf worker, run the part pyperf asked for) and write
    the verdict to ``--result-fd``."""
    try:
        cell = parse_cell_name(args.cell)
    except CellFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.worker:
        # Ready to measure: freeze before bench_cell records the collector's state.
        freeze_collector()
        try:
            bench_cell(runner, cell, args.start_method)
        except Exception as exc:
            report_failure(exc)
            raise
        return 0
    # This process writes its result to the runner's pipe only; pyperf must not write files.
    args.output = args.append = None
    if FAILURE_FILE_VARIABLE in os.environ:
        _pass_to_workers(runner, FAILURE_FILE_VARIABLE)
    verdict: Verdict
    try:
        with _echo_server(runner, cell):
            verdict = measure(runner, args, cell)
    except Exception as exc:  # noqa: BLE001 - every failure is a verdict for the runner
        verdict = _failure(exc)
    if args.result_fd is not None:
        with os.fdopen(args.result_fd, "w", encoding="utf-8") as stream:
            json.dump(verdict.to_json(), stream)
    return 0 if isinstance(verdict, Measured) else 1
