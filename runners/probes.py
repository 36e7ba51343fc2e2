"""Measurements that need a fresh process of their own, run by the runner's manager process.

``memory``: one value of bytes per parked task, measured in a process that has run nothing else
(memory freed by an earlier run would be reused and hide the cost), printed as a pyperf
benchmark in JSON. ``profile``: CPU time and context switches of the process tree over the
measured region of repeated runs, printed as JSON. ``latency``: the distribution of single
switches, items or tasks (``bench.latency``) over repeated runs, printed as JSON.

    python -m runners.probe memory  --model M --params P [--start-method S]
    python -m runners.probe profile --model M --workload W --params P [--start-method S]
    python -m runners.probe latency --model M --workload W --params P [--start-method S]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pyperf

from bench import latency, mpcontext
from bench.cells import Cell, run_cell
from bench.environment import environment_metadata
from bench.meters import Clock, MemoryMeter, ProfilingClock
from bench.proctree import ZERO, self_peak_rss
from bench.registry import get_model
from bench.workloads import SPECS

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
        **environment_metadata(mpcontext.start_method()),
        "memory_delta": meter.delta,
        "memory_measure": meter.measure,
        # Without it pyperf would take the byte values for seconds when totalling durations.
        "duration": duration,
        "peak_rss_self": self_peak_rss(),
    }
    run = pyperf.Run([per_task], metadata=metadata, collect_metadata=True)
    return pyperf.Benchmark([run])


def measure_profile(cell: Cell) -> dict[str, float | int]:
    run_cell(cell, Clock())  # warm-up: first-call costs (imports, hub, pools) stay out
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
        "peak_rss_self": self_peak_rss(),
    }


def measure_latency(
    cell: Cell,
    min_runs: int = LATENCY_MIN_RUNS,
    max_runs: int = LATENCY_MAX_RUNS,
    min_seconds: float = LATENCY_MIN_SECONDS,
    max_wall_seconds: float = LATENCY_MAX_WALL_SECONDS,
) -> dict[str, object]:
    """The latency record of a cell: per-run summaries and the pooled distribution."""
    with latency.LatencyPass(cell) as probe:
        probe.run()  # warm-up: first-call costs (imports, hub, pools) stay out
        probe.calibrate()
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
        return {
            "what": probe.what,
            "unit": "second",
            "timer_cost": probe.timer_cost,
            "runs": runs,
            "quantiles": latency.cdf(pooled),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.probe")
    parser.add_argument("kind", choices=("memory", "profile", "latency"))
    parser.add_argument("--model", required=True)
    parser.add_argument("--workload", default="memory")
    parser.add_argument("--params", required=True)
    parser.add_argument("--start-method", default=mpcontext.default_method())
    args = parser.parse_args(argv)
    try:
        mpcontext.set_start_method(args.start_method)
        cell = _cell(args.model, args.workload, args.params)
        if args.kind == "memory":
            measure_memory(cell).dump(sys.stdout)
        elif args.kind == "latency":
            json.dump(measure_latency(cell), sys.stdout)
        else:
            json.dump(measure_profile(cell), sys.stdout)
    except Exception as exc:  # noqa: BLE001 - reported to the manager as one line
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    return 0
