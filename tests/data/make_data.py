"""Rebuild the result files in tests/data from raw suite runs and a pyperf timeit file, and the
synthetic files (latency records, a sweep) from the stored ones.

Usage (see README.md in this directory for the runs that produce the inputs):

    python3.11 tests/data/make_data.py RAW_PY311.json RAW_PY313.json RAW_TIMEIT.json
    python3.11 tests/data/make_data.py --synthetic

Suite files are stored without warmups and calibration-only runs (compare and report use
neither) and compactly, to keep the directory small; everything else is as the runner wrote it.
The derived files change the 3.11 file in one documented way each. The synthetic files are
generated from seeded random numbers, so every rebuild writes the same bytes.
"""

from __future__ import annotations

import copy
import json
import math
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

REGRESSED = "pingpong[rounds=5]/greenlet"  # values x1.3: a significant 30% regression
IMPROVED = "spawn[tasks=5]/gevent"  # values x0.7: a significant 30% improvement
NUDGED = "pingpong[rounds=5]/serial"  # values x1.005: below the default --min-change
MEMORY_SCALED = "memory[tasks=5]/threads"  # values x1.5, but 3 values a side: too few to test
UNIT_CHANGED = "spawn[tasks=5]/asyncio"  # unit 'byte' instead of 'second'
FAILED = "pingpong[rounds=5]/processes"
SKIPPED = "memory[tasks=5]/gevent"


def shrink(document: dict[str, Any], keep_run_metadata: bool = True) -> dict[str, Any]:
    result = copy.deepcopy(document)
    for bench in result["benchmarks"]:
        runs = []
        for run in bench["runs"]:
            if not run.get("values"):
                continue
            run.pop("warmups", None)
            if not keep_run_metadata:
                run.pop("metadata", None)
            runs.append(run)
        bench["runs"] = runs
    return result


def name_of(bench: dict[str, Any]) -> str:
    return str(bench["metadata"]["name"])


def scale(document: dict[str, Any], name: str, factor: float) -> None:
    for bench in document["benchmarks"]:
        if name_of(bench) == name:
            for run in bench["runs"]:
                run["values"] = [value * factor for value in run["values"]]
            return
    raise KeyError(name)


def regressed(base: dict[str, Any]) -> dict[str, Any]:
    document = shrink(base, keep_run_metadata=False)
    scale(document, REGRESSED, 1.3)
    scale(document, IMPROVED, 0.7)
    scale(document, NUDGED, 1.005)
    scale(document, MEMORY_SCALED, 1.5)
    return document


def units(base: dict[str, Any]) -> dict[str, Any]:
    document = shrink(base, keep_run_metadata=False)
    for bench in document["benchmarks"]:
        if name_of(bench) == UNIT_CHANGED:
            bench["metadata"]["unit"] = "byte"
    return document


def gaps(base: dict[str, Any]) -> dict[str, Any]:
    document = shrink(base, keep_run_metadata=False)
    document["benchmarks"] = [
        bench for bench in document["benchmarks"] if name_of(bench) not in (FAILED, SKIPPED)
    ]
    document["concbench"] = {
        "version": 1,
        "interrupted": False,
        "gaps": [
            {
                "name": FAILED,
                "workload": "pingpong",
                "params": "rounds=5",
                "model": "processes",
                "status": "failed",
                "reason": "CellError: processes reported 9 operations, the spec says 10",
            },
            {
                "name": SKIPPED,
                "workload": "memory",
                "params": "tasks=5",
                "model": "gevent",
                "status": "skipped",
                "reason": "unavailable: No module named 'gevent'",
            },
        ],
    }
    return document


def single(base: dict[str, Any]) -> dict[str, Any]:
    """One value per benchmark, as ``--debug-single-value`` gives (pingpong and memory only)."""
    document = shrink(base, keep_run_metadata=False)
    document["benchmarks"] = [
        bench
        for bench in document["benchmarks"]
        if bench["metadata"]["workload"] in ("pingpong", "memory")
    ]
    for bench in document["benchmarks"]:
        bench["runs"] = [{"values": bench["runs"][0]["values"][:1]}]
    return document


