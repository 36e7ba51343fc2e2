"""Memory in the summary and the report: user and kernel per task, and the slope over sizes
(hand-made benchmarks, no measuring)."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pyperf
import pytest

from bench.analysis import findings
from bench.render.terminal import render_all
from bench.results.schema import Entry, Run, load
from bench.spec.cellnames import cell_name
from bench.spec.workloads import Memory
from tests.result_sets import make_set

KIB = 1024
MIB = 1024 * KIB
# On a line with a large fixed part: bytes per task at one size (total / N) overstates it.
USER_FIXED, USER_SLOPE = 20 * MIB, 1.8 * MIB
KERNEL_FIXED, KERNEL_SLOPE = 300 * KIB, 200 * KIB


def _totals(tasks: int, fixed: float, slope: float, noise: float) -> float:
    return fixed + slope * tasks + noise


def _memory_bench(
    model: str, tasks: int, kernel: bool = True, scale: float = 1.0
) -> pyperf.Benchmark:
    """Three runs on the lines above (the user line times ``scale``), a KiB of noise apart."""
    spec = Memory(tasks=tasks)
    runs = []
    for noise in (-KIB, 0.0, KIB):
        user = _totals(tasks, USER_FIXED, USER_SLOPE, noise) * scale
        metadata: dict[str, object] = {
            "name": cell_name(spec.workload, spec.params, model),
            "unit": "byte",
            "model": model,
            "workload": "memory",
            "params": spec.params,
            "memory_delta": int(user),
        }
        if kernel:
            metadata["kernel_memory_delta"] = int(_totals(tasks, KERNEL_FIXED, KERNEL_SLOPE, noise))
        runs.append(pyperf.Run([user / tasks], metadata=metadata, collect_metadata=False))
    return pyperf.Benchmark(runs)


def _table(text: str) -> list[str]:
    return (
        text.split("Memory per parked task, user / kernel")[1]
        .split("\n\n", maxsplit=1)[0]
        .splitlines()
    )


def _row(lines: list[str], label: str) -> str:
    return next(line for line in lines if line.startswith(label + " "))


def test_the_summary_shows_user_and_kernel_and_the_slope_over_three_sizes() -> None:
    benches = [_memory_bench("processes", n) for n in (100, 300, 1000)]
    benches.append(_memory_bench("asyncio", 10_000, kernel=False))
    lines = _table(render_all([Entry.from_pyperf(bench) for bench in benches], []))
    header = lines[1].split()
    assert header == ["cell", "processes", "asyncio"]
    # one difference per size overstates the per-task cost: 20 MiB / 100 tasks more
    assert _row(lines, "memory N=100").split()[2:6] == ["2.00", "MiB", "/", "203"]
    # the slope over all runs recovers what each task adds, in both columns
    slope = _row(lines, "memory slope N=100, 300, 1,000")
    assert "1.80 MiB / 200 KiB" in slope and slope.endswith("·")
    # no kernel column recorded: n/a, not zero
    assert _row(lines, "memory N=10000").endswith("/ n/a")


def test_two_sizes_give_no_slope_row() -> None:
    text = render_all([Entry.from_pyperf(_memory_bench("threads", n)) for n in (100, 1000)], [])
    assert "memory slope" not in text
    assert "memory N=1000" in text


def _entry(bench: pyperf.Benchmark) -> Entry:
    meta = bench.get_metadata()
    return Entry(
        name=bench.get_name(),
        workload="memory",
        params=meta["params"],
        model=meta["model"],
        unit="byte",
        values=tuple(bench.get_values()),
        metadata=MappingProxyType(dict(meta)),
        runs=tuple(
            Run(tuple(run.values), MappingProxyType(run.get_metadata())) for run in bench.get_runs()
        ),
    )


def test_the_report_states_the_slope_with_its_sizes_and_the_kernel_part() -> None:
    entries = [_entry(_memory_bench("processes", n)) for n in (100, 300, 1000)]
    entries.append(_entry(_memory_bench("threads", 1000, scale=0.01)))
    entries.append(_entry(_memory_bench("generators", 10_000, kernel=False, scale=0.0002)))
    ranking, contrast, kernel = [f.text for f in findings.memory_findings(make_set(entries))]
    # one size: that size's ratio; three: the slope, which leaves the fixed 20 MiB out
    assert ranking == (
        "Memory per parked task, smallest first: generators 0.369 KiB (N=10,000), "
        "threads 18.6 KiB (N=1,000), processes 1.80 MiB (slope over N = 100, 300, 1,000)."
    )
    assert contrast == (
        f"A parked process holds 4,994{findings.TIMES} the memory of a parked generator "
        "(1.80 MiB against 0.369 KiB)."
    )
    assert kernel == (
        "Kernel memory per parked task, which the figures above leave out (kernel stacks, "
        "page tables, unreclaimable slab: /proc/meminfo KernelStack + PageTables + SUnreclaim "
        "over the region, whole machine): threads 200 KiB (N=1,000), processes 200 KiB "
        "(slope over N = 100, 300, 1,000)."
    )  # generators recorded none: absent, not zero


def test_without_any_kernel_column_the_report_says_nothing_of_it() -> None:
    entries = [_entry(_memory_bench("threads", n, kernel=False)) for n in (100, 300, 1000)]
    statements = [f.text for f in findings.memory_findings(make_set(entries))]
    assert len(statements) == 1
    assert statements[0] == (
        "Memory per parked task, smallest first: threads 1.80 MiB (slope over N = 100, 300, 1,000)."
    )


@pytest.mark.parametrize("sizes", [(1000,), (100, 1000)])
def test_fewer_than_three_sizes_keep_the_largest_sizes_ratio(sizes: tuple[int, ...]) -> None:
    entries = [_entry(_memory_bench("threads", n)) for n in sizes]
    (ranking, kernel) = [f.text for f in findings.memory_findings(make_set(entries))]
    assert ranking == "Memory per parked task, smallest first: threads 1.82 MiB."
    assert "slope" not in kernel


def test_the_default_matrix_measures_heavyweight_memory_at_enough_sizes_for_a_slope() -> None:
    from bench.analysis.sweep import MEMORY_SLOPE_MIN_SIZES
    from bench.spec.workloads import DEFAULT_MATRIX

    sizes = sorted(
        spec.tasks
        for spec, scope in DEFAULT_MATRIX
        if isinstance(spec, Memory) and scope == "heavyweight"
    )
    assert len(sizes) >= MEMORY_SLOPE_MIN_SIZES
    # a thread's kernel part rises above the machine's noise from about 1,000 threads on
    assert sizes[-1] >= 1000


def test_a_kernel_column_every_run_shares_is_read_back_from_a_file(tmp_path: Path) -> None:
    """pyperf stores metadata equal in every run once, at the benchmark's level."""
    runs = [
        pyperf.Run(
            [340.0],
            metadata={
                "name": "memory[tasks=10000]/generators",
                "unit": "byte",
                "model": "generators",
                "workload": "memory",
                "params": "tasks=10000",
                "memory_delta": 3_400_000,
                "kernel_memory_delta": 0,
            },
            collect_metadata=False,
        )
        for _ in range(3)
    ]
    path = tmp_path / "shared.json"
    pyperf.BenchmarkSuite([pyperf.Benchmark(runs)]).dump(str(path))
    statements = [f.text for f in findings.memory_findings(load(path))]
    assert statements[-1].endswith(": generators 0 KiB.")
