"""Render measured cells as terminal tables: one row per workload and parameter set, one column
per model, values in human units."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable

import pyperf

from bench.analysis.sweep import SlopeFit, fit_line
from bench.measure.cells import PREFERRED_ORDER, RecordedBound, recorded_bound
from bench.measure.latency import RESOLUTION
from bench.results import gil
from bench.results.storage import CellGap
from bench.spec.workloads import SPECS, Memory, Spec
from bench.units import format_bytes, format_duration, format_rate

TIMES = "\N{MULTIPLICATION SIGN}"
# What a latency table shows where the timer cannot resolve a cell's samples.
BELOW_RESOLUTION = "below timer resolution"
# What a table shows where a cell has no number.
GAP_TEXT = {"failed": "FAILED", "skipped": "skipped"}


def short_params(spec: Spec) -> str:
    """A compact row label; the full canonical params stay in the result file."""
    p = spec.__dict__
    if spec.workload == "producer_consumer":
        work = "cpu" if p["work"] == "cpu" else "no work"
        return f"P={p['producers']} C={p['consumers']} Q={p['capacity']} M={p['items']} {work}"
    if spec.workload == "fan_out":
        if p["work"] == "echo":
            return (
                f"N={p['tasks']} echo D={p['delay_ms']:g} ms {p['request_bytes']} B "
                f"connect={p['connect']}"
            )
        work = f"sleep {p['delay_ms']:g} ms" if p["work"] == "sleep" else "cpu"
        return f"N={p['tasks']} {work}"
    if spec.workload == "pingpong":
        return f"rounds={p['rounds']}"
    return f"N={p['tasks']}"


def value_kind(workload: str) -> tuple[str, Callable[[float], str]]:
    """Column unit and formatter of a workload's mean value."""
    if workload == "producer_consumer":
        return "items/s", lambda mean: format_rate(1.0 / mean)
    if SPECS[workload].unit == "byte":
        return "per task", format_bytes
    if workload == "pingpong":
        return "per switch", format_duration
    if workload == "fan_out":
        return "makespan per task", format_duration
    return "per task", format_duration


def _spread(bench: pyperf.Benchmark) -> str:
    if bench.get_nvalue() < 2:
        return ""
    return f" ±{100 * bench.stdev() / bench.mean():.0f}%"


def _model_order(models: Iterable[str]) -> list[str]:
    rank = {name: index for index, name in enumerate(PREFERRED_ORDER)}
    return sorted(set(models), key=lambda name: (rank.get(name, len(rank)), name))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = (c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row))
        return "  ".join(cells).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def _rows(benchmarks: list[pyperf.Benchmark], gaps: list[CellGap]) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    for workload, params in [
        (b.get_metadata()["workload"], b.get_metadata()["params"]) for b in benchmarks
    ] + [(g.workload, g.params) for g in gaps]:
        if (workload, params) not in keys:
            keys.append((workload, params))
    order = {name: index for index, name in enumerate(SPECS)}
    return sorted(keys, key=lambda key: order.get(key[0], len(order)))


def render(
    benchmarks: list[pyperf.Benchmark],
    gaps: list[CellGap],
    cell_text: Callable[[pyperf.Benchmark], str] | None = None,
    title: str = "",
) -> list[str]:
    """One table; ``cell_text`` picks what each benchmark shows (default: its mean and spread)."""
    by_key = {}
    for bench in benchmarks:
        meta = bench.get_metadata()
        by_key[meta["workload"], meta["params"], meta["model"]] = bench
    gap_text = {(g.workload, g.params, g.model): GAP_TEXT[g.status] for g in gaps}
    models = _model_order([key[2] for key in by_key] + [g.model for g in gaps])
    rows = []
    for workload, params in _rows(benchmarks, gaps):
        spec = SPECS[workload].from_params(params)
        unit, fmt = value_kind(workload)
        label = f"{workload} {short_params(spec)}"
        if cell_text is None:
            label += f" [{unit}]"
        row = [label]
        for model in models:
            bench = by_key.get((workload, params, model))
            if bench is not None:
                row.append(cell_text(bench) if cell_text else fmt(bench.mean()) + _spread(bench))
            else:
                row.append(gap_text.get((workload, params, model), "·"))
        rows.append(row)
    if not rows:
        return []
    lines = [title] if title else []
    return lines + _table(["cell", *models], rows)


def _profile_text(key: str, fmt: Callable[[float], str]) -> Callable[[pyperf.Benchmark], str]:
    def text(bench: pyperf.Benchmark) -> str:
        value = bench.get_metadata().get(key)
        return fmt(float(value)) if value is not None else "·"

    return text


