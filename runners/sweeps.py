"""The runner's side of scaling sweeps (``--sweep``): cell order, skip rules, end-of-run text.

A series is one model over the sizes of one workload with every other parameter fixed
(``bench.analysis.sweep``). Its cells run in ascending size, and a size is not attempted when it
cannot
usefully be measured; the cell is then recorded as skipped with the reason the report shows:

- a smaller size of the series has no number: "not run: N=<size> already <status> (<reason>)";
- the size is above the model's declared ``SWEEP_LIMITS`` (sizes that would exhaust memory or
  processes rather than merely take long);
- one run, projected from the time per operation at the largest size measured so far, would
  take longer than ``--sweep-run-limit`` (10 times that for a memory run, made only a few
  times);
- the whole cell, extrapolated from the two largest sizes measured, would take longer than
  ``--cell-timeout``: the set-up of producer_consumer's tasks is outside its measured region,
  so only the cell's time shows it.

Real resource limits and hangs are recorded by the usual machinery (``ResourceLimitError``,
``--cell-timeout``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pyperf

from bench.analysis.sweep import (
    Missing,
    Point,
    Series,
    fit_line,
    scaling,
    split_params,
    sweep_series,
)
from bench.measure.cells import PREFERRED_ORDER, Cell
from bench.results.storage import CellGap
from bench.spec.workloads import SPECS
from bench.units import format_bytes, format_duration

STOP_FACTOR = 2.0
# A memory cell runs --memory-samples fresh processes once each (3 to 10), a timed cell some 20
# to 40 pyperf runs: a memory run may take this many times --sweep-run-limit for a similar cost.
MEMORY_RUN_FACTOR = 10

SeriesKey = tuple[str, str, str]


def series_key(workload: str, params: str, model: str) -> tuple[SeriesKey, int] | None:
    split = split_params(workload, params)
    if split is None:
        return None
    return (workload, split[0], model), split[1]


def _cell_key(cell: Cell) -> tuple[SeriesKey, int] | None:
    return series_key(cell.spec.workload, cell.spec.params, cell.model.name)


def order_cells(cells: Sequence[Cell]) -> list[Cell]:
    """``cells`` with each workload's sizes ascending (size-major, models in planned order),
    keeping the workloads and fixed parameter sets in the order they first appear."""
    first: dict[tuple[str, str], int] = {}
    keys = []
    for index, cell in enumerate(cells):
        key = _cell_key(cell)
        group = (cell.spec.workload, key[0][1]) if key else (cell.spec.workload, cell.spec.params)
        keys.append((first.setdefault(group, index), key[1] if key else 0, index))
    return [cells[index] for *_, index in sorted(keys)]


def _op_word(workload: str) -> str:
    return "item" if workload == "producer_consumer" else "task"


def _seconds_per_op(bench: pyperf.Benchmark) -> float | None:
    """Time per operation of a whole run: the mean for timed cells; for memory cells, whose
    values are bytes, the recorded duration of each fresh-process run over its tasks."""
    if bench.get_unit() == "second":
        return float(bench.mean())
    ops = int(bench.get_metadata().get("ops_per_run", 0))
    durations = [
        float(run.get_metadata()["duration"])
        for run in bench.get_runs()
        if "duration" in run.get_metadata()
    ]
    if ops <= 0 or not durations:
        return None
    return math.fsum(durations) / len(durations) / ops


def skip_reason(
    cell: Cell,
    benchmarks: Iterable[pyperf.Benchmark],
    gaps: Iterable[CellGap],
    run_limit: float,
    cell_timeout: float,
) -> str | None:
    """Why ``cell`` should not be attempted in a sweep, given what the run holds so far; None
    to measure it. Only smaller sizes of the cell's own series count."""
    found = _cell_key(cell)
    if found is None:
        return None
    key, size = found
    measured = _measured_below(key, size, benchmarks)
    return (
        _earlier_gap(key, size, gaps)
        or _above_limit(cell, size)
        or _run_too_long(cell, measured, run_limit)
        or _cell_too_long(size, measured, cell_timeout)
    )