def foreign_slower(timeit: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(timeit)
    for bench in document["benchmarks"]:
        for run in bench["runs"]:
            run["values"] = [value * 1.5 for value in run.get("values", [])]
    return document


# --- synthetic: latency records ---------------------------------------------------------------

LATENCY_WORKLOADS = {
    "pingpong": "one-way switch: a round trip timed by the coordinator, minus the timer's cost, "
    "halved",
    "producer_consumer": "put to get",
    "fan_out": "fan-out start to result",
}
# Cells given latency records: every pingpong cell and one producer_consumer parameter set.
LATENCY_PC_PARAMS = "producers=1,consumers=1,capacity=1,items=7,work=none,cpu_iterations=100"
# The tail (sigma of the log-normal samples) per model: kernel hand-offs have heavier tails.
TAILS = {"threads": 0.9, "processes": 1.0}
# py313_latency: samples above the median stretched x3 (a significantly higher p99)
TAIL_REGRESSED = "pingpong[rounds=5]/threads"
FEW_RUNS = "pingpong[rounds=5]/greenlet"  # py313_latency: x1.5, but 2 runs: too few to test
METADATA_ONLY = "pingpong[rounds=5]/gevent"  # py313_latency: x1.2, metadata only, no record
# Rounds per stamp of batched pingpong cells, (py311_latency, py313_latency): the same batch
# compares; different batches do not.
BATCHES = {FEW_RUNS: (8, 8), "pingpong[rounds=5]/asyncio": (2, 4)}
# Below the timer's resolution in both files: a reason and a median, no percentile.
UNRESOLVED = "pingpong[rounds=5]/generators"
SAMPLES = 1000
LATENCY_RUNS = 5
TIMER_COST = 4e-8


def quantile_grid() -> list[float]:
    grid = [i / 100 for i in range(100)] + [round(0.99 + i / 1000, 3) for i in range(1, 10)]
    return [*grid, 0.9999, 1.0]


def percentile(ordered: list[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def short(value: float) -> float:
    return float(f"{value:.4g}")


def latency_record(
    rng: random.Random, median: float, sigma: float, what: str, *, runs: int, tail: float
) -> dict[str, Any]:
    """Log-normal samples around ``median``; ``tail`` stretches the samples above it."""
    pooled: list[float] = []
    summaries = []
    for _ in range(runs):
        samples = []
        for _ in range(SAMPLES):
            factor = math.exp(sigma * rng.gauss(0.0, 1.0))
            samples.append(median * (factor if factor <= 1 else 1 + (factor - 1) * tail))
        samples.sort()
        pooled += samples
        summaries.append(
            {
                "count": SAMPLES,
                "p50": short(percentile(samples, 0.5)),
                "p90": short(percentile(samples, 0.9)),
                "p99": short(percentile(samples, 0.99)),
                "p99.9": short(percentile(samples, 0.999)),
                "max": short(samples[-1]),
            }
        )
    pooled.sort()
    return {
        "what": what,
        "unit": "second",
        "timer_cost": TIMER_COST,
        "batch": 1,
        "batch_cost": TIMER_COST,
        "resolved": True,
        "runs": summaries,
        "quantiles": [[q, short(percentile(pooled, q))] for q in quantile_grid()],
    }


def batched(record: dict[str, Any], batch: int) -> dict[str, Any]:
    """``record`` as the pass writes a pingpong stamped every ``batch`` rounds."""
    what = (
        f"one-way switch: per switch, averaged over a batch of {batch} rounds ({2 * batch} "
        "one-way switches) timed by the coordinator, minus the timer's cost"
    )
    return {**record, "what": what, "batch": batch, "batch_cost": TIMER_COST * (1 + batch / 4)}


def unresolved(median: float, runs: int) -> dict[str, Any]:
    """The record of a pingpong whose median switch is below 20 x the timer's cost."""
    reason = (
        f"median {median * 1e9:.3g} ns per one-way switch \N{MULTIPLICATION SIGN} 1 round per "
        f"batch = {median * 1e9:.3g} ns, below 20 \N{MULTIPLICATION SIGN} the timer's cost "
        f"({TIMER_COST * 1e9:.3g} ns); a run of 5 rounds allows batches of at most 1 round (a run "
        "of fewer than 200 rounds is not batched)"
    )
    return {
        "what": LATENCY_WORKLOADS["pingpong"],
        "unit": "second",
        "timer_cost": TIMER_COST,
        "batch": 1,
        "batch_cost": TIMER_COST,
        "resolved": False,
        "reason": reason,
        "median": short(median),
        "runs": [{"count": 5}] * runs,
    }


def median_of(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def latency_metadata(record: dict[str, Any]) -> dict[str, Any]:
    runs = record["runs"]
    metadata = {
        "latency_runs": len(runs),
        "latency_samples": runs[0]["count"],
        "latency_timer_cost": record["timer_cost"],
        "latency_what": record["what"],
        "latency_batch": record["batch"],
    }
    if not record["resolved"]:
        return {
            **metadata,
            "latency_median": record["median"],
            "latency_unresolved": record["reason"],
        }
    return {
        **metadata,
        "latency_p50": median_of([run["p50"] for run in runs]),
        "latency_p90": median_of([run["p90"] for run in runs]),
        "latency_p99": median_of([run["p99"] for run in runs]),
        "latency_p999": median_of([run["p99.9"] for run in runs]),
    }


def with_latency(document: dict[str, Any], base: dict[str, Any], newer: bool) -> dict[str, Any]:
    """``document`` with latency records for pingpong and one producer_consumer set, drawn
    around the medians of ``base``'s values with a seed per cell, so that the records of the
    two files differ only where ``newer`` applies the py313_latency changes."""
    document = shrink(document, keep_run_metadata=False)
    medians = {
        name_of(bench): median_of([value for run in bench["runs"] for value in run["values"]])
        for bench in base["benchmarks"]
    }
    records: dict[str, Any] = {}
    for bench in document["benchmarks"]:
        metadata = bench["metadata"]
        workload, name = metadata["workload"], name_of(bench)
        if workload != "pingpong" and metadata["params"] != LATENCY_PC_PARAMS:
            continue
        rng = random.Random(f"latency:{name}")
        median = medians[name] * (2.0 if workload == "producer_consumer" else 1.0)
        runs, tail = LATENCY_RUNS, 1.0
        if newer and name == TAIL_REGRESSED:
            tail = 3.0
        if newer and name == FEW_RUNS:
            runs, median = 2, median * 1.5
        if newer and name == METADATA_ONLY:
            median *= 1.2
        sigma = TAILS.get(metadata["model"], 0.35)
        what = LATENCY_WORKLOADS[workload]
        record = latency_record(rng, median, sigma, what, runs=runs, tail=tail)
        if name in BATCHES:
            record = batched(record, BATCHES[name][newer])
        if name == UNRESOLVED:
            record = unresolved(median, runs)
        metadata.update(latency_metadata(record))
        if not (newer and name == METADATA_ONLY):
            records[name] = record
    document["concbench"] = {"version": 1, "interrupted": False, "gaps": [], "latency": records}
    return document


# --- synthetic: a sweep -----------------------------------------------------------------------

FAN_OUT_SIZES = (1, 10, 100, 1000, 10000)
# Time per task at each size of FAN_OUT_SIZES (None: not reached); asyncio stops scaling at
# N=10,000 (2.5x its best), threads at N=1,000 and cannot reach N=10,000, generators keep going.
FAN_OUT_SWEEP: dict[str, tuple[float | None, ...]] = {
    "threads": (1.2e-3, 200e-6, 120e-6, 300e-6, None),
    "asyncio": (1.1e-3, 120e-6, 20e-6, 12e-6, 30e-6),
    "generators": (1.05e-3, 105e-6, 11e-6, 2.1e-6, 2.0e-6),
}
THREADS_TIME_LIMIT = (
    "time limit: one run would take about 3.0 s (300 µs per task at N=1,000); "
    "raise --sweep-run-limit"
)
PC_SIZES = (1, 10, 100)
PC_SWEEP: dict[str, tuple[float, ...]] = {
    "threads": (40e-6, 60e-6, 150e-6),
    "asyncio": (7e-6, 8e-6, 9e-6),
}
MEMORY_SIZES = (10, 100, 1000)
# bytes per task (the slope) and fixed bytes (the intercept) of each model's memory line
MEMORY_LINES = {"threads": (16896.0, 100_000.0), "asyncio": (1400.0, 60_000.0)}
ECHO_CELLS = (
    ("tasks=100,work=echo,delay_ms=10.0,cpu_iterations=100,request_bytes=64,connect=each", 150e-6),
    ("tasks=1000,work=echo,delay_ms=10.0,cpu_iterations=100,request_bytes=64,connect=each", 60e-6),
    ("tasks=100,work=echo,delay_ms=10.0,cpu_iterations=100,request_bytes=64,connect=reuse", 120e-6),
)


def sweep_benchmark(
    workload: str, params: str, model: str, runs: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{workload}[{params}]/{model}",
            "workload": workload,
            "params": params,
            "model": model,
            "unit": "byte" if workload == "memory" else "second",
        },
        "runs": runs,
    }


def timed_runs(mean: float) -> list[dict[str, Any]]:
    """Three runs of three values within 1% of ``mean``."""
    return [{"values": [mean * (1 + k / 100) for k in (-1, 0, 1)]} for _ in range(3)]


def sweep(base: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(20261130)
    benchmarks = []
    gaps = []
    for model, values in FAN_OUT_SWEEP.items():
        for size, value in zip(FAN_OUT_SIZES, values, strict=True):
            params = f"tasks={size},work=sleep,delay_ms=1.0,cpu_iterations=100"
            if value is not None:
                benchmarks.append(sweep_benchmark("fan_out", params, model, timed_runs(value)))
                continue
            name = f"fan_out[{params}]/{model}"
            gaps.append((name, "fan_out", params, model, THREADS_TIME_LIMIT))
    params = "tasks=100000,work=sleep,delay_ms=1.0,cpu_iterations=100"
    gaps.append(
        (
            f"fan_out[{params}]/threads",
            "fan_out",
            params,
            "threads",
            f"not run: N=10000 already skipped ({THREADS_TIME_LIMIT})",
        )
    )
    for model, values in PC_SWEEP.items():
        for size, value in zip(PC_SIZES, values, strict=True):
            params = (
                f"producers={size},consumers={size},capacity=64,items=2000,work=none,"
                "cpu_iterations=100"
            )
            benchmarks.append(
                sweep_benchmark("producer_consumer", params, model, timed_runs(value))
            )
    params = "producers=1000,consumers=1000,capacity=64,items=2000,work=none,cpu_iterations=100"
    gaps.append(
        (
            f"producer_consumer[{params}]/threads",
            "producer_consumer",
            params,
            "threads",
            "resource limit: can't start new thread",
        )
    )
    for model, (slope, intercept) in MEMORY_LINES.items():
        for size in MEMORY_SIZES:
            runs = []
            for _ in range(3):
                total = round(intercept + slope * size + rng.gauss(0.0, 0.02 * intercept))
                runs.append({"metadata": {"memory_delta": total}, "values": [total / size]})
            benchmarks.append(sweep_benchmark("memory", f"tasks={size}", model, runs))
    for params, value in ECHO_CELLS:
        for model, factor in (("threads", 4.0), ("asyncio", 1.0)):
            benchmarks.append(sweep_benchmark("fan_out", params, model, timed_runs(value * factor)))
    return {
        "version": "1.0",
        "metadata": copy.deepcopy(base["metadata"]),
        "benchmarks": benchmarks,
        "concbench": {
            "version": 1,
            "interrupted": False,
            "gaps": [
                {
                    "name": name,
                    "workload": workload,
                    "params": params,
                    "model": model,
                    "status": "skipped",
                    "reason": reason,
                }
                for name, workload, params, model, reason in gaps
            ],
        },
    }


# --- synthetic: fan_out with ideal makespans ---------------------------------------------------

FAN_OUT_SLEEP = "tasks=100,work=sleep,delay_ms=1.0,cpu_iterations=100"
FAN_OUT_CPU = "tasks=100,work=cpu,delay_ms=1.0,cpu_iterations=100"
FAN_OUT_ECHO = "tasks=100,work=echo,delay_ms=0.0,cpu_iterations=100,request_bytes=64,connect=each"
ALL_AT_ONCE = (0.001, 100, "D = 1 ms (sleep): all 100 tasks wait at once")
NO_DELAY = (0.0, 100, "D = 0 ms (server delay): all 100 tasks wait at once")
ONE_AT_A_TIME = (0.1, 1, "N x D = 100 x 1 ms = 100 ms (sleep): one task waits at a time")


def pool_of(workers: int) -> tuple[float, int, str]:
    """The bound a pool of ``workers`` records for 100 sleeps of 1 ms."""
    waves = math.ceil(100 / workers)
    text = f"ceil(N / W) x D = ceil(100 / {workers}) x 1 ms = {waves} ms (sleep)"
    return (waves * 0.001, workers, f"{text}: {workers} tasks wait at once")


TWO_WORKERS, FOUR_WORKERS = pool_of(2), pool_of(4)
# (params, model, makespan per task, (ideal makespan, workers, bound text) or None for cpu work)
FAN_OUT_CELLS: tuple[tuple[str, str, float, tuple[float, int, str] | None], ...] = (
    (FAN_OUT_SLEEP, "serial", 1.064e-3, ONE_AT_A_TIME),
    (FAN_OUT_SLEEP, "processes", 562e-6, TWO_WORKERS),
    (FAN_OUT_SLEEP, "threads", 85.5e-6, ALL_AT_ONCE),
    (FAN_OUT_SLEEP, "asyncio", 25.1e-6, ALL_AT_ONCE),
    (FAN_OUT_SLEEP, "generators", 12.5e-6, ALL_AT_ONCE),
    (FAN_OUT_CPU, "asyncio", 9.5e-6, None),
    (FAN_OUT_CPU, "generators", 8.6e-6, None),
    (FAN_OUT_ECHO, "asyncio", 141e-6, NO_DELAY),
    (FAN_OUT_ECHO, "generators", 64.5e-6, NO_DELAY),
)
# fan_out_new: asyncio adds 1.5x as much to the sleeps (its makespan per task only 1.3x);
# generators finishes below the ideal (no overhead to compare); processes runs 4 workers, so its
# makespan falls while what it adds stays; asyncio's cpu fan-out is 1.3x slower.
FAN_OUT_NEW: dict[tuple[str, str], tuple[float, tuple[float, int, str] | None]] = {
    (FAN_OUT_SLEEP, "asyncio"): (10e-6 + 15.1e-6 * 1.5, ALL_AT_ONCE),
    (FAN_OUT_SLEEP, "generators"): (9.5e-6, ALL_AT_ONCE),
    (FAN_OUT_SLEEP, "processes"): (250e-6 + 62.0e-6, FOUR_WORKERS),
    (FAN_OUT_CPU, "asyncio"): (9.5e-6 * 1.3, None),
}


def fan_out_file(base: dict[str, Any], newer: bool, bounds: bool) -> dict[str, Any]:
    """fan_out cells with the bound metadata the runner records (``bounds``), or as a file from
    before it did; ``newer``: with the FAN_OUT_NEW changes."""
    benchmarks = []
    for params, model, base_makespan, base_bound in FAN_OUT_CELLS:
        makespan, bound = base_makespan, base_bound
        if newer:
            makespan, bound = FAN_OUT_NEW.get((params, model), (makespan, bound))
        bench = sweep_benchmark("fan_out", params, model, timed_runs(makespan))
        if bounds and bound is None:
            bench["metadata"]["fan_out_bound"] = "none: cpu work has no model-independent bound"
        elif bounds and bound is not None:
            ideal, workers, text = bound
            bench["metadata"].update(
                fan_out_ideal=ideal, fan_out_ideal_workers=workers, fan_out_bound=text
            )
        benchmarks.append(bench)
    return {"version": "1.0", "metadata": copy.deepcopy(base["metadata"]), "benchmarks": benchmarks}


def synthetic() -> None:
    py311 = json.loads((HERE / "py311.json").read_text())
    py313 = json.loads((HERE / "py313.json").read_text())
    write("py311_latency.json", with_latency(py311, py311, newer=False))
    write("py313_latency.json", with_latency(py313, py311, newer=True))
    write("sweep.json", sweep(py311))
    write("fan_out.json", fan_out_file(py311, newer=False, bounds=True))
    write("fan_out_new.json", fan_out_file(py311, newer=True, bounds=True))
    write("fan_out_old.json", fan_out_file(py311, newer=False, bounds=False))


def write(name: str, document: dict[str, Any]) -> None:
    (HERE / name).write_text(json.dumps(document, separators=(",", ":")) + "\n")


def main(raw311: str, raw313: str, raw_timeit: str) -> None:
    py311 = json.loads(Path(raw311).read_text())
    py313 = json.loads(Path(raw313).read_text())
    timeit = json.loads(Path(raw_timeit).read_text())
    derived: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "py311_regressed.json": regressed,
        "py311_units.json": units,
        "py311_gaps.json": gaps,
        "py311_single.json": single,
    }
    write("py311.json", shrink(py311))
    write("py313.json", shrink(py313))
    write("foreign_timeit.json", timeit)
    write("foreign_timeit_slower.json", foreign_slower(timeit))
    for name, derive in derived.items():
        write(name, derive(py311))
    (HERE / "empty.json").write_text("")
    (HERE / "truncated.json").write_text((HERE / "py313.json").read_text()[:300])
    (HERE / "not_pyperf.json").write_text('{"results": [1, 2, 3]}\n')


if __name__ == "__main__":
    if sys.argv[1:] == ["--synthetic"]:
        synthetic()
    else:
        main(*sys.argv[1:4])
