"""Render measured cells as terminal tables: one row per workload and parameter set, one column
per model, values in human units."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bench.analysis import paired
from bench.analysis.sweep import MEMORY_SLOPE_MIN_SIZES, SlopeFit, fit_line
from bench.results import gil
from bench.results.schema import (
    ROUND_KEY,
    Entry,
    Gap,
    RecordedBound,
    collect_model_facts,
    ordered_models,
    recorded_bound,
)
from bench.spec.precision import PRECISION_TARGET, relative_precision, run_mean_precision
from bench.spec.quantiles import quantile
from bench.spec.resolution import BELOW_RESOLUTION, RESOLUTION
from bench.spec.workloads import LATENCY_WORKLOADS, SPECS, FanOut, Memory, Spec
from bench.units import format_bytes, format_duration, format_rate

TIMES = "\N{MULTIPLICATION SIGN}"
# What a table shows where a cell has no number.
GAP_TEXT = {"failed": "FAILED", "skipped": "skipped"}


def value_kind(spec_class: type[Spec]) -> tuple[str, Callable[[float], str]]:
    """Column unit and formatter of a workload's mean value (a throughput as a rate, whose
    unit the column names)."""
    facts = spec_class.facts
    if facts.throughput:
        return facts.column, lambda mean: format_rate(1.0 / mean)
    return facts.column, format_bytes if spec_class.unit == "byte" else format_duration


def _spread(bench: Entry) -> str:
    if len(bench.values) < 2:
        return ""
    return f" ±{100 * bench.stdev / bench.mean:.0f}%"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = (c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row))
        return "  ".join(cells).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def _rows(benchmarks: list[Entry], gaps: list[Gap]) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    for workload, params in [(str(b.workload), str(b.params)) for b in benchmarks] + [
        (str(g.workload), str(g.params)) for g in gaps
    ]:
        if (workload, params) not in keys:
            keys.append((workload, params))
    order = {name: index for index, name in enumerate(SPECS)}
    return sorted(keys, key=lambda key: order.get(key[0], len(order)))


def render(
    benchmarks: list[Entry],
    gaps: list[Gap],
    cell_text: Callable[[Entry], str] | None = None,
    title: str = "",
) -> list[str]:
    """One table; ``cell_text`` picks what each benchmark shows (default: its mean and spread)."""
    by_key = {(b.workload, b.params, b.model): b for b in benchmarks}
    gap_text = {(g.workload, g.params, g.model): GAP_TEXT[g.status] for g in gaps}
    facts = collect_model_facts(benchmarks, gaps)
    models = ordered_models([str(key[2]) for key in by_key] + [str(g.model) for g in gaps], facts)
    rows = []
    for workload, params in _rows(benchmarks, gaps):
        spec = SPECS[workload].from_params(params)
        unit, fmt = value_kind(SPECS[workload])
        label = f"{workload} {spec.short_params()}"
        if cell_text is None:
            label += f" [{unit}]"
        row = [label]
        for model in models:
            bench = by_key.get((workload, params, model))
            if bench is not None:
                row.append(cell_text(bench) if cell_text else fmt(bench.mean) + _spread(bench))
            else:
                row.append(gap_text.get((workload, params, model), "·"))
        rows.append(row)
    if not rows:
        return []
    lines = [title] if title else []
    return lines + _table(["cell", *models], rows)


def _profile_text(key: str, fmt: Callable[[float], str]) -> Callable[[Entry], str]:
    def text(bench: Entry) -> str:
        value = bench.metadata.get(key)
        return fmt(float(value)) if value is not None else "·"

    return text


def _latency_text(bench: Entry) -> str:
    meta = bench.metadata
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


def _bound(bench: Entry) -> RecordedBound | None:
    return recorded_bound(bench.workload, bench.params, bench.metadata)


def fan_out_overhead_text(bench: Entry) -> str:
    """The mean overhead per task with its spread; that there is none (cpu work has no bound);
    or that the makespan came out at or below the ideal, which no overhead can describe."""
    bound = _bound(bench)
    if bound is None:
        return "·"
    overhead = bound.overhead(bench.values)
    if overhead is None:
        return "no bound (cpu)"
    mean = statistics.fmean(overhead)
    if mean <= 0:
        return "<= 0 (at or below the ideal)"
    spread = f" ±{100 * statistics.stdev(overhead) / mean:.0f}%" if len(overhead) > 1 else ""
    return format_duration(mean) + spread


def _fan_out_overhead_lines(timed: list[Entry]) -> list[str]:
    """The overhead table of the fan_out cells that record a bound, and the bounds of those
    whose tasks do not all wait at once."""
    bounded = [(bench, bound) for bench in timed if (bound := _bound(bench)) is not None]
    if not bounded:
        return []
    table = render([bench for bench, _ in bounded], [], fan_out_overhead_text)
    lines = ["", FAN_OUT_OVERHEAD_TITLE, *table]
    listed = [
        f"  {meta['model']}, {FanOut.from_params(meta['params']).short_params()}: " + bound.text
        for bench, bound in bounded
        if bound.ideal_per_task and not bound.all_wait_at_once
        for meta in [bench.metadata]
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


KERNEL_MEMORY_ABSENT = "n/a"
MEMORY_TITLE = (
    "Memory per parked task, user / kernel (user: the value above; kernel: /proc/meminfo "
    "KernelStack + PageTables + SUnreclaim gained over the region, whole machine, n/a where not "
    "reported; slope: least squares of total bytes against N over every run of those sizes)"
)


def _tasks(bench: Entry) -> int:
    spec = Memory.from_params(str(bench.params))
    assert isinstance(spec, Memory)
    return spec.tasks


def memory_points(bench: Entry, key: str) -> list[tuple[float, float]]:
    """(N, bytes) of every run of a memory cell that recorded ``key`` (``memory_delta``: user,
    ``kernel_memory_delta``: kernel)."""
    tasks = _tasks(bench)
    points = []
    for run in bench.runs:
        value = bench.run_metadata(run).get(key)
        if isinstance(value, int | float) and math.isfinite(value):
            points.append((float(tasks), float(value)))
    return points


def kernel_per_task(bench: Entry) -> float | None:
    """Mean kernel bytes per task over the runs that recorded it; None when none did."""
    points = memory_points(bench, "kernel_memory_delta")
    return statistics.fmean(y / x for x, y in points) if points else None


def _slope(points: list[tuple[float, float]]) -> SlopeFit | None:
    if len({x for x, _ in points}) < MEMORY_SLOPE_MIN_SIZES:
        return None
    return fit_line([x for x, _ in points], [y for _, y in points])


def memory_slopes(
    benchmarks: Iterable[Entry],
) -> dict[str, tuple[SlopeFit, SlopeFit | None]]:
    """Per model measured at ``MEMORY_SLOPE_MIN_SIZES`` sizes or more: the user and the kernel
    bytes per task as least-squares slopes over all its runs (kernel None where too few sizes
    recorded it)."""
    user: dict[str, list[tuple[float, float]]] = {}
    kernel: dict[str, list[tuple[float, float]]] = {}
    for bench in benchmarks:
        if bench.workload != Memory.workload:
            continue
        model = str(bench.model)
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


def _memory_cell_text(bench: Entry) -> str:
    return _user_kernel(bench.mean, kernel_per_task(bench))


def sizes_text(sizes: Iterable[int]) -> str:
    return ", ".join(f"{size:,}" for size in sizes)


def _memory_lines(benchmarks: list[Entry]) -> list[str]:
    """Every memory cell as user / kernel per task, then a slope row per set of sizes."""
    cells = {
        (_tasks(bench), str(bench.model)): bench
        for bench in benchmarks
        if bench.workload == Memory.workload
    }
    if not cells:
        return []
    models = ordered_models((model for _, model in cells), collect_model_facts(cells.values()))
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


def gil_warning(benchmarks: list[Entry]) -> str | None:
    """One line naming the cells whose GIL readings differ from each other or from what the
    run asked for (``bench.results.gil``); None when every reading agrees or none was recorded."""
    flagged: list[tuple[str, str]] = []
    asked: set[str | None] = set()
    for bench in benchmarks:
        metadata = bench.metadata
        requested = gil.requested(metadata)
        asked.add(requested)
        runs = [bench.run_metadata(run) for run in bench.runs]
        why = gil.mismatch([metadata, *runs], requested)
        if why is not None:
            flagged.append((bench.name, why))
    if not flagged:
        return None
    return "warning: " + gil.mismatch_text(flagged, asked.pop() if len(asked) == 1 else None)


# pyperf's own checks of a benchmark (pyperf._cli.format_checks), which the runner silences in
# the cell processes (--quiet) because this section reports them, one line per cell.
PYPERF_STDEV_LIMIT = 0.10
PYPERF_OUTLIER_LIMIT = 0.50
PYPERF_SHORTEST_RAW = 1e-3
PRECISION_TITLE = (
    "Precision of the mean: the half-width of its 95% confidence interval as % of the mean "
    "(Student's t over the means of the cell's runs, one per worker process, for cells measured "
    "in rounds; over its values otherwise); unstable: wider than "
    f"±{100 * PRECISION_TARGET:g}%"
)


@dataclass(frozen=True)
class CellPrecision:
    name: str
    precision: float | None  # None: fewer than two values
    findings: tuple[str, ...]  # what pyperf would have warned about
    rounds: int | None = None  # measured in rounds: how many

    @property
    def unstable(self) -> bool:
        return self.precision is not None and self.precision > PRECISION_TARGET


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.1f}%" if fraction < 0.1 else f"{100 * fraction:.0f}%"


def pyperf_findings(bench: Entry) -> tuple[str, ...]:
    """pyperf's warnings about one benchmark, each in a few words: a standard deviation of 10%
    of the mean or more, a minimum or maximum 50% or more away from the mean, a raw value (one
    timed run of all its loops) under 1 ms, nohz_full with intel_pstate. pyperf's "not enough
    samples" is the precision the section reports."""
    values = bench.values
    if not values:
        return ()
    mean = statistics.fmean(values)
    found = []
    if len(values) >= 2 and mean > 0:
        spread = statistics.stdev(values) / mean
        if spread >= PYPERF_STDEV_LIMIT:
            found.append(f"standard deviation {_percent(spread)} of the mean")
    for which, value in (("minimum", min(values)), ("maximum", max(values))):
        off = (value - mean) / mean if mean > 0 else 0.0
        if abs(off) >= PYPERF_OUTLIER_LIMIT:
            side = "above" if off > 0 else "below"
            found.append(f"{which} {_percent(abs(off))} {side} the mean")
    if bench.unit == "second":
        raw = [
            value * float(meta.get("loops", 1)) * float(meta.get("inner_loops", 1))
            for run in bench.runs
            for meta in [bench.run_metadata(run)]
            for value in run.values
        ]
        if raw and min(raw) < PYPERF_SHORTEST_RAW:
            found.append(f"shortest raw value {format_duration(min(raw))} (under 1 ms)")
    configs = {str(bench.run_metadata(run).get("cpu_config", "")) for run in bench.runs}
    if any("nohz_full" in config and "intel_pstate" in config for config in configs):
        found.append("nohz_full on intel_pstate CPUs, which do not work together")
    return tuple(found)