def _earlier_gap(key: SeriesKey, size: int, gaps: Iterable[CellGap]) -> str | None:
    earlier = []
    for gap in gaps:
        other = series_key(gap.workload, gap.params, gap.model)
        if other is not None and other[0] == key and other[1] < size:
            earlier.append((other[1], gap))
    if not earlier:
        return None
    # The smallest is the cause; the larger ones were skipped because of it.
    gap_size, gap = min(earlier, key=lambda item: item[0])
    return f"not run: N={gap_size:,} already {gap.status} ({gap.reason})"


def _above_limit(cell: Cell, size: int) -> str | None:
    limit = cell.model.sweep_limit(cell.spec.workload)
    if limit is None or size <= limit:
        return None
    return (
        f"above the model's sweep limit: N={size:,} > {limit:,} "
        f"(SWEEP_LIMITS of {cell.model.name}: sizes that would exhaust the machine)"
    )


def _measured_below(
    key: SeriesKey, size: int, benchmarks: Iterable[pyperf.Benchmark]
) -> list[tuple[int, pyperf.Benchmark]]:
    """The series' measured sizes below ``size``, ascending."""
    measured = []
    for bench in benchmarks:
        meta = bench.get_metadata()
        other = series_key(str(meta["workload"]), str(meta["params"]), str(meta["model"]))
        if other is not None and other[0] == key and other[1] < size:
            measured.append((other[1], bench))
    return sorted(measured, key=lambda item: item[0])


def _run_too_long(
    cell: Cell, measured: list[tuple[int, pyperf.Benchmark]], run_limit: float
) -> str | None:
    if not measured:
        return None
    at_size, bench = measured[-1]
    per_op = _seconds_per_op(bench)
    memory = cell.spec.unit != "second"
    limit = run_limit * MEMORY_RUN_FACTOR if memory else run_limit
    if per_op is None or per_op * cell.spec.ops <= limit:
        return None
    which = f"the {limit:g} s limit of a memory run" if memory else f"the {limit:g} s limit"
    return (
        f"time limit: one run would take about {format_duration(per_op * cell.spec.ops)} "
        f"({format_duration(per_op)} per {_op_word(cell.spec.workload)} at N={at_size:,}), "
        f"above {which}; raise --sweep-run-limit"
    )


def _cell_too_long(
    size: int, measured: list[tuple[int, pyperf.Benchmark]], cell_timeout: float
) -> str | None:
    """A cell's whole time (set-up and tear-down of its tasks, every pass) extrapolated
    linearly from the two largest sizes measured: a cell that would time out is not started."""
    timed = [
        (at_size, float(bench.get_metadata()["cell_seconds"]))
        for at_size, bench in measured
        if "cell_seconds" in bench.get_metadata()
    ]
    if len(timed) < 2:
        return None
    (size1, seconds1), (size2, seconds2) = timed[-2:]
    growth = max(0.0, (seconds2 - seconds1) / (size2 - size1))
    projected = seconds2 + growth * (size - size2)
    if projected <= cell_timeout:
        return None
    return (
        f"time limit: the cell would take about {projected:.0f} s (extrapolated from "
        f"{seconds1:.3g} s at N={size1:,} and {seconds2:.3g} s at N={size2:,}), more than "
        f"--cell-timeout ({cell_timeout:g} s)"
    )


def _points(benchmarks: Iterable[pyperf.Benchmark]) -> list[Point]:
    points = []
    for bench in benchmarks:
        meta = bench.get_metadata()
        points.append(
            Point(str(meta["workload"]), str(meta["params"]), str(meta["model"]), bench.mean())
        )
    return points