def _latency_text(bench: pyperf.Benchmark) -> str:
    meta = bench.get_metadata()
    if "latency_unresolved" in meta:
        return BELOW_RESOLUTION
    if "latency_p50" not in meta or "latency_p99" not in meta:
        return "·"
    batch = int(meta.get("latency_batch", 1))
    return (
        f"{format_duration(float(meta['latency_p50']))} / "
        f"{format_duration(float(meta['latency_p99']))}" + (f" (k={batch})" if batch > 1 else "")
    )


FAN_OUT_OVERHEAD_TITLE = (
    "fan_out overhead per task: (makespan - ideal makespan) / N, what the model adds to the "
    "waits (± standard deviation as % of the overhead)"
)


def _bound(bench: pyperf.Benchmark) -> RecordedBound | None:
    meta = bench.get_metadata()
    return recorded_bound(meta.get("workload"), meta.get("params"), meta)


def fan_out_overhead_text(bench: pyperf.Benchmark) -> str:
    """The mean overhead per task with its spread; that there is none (cpu work has no bound);
    or that the makespan came out at or below the ideal, which no overhead can describe."""
    bound = _bound(bench)
    if bound is None:
        return "·"
    overhead = bound.overhead(bench.get_values())
    if overhead is None:
        return "no bound (cpu)"
    mean = statistics.fmean(overhead)
    if mean <= 0:
        return "<= 0 (at or below the ideal)"
    spread = f" ±{100 * statistics.stdev(overhead) / mean:.0f}%" if len(overhead) > 1 else ""
    return format_duration(mean) + spread


def _fan_out_overhead_lines(timed: list[pyperf.Benchmark]) -> list[str]:
    """The overhead table of the fan_out cells that record a bound, and the bounds of those
    whose tasks do not all wait at once."""
    bounded = [(bench, bound) for bench in timed if (bound := _bound(bench)) is not None]
    if not bounded:
        return []
    table = render([bench for bench, _ in bounded], [], fan_out_overhead_text)
    lines = ["", FAN_OUT_OVERHEAD_TITLE, *table]
    listed = [
        f"  {meta['model']}, {short_params(SPECS['fan_out'].from_params(meta['params']))}: "
        + bound.text
        for bench, bound in bounded
        if bound.ideal_per_task and not bound.all_wait_at_once
        for meta in [bench.get_metadata()]
    ]
    lines.append(
        "Ideal makespan: D when all N tasks wait at once" + (", except:" if listed else "")
    )
    lines += listed
    if any(bound.ideal_per_task is None for _, bound in bounded):
        lines.append(
            "work=cpu has no model-independent bound, so no ideal and no overhead: its makespan "
            "per task is all there is"
        )
    return lines


# A model's per-task memory is the slope over its runs from this many sizes on: with two, the
# slope is one difference, which the noise of the smaller size can dominate.
MEMORY_SLOPE_MIN_SIZES = 3
KERNEL_MEMORY_ABSENT = "n/a"
MEMORY_TITLE = (
    "Memory per parked task, user / kernel (user: the value above; kernel: /proc/meminfo "
    "KernelStack + PageTables + SUnreclaim gained over the region, whole machine, n/a where not "
    "reported; slope: least squares of total bytes against N over every run of those sizes)"
)


def _tasks(bench: pyperf.Benchmark) -> int:
    spec = Memory.from_params(bench.get_metadata()["params"])
    assert isinstance(spec, Memory)
    return spec.tasks


def memory_points(bench: pyperf.Benchmark, key: str) -> list[tuple[float, float]]:
    """(N, bytes) of every run of a memory cell that recorded ``key`` (``memory_delta``: user,
    ``kernel_memory_delta``: kernel)."""
    tasks = _tasks(bench)
    points = []
    for run in bench.get_runs():
        value = run.get_metadata().get(key)
        if isinstance(value, int | float) and math.isfinite(value):
            points.append((float(tasks), float(value)))
    return points


def kernel_per_task(bench: pyperf.Benchmark) -> float | None:
    """Mean kernel bytes per task over the runs that recorded it; None when none did."""
    points = memory_points(bench, "kernel_memory_delta")
    return statistics.fmean(y / x for x, y in points) if points else None


def _slope(points: list[tuple[float, float]]) -> SlopeFit | None:
    if len({x for x, _ in points}) < MEMORY_SLOPE_MIN_SIZES:
        return None
    return fit_line([x for x, _ in points], [y for _, y in points])


def memory_slopes(
    benchmarks: Iterable[pyperf.Benchmark],
) -> dict[str, tuple[SlopeFit, SlopeFit | None]]:
    """Per model measured at ``MEMORY_SLOPE_MIN_SIZES`` sizes or more: the user and the kernel
    bytes per task as least-squares slopes over all its runs (kernel None where too few sizes
    recorded it)."""
    user: dict[str, list[tuple[float, float]]] = {}
    kernel: dict[str, list[tuple[float, float]]] = {}
    for bench in benchmarks:
        if bench.get_metadata().get("workload") != "memory":
            continue
        model = str(bench.get_metadata()["model"])
        user.setdefault(model, []).extend(memory_points(bench, "memory_delta"))
        kernel.setdefault(model, []).extend(memory_points(bench, "kernel_memory_delta"))
    slopes = {}
    for model, points in user.items():
        fit = _slope(points)
        if fit is not None:
            slopes[model] = (fit, _slope(kernel[model]))
    return slopes


