"""The runner's side of scaling sweeps (``--sweep``): cell order, skip rules, end-of-run text.

A series is one model over the sizes of one workload with every other parameter fixed
(``bench.analysis.sweep``). Its cells run in ascending size, and a size is not attempted when it
cannot
usefully be measured; the cell is then recorded as skipped with the reason the report shows:

- a smaller size of the series has no number: "not run: N=<size> already <status> (<reason>)";
- the size is above the model's declared ``sweep_limits`` (sizes that would exhaust memory or
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

from bench.analysis.findings import SCALING_FACTOR, operation_word, scaling_text, slope_text
from bench.analysis.sweep import Series, fit_line, split_params, sweep_series
from bench.measure.cells import Cell
from bench.results.schema import Entry, Gap, collect_model_facts, ordered_models, sweep_data
from bench.spec.workloads import SPECS
from bench.units import format_duration

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


def _seconds_per_op(bench: Entry) -> float | None:
    """Time per operation of a whole run: the mean for timed cells; for memory cells, whose
    values are bytes, the recorded duration of each fresh-process run over its tasks."""
    if bench.unit == "second":
        return float(bench.mean)
    ops = int(bench.metadata.get("ops_per_run", 0))
    runs = [bench.run_metadata(run) for run in bench.runs]
    durations = [float(metadata["duration"]) for metadata in runs if "duration" in metadata]
    if ops <= 0 or not durations:
        return None
    return math.fsum(durations) / len(durations) / ops


def skip_reason(
    cell: Cell,
    benchmarks: Iterable[Entry],
    gaps: Iterable[Gap],
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


def _earlier_gap(key: SeriesKey, size: int, gaps: Iterable[Gap]) -> str | None:
    earlier = []
    for gap in gaps:
        other = series_key(str(gap.workload), str(gap.params), str(gap.model))
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
        f"(the sweep_limits {cell.model.name} declares: sizes that would exhaust the machine)"
    )


def _measured_below(
    key: SeriesKey, size: int, benchmarks: Iterable[Entry]
) -> list[tuple[int, Entry]]:
    """The series' measured sizes below ``size``, ascending."""
    measured = []
    for bench in benchmarks:
        other = series_key(str(bench.workload), str(bench.params), str(bench.model))
        if other is not None and other[0] == key and other[1] < size:
            measured.append((other[1], bench))
    return sorted(measured, key=lambda item: item[0])


def _run_too_long(cell: Cell, measured: list[tuple[int, Entry]], run_limit: float) -> str | None:
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
        f"({format_duration(per_op)} per {operation_word(cell.spec.workload)} at N={at_size:,}), "
        f"above {which}; raise --sweep-run-limit"
    )


def _cell_too_long(size: int, measured: list[tuple[int, Entry]], cell_timeout: float) -> str | None:
    """A cell's whole time (set-up and tear-down of its tasks, every pass) extrapolated
    linearly from the two largest sizes measured: a cell that would time out is not started."""
    timed = [
        (at_size, float(bench.metadata["cell_seconds"]))
        for at_size, bench in measured
        if "cell_seconds" in bench.metadata
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


def _unreached_text(series: Series) -> str:
    return "".join(f"; could not reach N={size:,} ({reason})" for size, reason in series.unreached)


def _memory_line(series: Series, benchmarks: Sequence[Entry]) -> str:
    xs: list[float] = []
    ys: list[float] = []
    for bench in benchmarks:
        found = series_key(str(bench.workload), str(bench.params), str(bench.model))
        if found is None or found[0] != (series.workload, series.fixed, series.model):
            continue
        for run in bench.runs:
            run_meta = bench.run_metadata(run)
            if "memory_delta" in run_meta:
                xs.append(found[1])
                ys.append(float(run_meta["memory_delta"]))
    try:
        fit = fit_line(xs, ys)
    except ValueError as exc:
        return f"no slope: {exc}" + _unreached_text(series)
    return f"slope {slope_text(fit)}" + _unreached_text(series)


def sweep_report(benchmarks: Sequence[Entry], gaps: Sequence[Gap]) -> str:
    """Per series: where each model stops scaling (time per operation more than 2x its best),
    and for memory the bytes per task fitted as the slope of total bytes over N."""
    all_series = sweep_series(*sweep_data(benchmarks, gaps))
    if not all_series:
        return ""
    models = ordered_models((s.model for s in all_series), collect_model_facts(benchmarks, gaps))
    rank = {name: index for index, name in enumerate(models)}
    groups: dict[tuple[str, str], list[Series]] = {}
    for series in all_series:
        groups.setdefault((series.workload, series.fixed), []).append(series)
    lines = [
        f"Scaling sweep: the best time per operation of each model, and the size at which it "
        f"grows more than {SCALING_FACTOR:g}x over it; memory: bytes per task as the slope of the "
        f"total over N (least squares over every run)"
    ]
    order = {name: index for index, name in enumerate(SPECS)}
    for (workload, fixed), members in sorted(groups.items(), key=lambda g: order[g[0][0]]):
        lines.append("")
        lines.append(f"{workload}" + (f" [{fixed}]" if fixed else ""))
        members.sort(key=lambda s: rank[s.model])
        width = max(len(s.model) for s in members)
        for series in members:
            if SPECS[workload].unit == "byte":
                text = _memory_line(series, benchmarks)
            else:
                text = scaling_text(series)
            lines.append(f"  {series.model.ljust(width)}  {text}")
    return "\n".join(lines)
