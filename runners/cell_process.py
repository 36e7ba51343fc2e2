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
The result is written as one JSON object, ``{"benchmark": <pyperf benchmark>, "latency":
<latency record or null>}``, to the file descriptor the runner passed (``--result-fd``);
progress goes to stdout, errors to stderr, where the runner keeps their last lines.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, NamedTuple

import pyperf

from bench.measure import echoserver, latency
from bench.measure.cells import Cell, run_cell
from bench.measure.environment import environment_metadata
from bench.measure.meters import Clock, collector_metadata, freeze_collector
from bench.registry import get_model
from bench.spec.workloads import SPECS, FanOut, SpecError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class CellFailed(RuntimeError):
    pass


def parse_cell_name(name: str) -> Cell:
    """``workload[params]/model`` -> the cell (the inverse of ``Cell.name``)."""
    head, slash, model = name.rpartition("/")
    workload, bracket, rest = head.partition("[")
    if not slash or not bracket or not rest.endswith("]") or workload not in SPECS:
        raise CellFailed(f"malformed cell name {name!r}")
    try:
        return Cell(get_model(model), SPECS[workload].from_params(rest[:-1]))
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
    (``Cell.metadata``) counts the pool workers the measuring process could have (its CPU
    affinity)."""
    return runner.bench_time_func(
        cell.name,
        time_cell,
        cell,
        inner_loops=cell.spec.ops,
        metadata={
            **cell.metadata(),
            **environment_metadata(start_method),
            **collector_metadata(),
        },
    )


class Probe:
    """Runs ``runners.probe`` in a fresh process and waits for it, blocked in ``communicate``.

    Nothing of this process runs meanwhile: an RSS sampler here once took a core from the tasks
    being measured on a 2-core machine (processes pingpong p99.9 340-670 µs with it, 17-19 µs
    without). The probe reports its peak RSS itself, from the kernel's high-water marks.
    """

    def __init__(self, argv: list[str]) -> None:
        self.argv = [sys.executable, "-m", "runners.probe", *argv]

    def run(self) -> str:
        proc = subprocess.Popen(
            self.argv,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # No time limit of its own: the runner's --cell-timeout covers the whole cell.
        out, err = proc.communicate()
        if proc.returncode != 0:
            last = (err.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
            raise RuntimeError(last)
        return out


def _cell_argv(cell: Cell, kind: str, start_method: str) -> list[str]:
    return [
        kind,
        "--model", cell.model.name,
        "--workload", cell.spec.workload,
        "--params", cell.spec.params,
        "--start-method", start_method,
    ]  # fmt: skip


def profile_metadata(cell: Cell, start_method: str) -> dict[str, float | int | str]:
    probe = Probe(_cell_argv(cell, "profile", start_method))
    data = json.loads(probe.run())
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


def latency_record(cell: Cell, start_method: str) -> dict[str, Any]:
    """The cell's latency pass, run in a fresh process (``runners.probe latency``): its
    percentiles, or, for a cell the timer cannot resolve, its median and why."""
    record: dict[str, Any] = json.loads(Probe(_cell_argv(cell, "latency", start_method)).run())
    return record


def latency_gil_metadata(record: dict[str, Any]) -> dict[str, str]:
    """The probe's GIL reading, taken out of the record: it belongs with the benchmark's
    metadata (``bench.results.gil``), and the stored latency record keeps its schema."""
    reading = record.pop("gil_measured", None)
    return {} if reading is None else {"latency_gil_measured": str(reading)}


def latency_metadata(record: dict[str, Any]) -> dict[str, float | int | str]:
    """The headline of a latency record as benchmark metadata: each percentile is the median
    over the pass's runs of that run's percentile, per operation averaged over batches of
    ``latency_batch`` rounds. A cell the timer cannot resolve has no percentile: its
    ``latency_median`` and the reason, ``latency_unresolved``, instead."""
    runs = record["runs"]
    metadata: dict[str, float | int | str] = {
        "latency_runs": len(runs),
        "latency_samples": runs[0]["count"],
        "latency_timer_cost": record["timer_cost"],
        "latency_what": record["what"],
        "latency_batch": record["batch"],
    }
    if not record["resolved"]:
        metadata["latency_median"] = record["median"]
        metadata["latency_unresolved"] = record["reason"]
        return metadata
    for key in latency.SUMMARY_KEYS:
        metadata[f"latency_{key.replace('.', '')}"] = statistics.median(run[key] for run in runs)
    return metadata


def measure_memory_cell(cell: Cell, samples: int, start_method: str) -> pyperf.Benchmark:
    """One fresh probe per value; each run keeps its probe's metadata (the kernel column and
    the peaks among it)."""
    bench: pyperf.Benchmark | None = None
    for index in range(samples):
        probe = Probe(_cell_argv(cell, "memory", start_method))
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


def _exit_text(message: str) -> str:
    """pyperf reports a failed worker as "<python> failed with exit code N"; say it plainly,
    naming the signal when the code is negative."""
    match = re.search(r"failed with exit code (-?\d+)$", message)
    if match is None:
        return message
    code = int(match.group(1))
    if code < 0:
        try:
            return f"a pyperf worker was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"a pyperf worker was killed by signal {-code}"
    return f"a pyperf worker exited with status {code}"


class Measured(NamedTuple):
    """What a cell process hands the runner: the benchmark and the latency record, if any."""

    bench: pyperf.Benchmark
    latency: dict[str, Any] | None = None

    def dump(self, stream: Any) -> None:
        text = io.StringIO()
        self.bench.dump(text)
        json.dump({"benchmark": json.loads(text.getvalue()), "latency": self.latency}, stream)


def measure(runner: pyperf.Runner, args: argparse.Namespace, cell: Cell) -> Measured:
    if cell.spec.unit != "second":
        bench = measure_memory_cell(cell, _memory_samples(args), args.start_method)
        _print_bench(bench)
        return Measured(bench)
    bench = bench_cell(runner, cell, args.start_method)
    if bench is None:
        raise CellFailed("pyperf returned no result")
    if not args.no_profile:
        bench.update_metadata(profile_metadata(cell, args.start_method))
    record = None
    if latency.supports(cell.spec.workload) and not args.no_latency:
        record = latency_record(cell, args.start_method)
        bench.update_metadata({**latency_gil_metadata(record), **latency_metadata(record)})
    return Measured(bench, record)


def _echo_server(runner: pyperf.Runner, cell: Cell) -> AbstractContextManager[object]:
    """fan_out work=echo talks to an echo server: one per cell, serving all of its passes
    (pyperf's workers find it through the variable the server sets, the probes inherit it).
    Not among bench.measure.environment's forwarded variables: the address changes with every run
    and must not make --resume refuse a file."""
    if not (isinstance(cell.spec, FanOut) and cell.spec.echoes):
        return nullcontext()
    inherited = runner.args.inherit_environ or []
    runner.args.inherit_environ = [*inherited, echoserver.ADDRESS_VARIABLE]
    return echoserver.serving()


def run_cell_process(runner: pyperf.Runner, args: argparse.Namespace) -> int:
    """Measure ``args.cell`` (or, in a pyperf worker, run the part pyperf asked for)."""
    try:
        cell = parse_cell_name(args.cell)
    except CellFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.worker:
        # Ready to measure: freeze before bench_cell records the collector's state.
        freeze_collector()
        bench_cell(runner, cell, args.start_method)
        return 0
    # This process writes its result to the runner's pipe only; pyperf must not write files.
    args.output = args.append = None
    try:
        with _echo_server(runner, cell):
            measured = measure(runner, args, cell)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"concbench: cell failed: {_exit_text(str(exc))}", file=sys.stderr)
        return 1
    if args.result_fd is not None:
        with os.fdopen(args.result_fd, "w", encoding="utf-8") as stream:
            measured.dump(stream)
    return 0
