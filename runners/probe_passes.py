"""Measurements that need a fresh process of their own, run by the runner's manager process.

``memory``: one value of bytes per parked task, measured in a process that has run nothing else
(memory freed by an earlier run would be reused and hide the cost), printed as a pyperf
benchmark in JSON. ``profile``: CPU time and context switches of the process tree over the
measured region of repeated runs, printed as JSON. ``latency``: the distribution of single
switches (or of batches of rounds, where one switch is below the timer's resolution), items or
tasks (``bench.measure.latency``) over repeated runs, printed as JSON.

A probe freezes the collector once it is set up and again after its warm-up run
(``bench.measure.meters.freeze_collector``). Its peak RSS, and the largest of its reaped
descendants',
are the kernel's high-water marks read at the end: nothing samples the probe while it measures.

    python -m runners.probe memory  --model M --params P [--start-method S]
    python -m runners.probe profile --model M --workload W --params P [--start-method S]
    python -m runners.probe latency --model M --workload W --params P [--start-method S]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import pyperf

from bench.measure import latency, mpcontext
from bench.measure.cells import Cell, run_cell
from bench.measure.environment import environment_metadata
from bench.measure.meters import (
    Clock,
    MemoryMeter,
    ProfilingClock,
    collector_metadata,
    freeze_collector,
)
from bench.measure.proctree import KERNEL_FIELDS, ZERO, children_peak_rss, self_peak_rss
from bench.registry import get_model
from bench.results import gil
from bench.spec.cpulist import parse_cpu_list
from bench.spec.resolution import RESOLUTION, is_resolved
from bench.spec.workloads import SPECS, PingPong
from runners.facts import model_facts
from runners.verdict import report_failure

# The profile pass repeats the cell until its measured regions add up to this much time, so
# that per-operation counters are not dominated by a single scheduler tick.
PROFILE_MIN_SECONDS = 0.1
# Reading the tree's counters costs about a millisecond per run outside the region; cap the
# pass's wall time so cells with sub-millisecond runs do not spend seconds on it.
PROFILE_MAX_WALL_SECONDS = 1.0
# The latency pass: at least this many runs and this much measured time, within the wall-time
# cap unless the minimum runs need longer, and never more than the maximum runs.
LATENCY_MIN_RUNS = 3
LATENCY_MAX_RUNS = 50
LATENCY_MIN_SECONDS = 0.2
LATENCY_MAX_WALL_SECONDS = 1.0


class ProbeError(RuntimeError):
    pass


def _cell(model: str, workload: str, params: str) -> Cell:
    return Cell(get_model(model), SPECS[workload].from_params(params))


KERNEL_MEMORY_FIELDS = "+".join(KERNEL_FIELDS)
KERNEL_MEMORY_SOURCE = "/proc/meminfo, whole machine"


def peak_rss() -> dict[str, int]:
    """This process's peak RSS and the largest of its reaped descendants' (bytes)."""
    return {"peak_rss_self": self_peak_rss(), "peak_rss_children_max": children_peak_rss()}


def kernel_metadata(
    kernel_delta: dict[str, int] | None, tasks: int
) -> dict[str, str | int | float]:
    """The kernel column of a memory run: the total, per task and per field; nothing where the
    kernel does not report it (absent, never zero)."""
    if kernel_delta is None:
        return {}
    total = sum(kernel_delta.values())
    return {
        "kernel_memory_delta": total,
        "kernel_memory_per_task": total / tasks,
        "kernel_memory_fields": KERNEL_MEMORY_FIELDS,
        "kernel_memory_source": KERNEL_MEMORY_SOURCE,
        **{f"kernel_delta_{field}": kernel_delta[field] for field in KERNEL_FIELDS},
    }


def measure_memory(cell: Cell) -> pyperf.Benchmark:
    meter = MemoryMeter(cell.model.memory_measure)
    started = time.perf_counter()
    outcome = run_cell(cell, meter)
    duration = time.perf_counter() - started
    per_task = meter.delta / outcome.ops
    if per_task <= 0:
        raise ProbeError(
            f"{cell.name}: the process tree did not grow ({meter.delta} bytes for "
            f"{outcome.ops} tasks); use more tasks for a measurable delta"
        )
    metadata = {
        "name": cell.name,
        "unit": "byte",
        **cell.metadata(),
        **model_facts(cell.model).metadata(),
        **environment_metadata(mpcontext.method_for(cell.model.parameters()), cell.model.libraries),
        **collector_metadata(),
        "memory_delta": meter.delta,
        "memory_measure": meter.measure,
        gil.MEASURED_KEY: gil.state(),
        **kernel_metadata(meter.kernel_delta, outcome.ops),
        # Without it pyperf would take the byte values for seconds when totalling durations.
        "duration": duration,
        **peak_rss(),
    }
    run = pyperf.Run([per_task], metadata=metadata, collect_metadata=True)
    return pyperf.Benchmark([run])


def measure_profile(cell: Cell) -> dict[str, float | int | str]:
    run_cell(cell, Clock())  # warm-up: first-call costs (imports, hub, pools) stay out
    freeze_collector("warm")
    counters = ZERO
    elapsed = 0.0
    ops = runs = 0
    deadline = time.perf_counter() + PROFILE_MAX_WALL_SECONDS
    while elapsed < PROFILE_MIN_SECONDS and (runs == 0 or time.perf_counter() < deadline):
        clock = ProfilingClock()
        outcome = run_cell(cell, clock)
        counters += clock.counters
        elapsed += clock.elapsed
        ops += outcome.ops
        runs += 1
    return {
        "runs": runs,
        "ops": ops,
        "wall_per_op": elapsed / ops,
        "cpu_user_per_op": counters.cpu_user / ops,
        "cpu_system_per_op": counters.cpu_system / ops,
        "ctx_voluntary_per_op": counters.ctx_voluntary / ops,
        "ctx_involuntary_per_op": counters.ctx_involuntary / ops,
        "gil_measured": gil.state(),
        **peak_rss(),
    }


def batch_from_trials(probe: latency.LatencyPass, rounds: int, resolution: float) -> None:
    """Set pingpong's rounds per stamp from trial runs: the first at one round per stamp, then
    one at each larger batch its median asks for, until a batch's own median asks for no more
    (it resolves, or the cap is reached). A single round's sample carries the stamping's
    disturbance of the loop, which a batch's empty-rounds cost does not: the first median
    overstates the switch, and the batch it asks for may fall short."""
    while True:
        trial, _ = probe.run()
        wanted = latency.choose_batch(
            statistics.median(trial), probe.timer_cost, rounds, resolution
        )
        if wanted <= probe.batch:
            return
        probe.batch = wanted


def measure_latency(
    cell: Cell,
    min_runs: int = LATENCY_MIN_RUNS,
    max_runs: int = LATENCY_MAX_RUNS,
    min_seconds: float = LATENCY_MIN_SECONDS,
    max_wall_seconds: float = LATENCY_MAX_WALL_SECONDS,
    *,
    resolution: float | None = RESOLUTION,
    batch: int | None = None,
) -> dict[str, object]:
    """The latency record of a cell: per-run summaries and the pooled distribution, or, when
    the timer cannot resolve the cell (``is_resolved``), its median and why, with no
    percentile. pingpong's rounds per stamp are chosen (``batch_from_trials``) unless ``batch`` is
    given; ``resolution`` None resolves every cell at the batch given or 1 (for tests, whose
    timings decide nothing)."""
    with latency.LatencyPass(cell) as probe:
        probe.run()  # warm-up: first-call costs (imports, hub, pools) stay out
        freeze_collector("warm")
        probe.calibrate()
        spec = cell.spec
        if batch is None and resolution is not None and isinstance(spec, PingPong):
            batch_from_trials(probe, spec.rounds, resolution)
        elif batch is not None:
            probe.batch = batch
        runs: list[dict[str, float | int]] = []
        pooled: list[float] = []
        elapsed = 0.0
        deadline = time.perf_counter() + max_wall_seconds
        while len(runs) < max_runs and (
            len(runs) < min_runs or (elapsed < min_seconds and time.perf_counter() < deadline)
        ):
            samples, seconds = probe.run()
            runs.append(latency.summarize(samples))
            pooled += samples
            elapsed += seconds
        record: dict[str, object] = {
            "what": probe.what,
            "unit": "second",
            "timer_cost": probe.timer_cost,
            "batch": probe.batch,
            "batch_cost": probe.batch_cost,
        }
        median = statistics.median(pooled)
        if resolution is None or is_resolved(median, probe.timer_cost, probe.batch, resolution):
            return {**record, "resolved": True, "runs": runs, "quantiles": latency.cdf(pooled)}
        rounds = spec.rounds if isinstance(spec, PingPong) else None
        reason = latency.unresolved_reason(
            spec.workload, median, probe.timer_cost, probe.batch, rounds
        )
        # The counts only: a percentile of samples the timer cannot resolve is never reported.
        counts = [{"count": run["count"]} for run in runs]
        return {**record, "resolved": False, "reason": reason, "median": median, "runs": counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.probe")
    # "passes": the profile pass, then the latency pass, in one process (the runner's rounds
    # start one process fewer per cell)
    parser.add_argument("kind", choices=("memory", "profile", "latency", "passes"))
    parser.add_argument("--model", required=True)
    parser.add_argument("--workload", default="memory")
    parser.add_argument("--params", required=True)
    parser.add_argument("--start-method", default=mpcontext.default_method())
    # The runner reads a probe's report from this descriptor (``runners.rounds``); without it
    # the report goes to stdout, where the cell process reads it.
    parser.add_argument("--result-fd", type=int, default=None)
    # The CPUs the runner's --affinity pins pyperf's workers to: the probes measure there too.
    parser.add_argument("--affinity", default=None)
    args = parser.parse_args(argv)
    if args.affinity:
        os.sched_setaffinity(0, parse_cpu_list(args.affinity))
    out = sys.stdout if args.result_fd is None else os.fdopen(args.result_fd, "w", encoding="utf-8")
    try:
        mpcontext.set_start_method(args.start_method)
        cell = _cell(args.model, args.workload, args.params)
        freeze_collector()
        if args.kind == "memory":
            measure_memory(cell).dump(out)
        elif args.kind == "latency":
            # Read after the pass; the cell process moves it into the benchmark's metadata.
            json.dump({**measure_latency(cell), "gil_measured": gil.state()}, out)
        elif args.kind == "passes":
            profile = measure_profile(cell)
            passes = {"latency": {**measure_latency(cell), "gil_measured": gil.state()}}
            json.dump({"profile": profile, **passes}, out)
        else:
            json.dump(measure_profile(cell), out)
    except Exception as exc:  # noqa: BLE001 - reported to the cell process as its verdict
        report_failure(exc)
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    out.flush()
    return 0