def cell_precisions(benchmarks: Iterable[Entry]) -> list[CellPrecision]:
    return [_cell_precision(bench) for bench in benchmarks if bench.values]


def _cell_precision(bench: Entry) -> CellPrecision:
    """Over the run means for a cell measured in rounds: the values of one worker process
    scatter less than processes do (``bench.measure.sampling``)."""
    measured = [run for run in bench.runs if run.values]
    if any(ROUND_KEY in bench.run_metadata(run) for run in measured):
        means = [statistics.fmean(run.values) for run in measured]
        return CellPrecision(
            bench.name, run_mean_precision(means), pyperf_findings(bench), rounds=len(means)
        )
    return CellPrecision(bench.name, relative_precision(bench.values), pyperf_findings(bench))


def precision_lines(benchmarks: Iterable[Entry]) -> list[str]:
    """The precision each cell reached, summarised in one line, then one line per cell that
    is unstable or that pyperf would have warned about."""
    cells = cell_precisions(benchmarks)
    if not cells:
        return []
    reached = sorted(cell.precision for cell in cells if cell.precision is not None)
    single = len(cells) - len(reached)
    lines = ["", PRECISION_TITLE]
    if reached:
        worst = max(
            (cell for cell in cells if cell.precision is not None),
            key=lambda cell: cell.precision or 0.0,
        )
        unstable = sum(cell.unstable for cell in cells)
        lines.append(
            f"  over {len(reached)} cells: median ±{_percent(quantile(reached, 0.5))}, "
            f"90th percentile ±{_percent(quantile(reached, 0.9))}, "
            f"worst ±{_percent(reached[-1])} ({worst.name}); {unstable} unstable"
        )
    if single:
        lines.append(f"  cells with a single value, so no interval: {single}")
    for cell in cells:
        if not (cell.unstable or cell.findings):
            continue
        words = [] if cell.precision is None else [f"±{_percent(cell.precision)}"]
        words += ["unstable"] if cell.unstable else []
        words += [] if cell.rounds is None else [f"{cell.rounds} rounds"]
        lines.append(f"  {cell.name}: " + "; ".join([*words, *cell.findings]))
    return lines