def _user_kernel(user: float, kernel: float | None) -> str:
    shown = format_bytes(kernel) if kernel is not None else KERNEL_MEMORY_ABSENT
    return f"{format_bytes(user)} / {shown}"


def _memory_cell_text(bench: pyperf.Benchmark) -> str:
    return _user_kernel(bench.mean(), kernel_per_task(bench))


def sizes_text(sizes: Iterable[int]) -> str:
    return ", ".join(f"{size:,}" for size in sizes)


def _memory_lines(benchmarks: list[pyperf.Benchmark]) -> list[str]:
    """Every memory cell as user / kernel per task, then a slope row per set of sizes."""
    cells = {
        (_tasks(bench), str(bench.get_metadata()["model"])): bench
        for bench in benchmarks
        if bench.get_metadata().get("workload") == "memory"
    }
    if not cells:
        return []
    models = _model_order(model for _, model in cells)
    rows = []
    for tasks in sorted({tasks for tasks, _ in cells}):
        row = [f"memory N={tasks}"]
        for model in models:
            bench = cells.get((tasks, model))
            row.append(_memory_cell_text(bench) if bench is not None else "·")
        rows.append(row)
    by_sizes: dict[tuple[int, ...], dict[str, str]] = {}
    for model, (user, kernel) in memory_slopes(cells.values()).items():
        by_sizes.setdefault(user.sizes, {})[model] = _user_kernel(
            user.slope, kernel.slope if kernel is not None else None
        )
    for sizes, texts in sorted(by_sizes.items()):
        label = f"memory slope N={sizes_text(sizes)}"
        rows.append([label, *(texts.get(model, "·") for model in models)])
    return ["", MEMORY_TITLE, *_table(["cell", *models], rows)]


def gil_warning(benchmarks: list[pyperf.Benchmark]) -> str | None:
    """One line naming the cells whose GIL readings differ from each other or from what the
    run asked for (``bench.results.gil``); None when every reading agrees or none was recorded."""
    flagged: list[tuple[str, str]] = []
    asked: set[str | None] = set()
    for bench in benchmarks:
        metadata = bench.get_metadata()
        requested = gil.requested(metadata)
        asked.add(requested)
        runs = [run.get_metadata() for run in bench.get_runs()]
        why = gil.mismatch([metadata, *runs], requested)
        if why is not None:
            flagged.append((bench.get_name(), why))
    if not flagged:
        return None
    return "warning: " + gil.mismatch_text(flagged, asked.pop() if len(asked) == 1 else None)


def render_all(benchmarks: list[pyperf.Benchmark], gaps: list[CellGap]) -> str:
    timed = [b for b in benchmarks if b.get_unit() == "second"]
    warning = gil_warning(benchmarks)
    lines = [warning, ""] if warning else []
    title = "Mean of all values (± standard deviation as % of mean)"
    lines += render(benchmarks, gaps, title=title)
    lines += _fan_out_overhead_lines(timed)
    with_latency = [
        b for b in timed if {"latency_p99", "latency_unresolved"} & set(b.get_metadata())
    ]
    if with_latency:
        latency_title = (
            "Latency p50 / p99 (latency pass: pingpong one-way switch, producer_consumer put to "
            "get, fan_out fan-out start to result; timer cost subtracted; (k=N): per switch "
            f"averaged over batches of N rounds; {BELOW_RESOLUTION}: k {TIMES} the median is "
            f"under {RESOLUTION:g} {TIMES} the timer's cost, no percentile reported)"
        )
        lines += ["", *render(with_latency, [], _latency_text, title=latency_title)]
    if any("cpu_per_op" in b.get_metadata() for b in timed):
        cpu = _profile_text("cpu_per_op", format_duration)
        switches = _profile_text("ctx_switches_per_op", lambda v: f"{v:.3g}")
        cpu_title = "CPU time per operation, user + system, whole process tree (profile pass)"
        switch_title = "Context switches per operation, voluntary + involuntary (profile pass)"
        lines += ["", *render(timed, [], cpu, title=cpu_title)]
        lines += ["", *render(timed, [], switches, title=switch_title)]
    lines += _memory_lines(benchmarks)
    legend = (
        "· = not run: the model has no such workload, or the cell is not in the matrix (the "
        "default matrix runs its largest sizes on the lightweight models only, and memory at "
        "100, 300 and 1,000 tasks on the others)"
    )
    return "\n".join([*lines, "", legend])
