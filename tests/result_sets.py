"""Small hand-made result sets: the entries, files and latency records the tests of findings,
charts and the memory report build their cases from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bench.analysis import findings
from bench.results.schema import Entry, Gap, LatencyRecord, LatencyRun, ResultSet
from bench.spec.cellnames import cell_name

PINGPONG = "rounds=2000"
PC_1X1 = "producers=1,consumers=1,capacity=1,items=4000,work=none,cpu_iterations=100"
PC_4X4 = "producers=4,consumers=4,capacity=64,items=4000,work=none,cpu_iterations=100"
FAN_100 = "tasks=100,work=sleep,delay_ms=1.0,cpu_iterations=100"
FAN_10K = "tasks=10000,work=sleep,delay_ms=1.0,cpu_iterations=100"
UNITS = {"memory": "byte"}
X = findings.TIMES


def make_entry(
    workload: str, params: str, model: str, values: Sequence[float], **metadata: Any
) -> Entry:
    return Entry(
        name=cell_name(workload, params, model),
        workload=workload,
        params=params,
        model=model,
        unit=UNITS.get(workload, "second"),
        values=tuple(values),
        metadata=MappingProxyType(dict(metadata)),
    )


def make_set(
    entries: Sequence[Entry],
    label: str = "3.11.7",
    gaps: Sequence[Gap] = (),
    **environment: Any,
) -> ResultSet:
    return ResultSet(
        path=Path(f"/results/{label}.json"),
        label=label,
        environment=MappingProxyType({"python_version": f"{label} (64-bit)", **environment}),
        entries=tuple(entries),
        gaps=tuple(gaps),
    )


def around(mean: float, spread: float = 0.01) -> list[float]:
    """Six values with the given mean and a relative half-range of ``spread``."""
    return [mean * (1 - spread), mean, mean * (1 + spread)] * 2


def with_latency(entry: Entry, p50: float, p99: float, runs: int = 3) -> Entry:
    run = LatencyRun(1000, p50, 2 * p50, p99, 1.5 * p99, 2 * p99)
    record = LatencyRecord(
        what="put to get",
        unit="second",
        timer_cost=4e-8,
        p50=p50,
        p90=2 * p50,
        p99=p99,
        p999=1.5 * p99,
        runs=(run,) * runs,
        quantiles=((0.0, p50 / 2), (0.5, p50), (0.99, p99), (1.0, 2 * p99)),
    )
    return replace(entry, latency=record)


def latency_set() -> ResultSet:
    return make_set(
        [
            with_latency(
                make_entry("producer_consumer", PC_1X1, "threads", around(4e-5)), 1e-3, 9.8e-3
            ),
            with_latency(
                make_entry("producer_consumer", PC_1X1, "asyncio", around(7e-6)), 1.5e-4, 1.2e-3
            ),
            make_entry("producer_consumer", PC_1X1, "greenlet", around(1e-6)),
        ]
    )