def paired_lines(benchmarks: Iterable[Entry]) -> list[str]:
    """The within-row ratios of the rows measured in paired rounds (``bench.analysis.paired``):
    one line per model other than the row's reference, the row named on its first line; then
    how much narrower pairing made the intervals. Nothing for a file without rounds."""
    rows = paired.paired_rows(benchmarks)
    if not rows:
        return []
    body = []
    for row in rows:
        for index, line in enumerate(paired.table_lines(row)):
            body.append(list(line) if index == 0 else ["", "", *line[2:]])
    title = f"{paired.TITLE} ({paired.explanation(row.workload for row in rows)})"
    summary = paired.pairing_summary(rows)
    return ["", title, *_table(list(paired.HEADER), body), *([summary] if summary else [])]


def _sample_names() -> str:
    """ "pingpong one-way switch, producer_consumer put to get, ...": what a latency sample of
    each workload is, in the words before the colon of its description."""
    return ", ".join(
        f"{name} {latency.what.partition(':')[0]}"
        for name in LATENCY_WORKLOADS
        if (latency := SPECS[name].facts.latency) is not None
    )


def render_all(benchmarks: list[Entry], gaps: list[Gap]) -> str:
    timed = [b for b in benchmarks if b.unit == "second"]
    warning = gil_warning(benchmarks)
    lines = [warning, ""] if warning else []
    title = "Mean of all values (± standard deviation as % of mean)"
    lines += render(benchmarks, gaps, title=title)
    lines += paired_lines(timed)
    lines += _fan_out_overhead_lines(timed)
    with_latency = [b for b in timed if {"latency_p99", "latency_unresolved"} & set(b.metadata)]
    if with_latency:
        latency_title = (
            f"Latency p50 / p99 (latency pass: {_sample_names()}; timer cost subtracted; "
            f"(k=N): per switch averaged over batches of N rounds; {BELOW_RESOLUTION}: k "
            f"{TIMES} the median is under {RESOLUTION:g} {TIMES} the timer's cost, no "
            "percentile reported)"
        )
        lines += ["", *render(with_latency, [], _latency_text, title=latency_title)]
    if any("cpu_per_op" in b.metadata for b in timed):
        cpu = _profile_text("cpu_per_op", format_duration)
        switches = _profile_text("ctx_switches_per_op", lambda v: f"{v:.3g}")
        cpu_title = "CPU time per operation, user + system, whole process tree (profile pass)"
        switch_title = "Context switches per operation, voluntary + involuntary (profile pass)"
        lines += ["", *render(timed, [], cpu, title=cpu_title)]
        lines += ["", *render(timed, [], switches, title=switch_title)]
    lines += _memory_lines(benchmarks)
    lines += precision_lines(benchmarks)
    legend = (
        "· = not run: the model has no such workload, or the cell is not in the matrix (the "
        "default matrix runs its largest sizes on the lightweight models only, and memory at "
        "100, 300 and 1,000 tasks on the others)"
    )
    return "\n".join([*lines, "", legend])