def _missing(gaps: Iterable[CellGap]) -> list[Missing]:
    return [
        Missing(gap.workload, gap.params, gap.model, f"{gap.status}: {gap.reason}") for gap in gaps
    ]


def _unreached_text(series: Series) -> str:
    if not series.unreached:
        return ""
    size, reason = series.unreached[0]
    return f"; from N={size:,} not reached: {reason}"


def _scaling_line(series: Series) -> str:
    result = scaling(series, STOP_FACTOR)
    word = _op_word(series.workload)
    line = f"best {format_duration(result.best_value)} per {word} at N={result.best_size:,}"
    if result.stops_at is not None and result.ratio_at_stop is not None:
        line += f"; stops scaling at N={result.stops_at:,} ({result.ratio_at_stop:.1f}x the best)"
    elif len(series.sizes) > 1:
        line += f"; scales up to N={series.sizes[-1]:,} (within {STOP_FACTOR:g}x of the best)"
    return line + _unreached_text(series)


def _memory_line(series: Series, benchmarks: Sequence[pyperf.Benchmark]) -> str:
    xs: list[float] = []
    ys: list[float] = []
    for bench in benchmarks:
        meta = bench.get_metadata()
        found = series_key(str(meta["workload"]), str(meta["params"]), str(meta["model"]))
        if found is None or found[0] != (series.workload, series.fixed, series.model):
            continue
        for run in bench.get_runs():
            run_meta = run.get_metadata()
            if "memory_delta" in run_meta:
                xs.append(found[1])
                ys.append(float(run_meta["memory_delta"]))
    try:
        fit = fit_line(xs, ys)
    except ValueError as exc:
        return f"no slope: {exc}" + _unreached_text(series)
    half = (fit.slope_high - fit.slope_low) / 2
    if math.isfinite(half) and fit.slope != 0:
        # relative: three digits of KiB would show a narrow interval as zero width
        interval = f"95% interval ±{100 * half / abs(fit.slope):.2g}%"
    elif math.isfinite(half):
        interval = f"95% interval ±{format_bytes(half)}"
    else:
        interval = "no interval from 2 runs"
    sizes = f"N={fit.sizes[0]:,}..{fit.sizes[-1]:,}"
    return (
        f"slope {format_bytes(fit.slope)} per task ({interval}), R² {fit.r_squared:.4f}, "
        f"intercept {format_bytes(fit.intercept)}; {fit.points} runs at {sizes}"
        + _unreached_text(series)
    )


def sweep_report(benchmarks: Sequence[pyperf.Benchmark], gaps: Sequence[CellGap]) -> str:
    """Per series: where each model stops scaling (time per operation more than 2x its best),
    and for memory the bytes per task fitted as the slope of total bytes over N."""
    all_series = sweep_series(_points(benchmarks), _missing(gaps))
    if not all_series:
        return ""
    rank = {name: index for index, name in enumerate(PREFERRED_ORDER)}
    groups: dict[tuple[str, str], list[Series]] = {}
    for series in all_series:
        groups.setdefault((series.workload, series.fixed), []).append(series)
    lines = [
        f"Scaling sweep: the best time per operation of each model, and the size at which it "
        f"grows more than {STOP_FACTOR:g}x over it; memory: bytes per task as the slope of the "
        f"total over N (least squares over every run)"
    ]
    order = {name: index for index, name in enumerate(SPECS)}
    for (workload, fixed), members in sorted(groups.items(), key=lambda g: order[g[0][0]]):
        lines.append("")
        lines.append(f"{workload}" + (f" [{fixed}]" if fixed else ""))
        members.sort(key=lambda s: (rank.get(s.model, len(rank)), s.model))
        width = max(len(s.model) for s in members)
        for series in members:
            if workload == "memory":
                text = _memory_line(series, benchmarks)
            else:
                text = _scaling_line(series)
            lines.append(f"  {series.model.ljust(width)}  {text}")
    return "\n".join(lines)
