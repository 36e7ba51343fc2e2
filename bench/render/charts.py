"""Charts of result files: functions that return matplotlib ``Figure`` objects.

Figures are built with ``matplotlib.figure.Figure`` directly, never through pyplot, so no global
state or interactive backend is involved and tests can inspect titles, labels, series and points
without rendering pixels. Every chart has a title, axis labels with units, a legend when it has
several series, and models in the suite's order. Error bars are the min-max range of all values
of a benchmark (always positive, so they work on log axes, and they hide nothing).

With several files, each file is one series: side-by-side bars, or one line style per file.

Besides the means: latency distributions (1 - F on a log axis against latency on a log axis,
so that p99 and p99.9 are as readable as the median), sweep curves (time per operation against
N, log-log, with the sizes a model could not reach and the point where it stops scaling marked)
and the memory slope (total bytes against N with each model's fitted line).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import statistics
import textwrap
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from matplotlib import colormaps, rc_context
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogLocator,
    NullFormatter,
    NullLocator,
)

from bench import units
from bench.analysis import sweep
from bench.analysis.comparison import Comparison
from bench.analysis.findings import (
    SCALING_FACTOR,
    Row,
    fan_out_bound,
    grid,
    memory_fits,
    memory_points,
    model_facts,
    model_order,
    models,
    operation_word,
    overhead_values,
    profile_value,
    rows,
    short_label,
    sweep_label,
    sweeps,
)
from bench.results.schema import Entry, ResultSet
from bench.spec.resolution import RESOLUTION
from bench.spec.workloads import (
    LATENCY_WORKLOADS,
    TIME_SWEEP_WORKLOADS,
    TIMED_WORKLOADS,
    FanOut,
    Memory,
    PingPong,
    ProducerConsumer,
    Spawn,
    workload_facts,
)

TIMES = "\N{MULTIPLICATION SIGN}"
SPREAD = "error bars: min\N{EN DASH}max of all values"
FILE_LINESTYLES = ("-", "--", ":", "-.")
FILE_MARKERS = ("o", "s", "^", "D", "v", "P")
# A significant change is a filled diamond; an insignificant one a hollow circle.
SIGNIFICANT_MARKER = "D"
INSIGNIFICANT_MARKER = "o"
# Ratio ticks: factors on either side of 1, fine ones when every ratio is within 2x.
COARSE_RATIO_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
FINE_RATIO_TICKS = (0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)
# A latency chart shows at most this many parameter sets; the tables list them all.
MAX_LATENCY_PANELS = 6
# A batched latency line (per switch averaged over k rounds) carries markers at these fractions.
BATCHED_MARKER = "s"
BATCHED_MARK_EVERY = 0.1
# The tail levels drawn as reference lines on a latency chart: 1 - F of p50, p99 and p99.9.
TAIL_LEVELS = ((0.5, "p50"), (0.01, "p99"), (0.001, "p99.9"))
UNREACHED_MARKER = "x"
STOP_MARKER = "o"


@dataclass(frozen=True)
class Chart:
    """A figure and what the report says about it; ``name`` is the file stem in DIR."""

    name: str
    title: str
    caption: str
    figure: Figure


# --- units and axes ---------------------------------------------------------------------------


def duration_unit(values: Sequence[float]) -> tuple[str, float]:
    """The unit (and its size in seconds) that puts the median of the values in 1..1000."""
    return units.duration_unit(_median([v for v in values if v > 0] or [1.0]))


def bytes_unit(values: Sequence[float]) -> tuple[str, float]:
    """The unit (and its size in bytes) the median of the values is shown in."""
    return units.bytes_unit(_median([v for v in values if v > 0] or [1.0]))


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def plain_number(value: float) -> str:
    """Tick text of a log axis: 0.01, 1, 100, 10k, 1M."""
    return units.format_count(value)


def size_axis_label(workload: str) -> str:
    """The x axis of a sweep: the workload's size in words ("N tasks (log scale)")."""
    facts = workload_facts(workload)
    return f"{facts.size_label if facts is not None else 'N'} (log scale)"


def _log_axis(ax: Axes, axis: str, values: Sequence[float]) -> None:
    """Log scale spanning whole decades around the values, ticks as plain numbers."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    low = 10 ** math.floor(math.log10(min(positive))) if positive else 0.1
    high = 10 ** math.ceil(math.log10(max(positive))) if positive else 10.0
    if high <= low:
        high = low * 10
    target = ax.yaxis if axis == "y" else ax.xaxis
    if axis == "y":
        ax.set_yscale("log")
        ax.set_ylim(low, high)
    else:
        ax.set_xscale("log")
        ax.set_xlim(low, high)
    target.set_major_locator(LogLocator(base=10))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: plain_number(v)))
    target.set_minor_formatter(NullFormatter())


def paired_color(index: int) -> tuple[float, float, float, float]:
    """Colours in dark/light pairs (tab20): a quantity and its complement share a hue."""
    return colormaps["tab20"](index % 20)


def model_color(model: str, results: Sequence[ResultSet]) -> str:
    """The model's colour, as its cells record it (``ModelFacts.colour``)."""
    return model_facts(results, model).colour


def file_color(index: int) -> str:
    return f"C{index % 10}"


def _spread(entry: Entry, scale: float, invert: bool = False) -> tuple[float, float, float]:
    """(centre, below, above) of the entry in display units; ``invert`` turns seconds per
    operation into operations per second (the slowest value gives the lowest rate)."""
    if invert:
        centre = 1.0 / entry.mean / scale
        low, high = 1.0 / max(entry.values) / scale, 1.0 / min(entry.values) / scale
    else:
        centre = entry.mean / scale
        low, high = min(entry.values) / scale, max(entry.values) / scale
    return centre, max(0.0, centre - low), max(0.0, high - centre)


def _shared_legend(figure: Figure, axes: Iterable[Axes], minimum: int = 2) -> None:
    """One legend beside the panels, each label once (in the order the panels first use it),
    when there are at least ``minimum`` labels."""
    seen: dict[str, Artist] = {}
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        for handle, label in zip(handles, labels, strict=True):
            seen.setdefault(label, handle)
    if len(seen) >= minimum:
        figure.legend(list(seen.values()), list(seen), loc="outside right upper", fontsize="small")


def _legend(figure: Figure, ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if len(labels) > 1:
        figure.legend(handles, labels, loc="outside right upper", fontsize="small")


# --- bars per model ---------------------------------------------------------------------------


def _categories(results: Sequence[ResultSet], workload: str) -> list[tuple[Row, str]]:
    """(row, model) pairs present in any file: models in the suite's order, rows by size."""
    present = {
        (row, model)
        for result in results
        for (row, model), entry in grid(result).items()
        if row.workload == workload and entry.mean > 0
    }
    ordered_rows = rows(results, workload)
    return [
        (row, model)
        for model in model_order((model for _row, model in present), results)
        for row in ordered_rows
        if (row, model) in present
    ]


def model_bars(
    results: Sequence[ResultSet],
    workload: str,
    title: str,
    quantity: str,
    unit_of: Callable[[Sequence[float]], tuple[str, float]],
) -> Figure | None:
    """Bars per model (one per file, side by side) on a log axis, min-max error bars. When a
    workload ran at several sizes, each model/size pair is its own bar group."""
    categories = _categories(results, workload)
    if not categories:
        return None
    cells = [grid(result) for result in results]
    unit, scale = unit_of(
        [e.mean for g in cells for (r, _m), e in g.items() if r.workload == workload]
    )
    several_rows = len({row for row, _model in categories}) > 1
    figure = Figure(
        figsize=(max(6.0, 0.9 * len(categories) * max(1, len(results)) + 2), 4.5),
        layout="constrained",
    )
    ax = figure.add_subplot()
    width = 0.8 / len(results)
    shown: list[float] = []
    for index, (result, file_cells) in enumerate(zip(results, cells, strict=True)):
        xs, heights, below, above, placed = [], [], [], [], set()
        for position, category in enumerate(categories):
            entry = file_cells.get(category)
            if entry is None or entry.mean <= 0:
                continue
            placed.add(position)
            centre, low, high = _spread(entry, scale)
            xs.append(position + (index - (len(results) - 1) / 2) * width)
            heights.append(centre)
            below.append(low)
            above.append(high)
            shown += [centre - low, centre + high]
        # One file: colour by model, as in the line charts; several: colour by file.
        colors = (
            [
                model_color(model, results)
                for position, (_row, model) in enumerate(categories)
                if position in placed
            ]
            if len(results) == 1
            else file_color(index)
        )
        ax.bar(
            xs,
            heights,
            width=width,
            yerr=[below, above],
            capsize=3,
            color=colors,
            label=result.label,
        )
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels(
        [
            f"{model}\n{short_label(row, size_only=True)}" if several_rows else model
            for row, model in categories
        ],
        fontsize="small",
    )
    _log_axis(ax, "y", shown)
    ax.set_xlabel("model")
    ax.set_ylabel(f"{quantity} [{unit}] (log scale)")
    single = rows(results, workload)
    ax.set_title(title if several_rows else f"{title}: {single[0].label}")
    ax.grid(axis="y", which="major", alpha=0.3)
    _legend(figure, ax)
    return figure


def switch_latency(results: Sequence[ResultSet]) -> Figure | None:
    return model_bars(
        results, PingPong.workload, "Switch latency", PingPong.facts.value, duration_unit
    )


def memory_per_task(results: Sequence[ResultSet]) -> Figure | None:
    return model_bars(
        results, Memory.workload, "Memory per parked task", "memory per parked task", bytes_unit
    )


def spawn_cost(results: Sequence[ResultSet]) -> Figure | None:
    return model_bars(
        results,
        Spawn.workload,
        "Spawn cost: create, start and finish one task",
        "time per task",
        duration_unit,
    )


# --- throughput lines -------------------------------------------------------------------------


def _panel_key(row: Row, vary: tuple[str, ...]) -> tuple[tuple[str, object], ...]:
    """The parameters a line must not mix: all but the ones on the x axis."""
    spec = row.spec
    assert spec is not None
    return tuple((k, v) for k, v in spec.__dict__.items() if k not in vary)


def _throughput(
    results: Sequence[ResultSet],
    workload: str,
    *,
    vary: tuple[str, ...],
    x_of: Callable[[Row], float],
    x_label: str,
    x_text: Callable[[Row], str],
    categorical: bool,
    per: str,
    panel_title: Callable[[Row], str],
    title: str,
    point: Callable[[Entry], tuple[float, float, float] | None] | None = None,
    include: Callable[[Row], bool] = lambda row: True,
) -> Figure | None:
    """Lines per model against a size; a point is (centre, below, above) of an entry in display
    units, by default its rate (``point``, None: the entry has no point to draw)."""
    point_of = point or _rate_point
    all_rows = [row for row in rows(results, workload) if include(row)]
    cells = [grid(result) for result in results]
    panels: dict[tuple[tuple[str, object], ...], list[Row]] = {}
    for row in all_rows:
        if any(r == row for g in cells for (r, _m) in g):
            panels.setdefault(_panel_key(row, vary), []).append(row)
    if not panels:
        return None
    columns = min(3, len(panels))
    lines = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(5.0 * columns + 2.5, 4.0 * lines), layout="constrained")
    figure.suptitle(title)
    axes = figure.subplots(lines, columns, squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, unsorted_rows in zip(axes.flat, panels.values(), strict=False):
        panel_rows = sorted(unsorted_rows, key=x_of)
        positions = {row: (i if categorical else x_of(row)) for i, row in enumerate(panel_rows)}
        shown: list[float] = []
        for model in models(results):
            for index, (result, file_cells) in enumerate(zip(results, cells, strict=True)):
                points = [
                    (positions[row], shown_point)
                    for row in panel_rows
                    if (row, model) in file_cells
                    and (shown_point := point_of(file_cells[row, model])) is not None
                ]
                if not points:
                    continue
                label = model if len(results) == 1 else f"{model} ({result.label})"
                ax.errorbar(
                    [x for x, _ in points],
                    [c for _, (c, _l, _h) in points],
                    yerr=[[lo for _, (_c, lo, _h) in points], [hi for _, (_c, _l, hi) in points]],
                    color=model_color(model, results),
                    linestyle=FILE_LINESTYLES[index % len(FILE_LINESTYLES)],
                    marker=FILE_MARKERS[index % len(FILE_MARKERS)],
                    capsize=3,
                    label=label,
                )
                shown += [c - lo for _, (c, lo, _h) in points] + [c + h for _, (c, _l, h) in points]
        ax.set_title(panel_title(panel_rows[0]), fontsize="medium")
        ax.set_xlabel(x_label)
        ax.set_ylabel(f"{per} (log scale)")
        _log_axis(ax, "y", shown)
        if categorical:
            ax.set_xticks(range(len(panel_rows)))
            ax.set_xticklabels([x_text(row) for row in panel_rows])
            ax.set_xlim(-0.5, len(panel_rows) - 0.5)
        else:
            xs = [x_of(row) for row in panel_rows]
            _log_axis(ax, "x", [min(xs) / 2, max(xs) * 2])
        ax.grid(which="major", alpha=0.3)
    _shared_legend(figure, axes.flat)
    return figure


def _rate_point(entry: Entry) -> tuple[float, float, float] | None:
    return _spread(entry, 1.0, invert=True) if entry.mean > 0 else None


def _param(row: Row, name: str) -> object:
    spec = row.spec
    assert spec is not None
    value: object = getattr(spec, name)
    return value


def _int_param(row: Row, name: str) -> int:
    value = _param(row, name)
    assert isinstance(value, int)
    return value


def producer_consumer_throughput(results: Sequence[ResultSet]) -> Figure | None:
    """items/s against producers x consumers; a panel per capacity, item count and work."""

    def x_of(row: Row) -> float:
        producers, consumers = _int_param(row, "producers"), _int_param(row, "consumers")
        return producers * consumers * 1000 + producers  # orders 1x1, 1x4, 4x1, 4x4

    def panel(row: Row) -> str:
        work = "cpu work" if _param(row, "work") == "cpu" else "no work"
        if _param(row, "work") == "cpu":
            work += f" ({_param(row, 'cpu_iterations')} iterations)"
        return f"Q={_param(row, 'capacity')}, M={_param(row, 'items'):,} items, {work}"

    return _throughput(
        results,
        ProducerConsumer.workload,
        vary=ProducerConsumer.facts.size_parameters,
        x_of=x_of,
        x_label=f"concurrency: producers {TIMES} consumers",
        x_text=lambda row: f"{_param(row, 'producers')}{TIMES}{_param(row, 'consumers')}",
        categorical=True,
        per="throughput [items/s]",
        panel_title=panel,
        title="producer_consumer throughput (1 / mean time per item)",
    )


def _fan_out_panel(row: Row) -> str:
    if _param(row, "work") == "sleep":
        return f"each task sleeps {_param(row, 'delay_ms'):g} ms"
    if _param(row, "work") == "echo":
        connection = (
            "a connection per task" if _param(row, "connect") == "each" else "reused connections"
        )
        return (
            f"each task echoes {_param(row, 'request_bytes')} B over TCP,\n"
            f"server delay D={_param(row, 'delay_ms'):g} ms, {connection}"
        )
    return f"each task computes ({_param(row, 'cpu_iterations')} iterations)"


def fan_out_throughput(results: Sequence[ResultSet]) -> Figure | None:
    """tasks/s against N tasks; a panel per kind of work (cpu, sleep, and echo per server
    delay, request size and connection handling)."""
    return _throughput(
        results,
        FanOut.workload,
        vary=FanOut.facts.size_parameters,
        x_of=lambda row: float(_int_param(row, "tasks")),
        x_label="N tasks launched and gathered (log scale)",
        x_text=lambda row: f"{_param(row, 'tasks')}",
        categorical=False,
        per="throughput [tasks/s]",
        panel_title=_fan_out_panel,
        title="fan_out throughput (1 / mean time per task)",
    )


def fan_out_overhead(results: Sequence[ResultSet]) -> Figure | None:
    """What each model adds to the waits, (makespan - ideal makespan) / N, against N tasks; a
    panel per sleep or echo fan-out with a wait to subtract (D > 0). Overheads at or below zero
    cannot be drawn on a log axis and are left out; cpu fan-outs have no ideal."""
    overheads = {
        (row, model, index): values
        for index, result in enumerate(results)
        for (row, model), entry in grid(result).items()
        if row.workload == FanOut.workload
        and (values := overhead_values(entry)) is not None
        and _ideal_positive(entry)
    }
    drawn = [statistics.fmean(values) for values in overheads.values()]
    drawn = [value for value in drawn if value > 0]
    if not drawn:
        return None
    unit, scale = duration_unit(drawn)
    with_ideal = {row for row, _model, _index in overheads}

    def point(entry: Entry) -> tuple[float, float, float] | None:
        values = overhead_values(entry)
        if values is None or statistics.fmean(values) <= 0:
            return None
        centre = statistics.fmean(values) / scale
        low, high = max(min(values) / scale, 0.0), max(values) / scale
        return centre, max(0.0, centre - low), max(0.0, high - centre)

    return _throughput(
        results,
        FanOut.workload,
        vary=FanOut.facts.size_parameters,
        x_of=lambda row: float(_int_param(row, "tasks")),
        x_label="N tasks launched and gathered (log scale)",
        x_text=lambda row: f"{_param(row, 'tasks')}",
        categorical=False,
        per=f"overhead per task [{unit}]",
        panel_title=_fan_out_panel,
        title="fan_out overhead per task: (makespan - ideal makespan) / N",
        point=point,
        include=lambda row: row in with_ideal,
    )


def _ideal_positive(entry: Entry) -> bool:
    bound = fan_out_bound(entry)
    return bound is not None and bool(bound.ideal_per_task)


# --- profile ----------------------------------------------------------------------------------


def _profile_rows(results: Sequence[ResultSet], workload: str) -> list[Row]:
    return [
        row
        for row in rows(results, workload)
        if any(
            r == row and profile_value(e, "cpu_user_per_op") is not None
            for result in results
            for (r, _m), e in grid(result).items()
        )
    ]


def profile(results: Sequence[ResultSet], workload: str) -> Figure | None:
    """Per row: CPU user + system time per operation (stacked, the profile pass's wall time per
    operation as a black tick) and voluntary + involuntary context switches per operation."""
    panel_rows = _profile_rows(results, workload)
    if not panel_rows:
        return None
    cells = [grid(result) for result in results]
    figure = Figure(figsize=(13.0, 3.2 * len(panel_rows) + 0.8), layout="constrained")
    figure.suptitle(f"Profile of {workload}: CPU time and context switches per operation")
    axes = figure.subplots(len(panel_rows), 2, squeeze=False)
    width = 0.8 / len(results)
    for (cpu_ax, ctx_ax), row in zip(axes, panel_rows, strict=True):
        names = [m for m in models(results, row) if any((row, m) in g for g in cells)]
        totals = [
            (profile_value(e, "cpu_user_per_op") or 0.0)
            + (profile_value(e, "cpu_system_per_op") or 0.0)
            for g in cells
            for (r, _m), e in g.items()
            if r == row
        ]
        unit, scale = duration_unit([max(totals, default=0.0)])
        for index, (result, file_cells) in enumerate(zip(results, cells, strict=True)):
            suffix = "" if len(results) == 1 else f" ({result.label})"
            offset = (index - (len(results) - 1) / 2) * width
            xs, user, system, wall, voluntary, involuntary = [], [], [], [], [], []
            for position, model in enumerate(names):
                entry = file_cells.get((row, model))
                if entry is None or profile_value(entry, "cpu_user_per_op") is None:
                    continue
                xs.append(position + offset)
                user.append((profile_value(entry, "cpu_user_per_op") or 0.0) / scale)
                system.append((profile_value(entry, "cpu_system_per_op") or 0.0) / scale)
                wall.append((profile_value(entry, "profile_wall_per_op") or math.nan) / scale)
                voluntary.append(profile_value(entry, "ctx_voluntary_per_op") or 0.0)
                involuntary.append(profile_value(entry, "ctx_involuntary_per_op") or 0.0)
            user_color, system_color, voluntary_color, involuntary_color = (
                paired_color(4 * index + k) for k in range(4)
            )
            cpu_ax.bar(xs, user, width, color=user_color, label=f"user CPU{suffix}")
            top = cpu_ax.bar(
                xs, system, width, bottom=user, color=system_color, label=f"system CPU{suffix}"
            )
            cpu_ax.bar_label(
                top,
                labels=_bar_texts([u + s for u, s in zip(user, system, strict=True)]),
                fontsize="x-small",
                padding=1,
            )
            if any(math.isfinite(w) for w in wall):
                cpu_ax.plot(
                    xs,
                    wall,
                    linestyle="none",
                    marker="_",
                    markersize=18,
                    markeredgewidth=2,
                    color="black",
                    label="wall time (profile pass)" if index == 0 else None,
                )
            ctx_ax.bar(
                xs, voluntary, width, color=voluntary_color, label=f"voluntary switches{suffix}"
            )
            top = ctx_ax.bar(
                xs,
                involuntary,
                width,
                bottom=voluntary,
                color=involuntary_color,
                label=f"involuntary switches{suffix}",
            )
            ctx_ax.bar_label(
                top,
                labels=_bar_texts([v + i for v, i in zip(voluntary, involuntary, strict=True)]),
                fontsize="x-small",
                padding=1,
            )
        for ax in (cpu_ax, ctx_ax):
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, fontsize="small")
            ax.set_xlabel("model")
            ax.margins(y=0.15)
            ax.grid(axis="y", alpha=0.3)
        where = short_label(row, size_only=True)
        cpu_ax.set_title(f"{where}: CPU time per operation", fontsize="medium")
        cpu_ax.set_ylabel(f"CPU time per op [{unit}]")
        ctx_ax.set_title(f"{where}: context switches per operation", fontsize="medium")
        ctx_ax.set_ylabel("context switches per op [count]")
    handles, labels = [], []
    for ax in axes[0]:
        # Bars first, then the wall-time ticks: the order in which the eye reads a bar.
        pairs = sorted(
            zip(*ax.get_legend_handles_labels(), strict=True),
            key=lambda pair: not isinstance(pair[0], BarContainer),
        )
        for handle, label in pairs:
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    figure.legend(handles, labels, loc="outside lower center", fontsize="small", ncols=5)
    return figure


def _short(value: float) -> str:
    return "0" if value == 0 else f"{value:.3g}"


def _bar_texts(totals: Sequence[float]) -> list[str]:
    """Totals above the bars; those under 1% of the tallest are left to the tables, where
    their long digits cannot overlap a neighbour's."""
    tallest = max(totals, default=0.0)
    return [_short(t) if t == 0 or t >= 0.01 * tallest else "" for t in totals]


# --- latency distributions --------------------------------------------------------------------


# Characters of a title that fit over one panel at the medium font size; a longer one would run
# under the legend beside the panel.
PANEL_TITLE_WIDTH = 48


def _fit_title(title: str) -> str:
    return "\n".join(textwrap.wrap(title, PANEL_TITLE_WIDTH)) or title


def _panel_titles(figure: Figure, axes: Sequence[Axes], title: str, panels: Sequence[str]) -> None:
    """A figure title over several panels; with one panel, both in its own title, where the
    legend beside it cannot cover a figure title."""
    if len(panels) == 1:
        axes[0].set_title(f"{_fit_title(title)}\n{panels[0]}", fontsize="medium")
        return
    figure.suptitle(title)
    for ax, panel in zip(axes, panels, strict=False):
        ax.set_title(panel, fontsize="medium")


def _latency_rows(results: Sequence[ResultSet], workload: str) -> list[Row]:
    return [
        row
        for row in rows(results, workload)
        if any(
            r == row and e.latency is not None and e.latency.quantiles
            for result in results
            for (r, _m), e in grid(result).items()
        )
    ]


def latency_cdf(results: Sequence[ResultSet], workload: str) -> Figure | None:
    """Per parameter set, the fraction of samples slower than each latency (1 - F of the
    latency pass's pooled quantiles), log-log: one line per model, a line style per file."""
    panel_rows = _latency_rows(results, workload)[:MAX_LATENCY_PANELS]
    if not panel_rows:
        return None
    cells = [grid(result) for result in results]
    records = [
        entry.latency
        for file_cells in cells
        for (row, _model), entry in file_cells.items()
        if row in panel_rows and entry.latency is not None
    ]
    unit, scale = duration_unit([record.p50 for record in records if record.p50 is not None])
    what = records[0].what.split(":", 1)[0].strip()
    facts = workload_facts(workload)
    noun = facts.operations if facts is not None else "samples"
    columns = min(3, len(panel_rows))
    lines_count = math.ceil(len(panel_rows) / columns)
    figure = Figure(figsize=(5.0 * columns + 2.5, 4.0 * lines_count), layout="constrained")
    axes = figure.subplots(lines_count, columns, squeeze=False)
    for ax in axes.flat[len(panel_rows) :]:
        ax.set_visible(False)
    for ax, row in zip(axes.flat, panel_rows, strict=False):
        shown: list[float] = []
        tails: list[float] = []
        for model in models(results, row):
            for index, (result, file_cells) in enumerate(zip(results, cells, strict=True)):
                entry = file_cells.get((row, model))
                if entry is None or entry.latency is None:
                    continue
                # q = 1 (the maximum) has nothing above it: 1 - F = 0 has no place on a log axis,
                # nor has a latency <= 0 (a sample below the timer's cost).
                points = [
                    (value / scale, round(1.0 - q, 9))
                    for q, value in entry.latency.quantiles
                    if q < 1.0 and value > 0
                ]
                if not points:
                    continue
                label = model if len(results) == 1 else f"{model} ({result.label})"
                batch = entry.latency.batch
                # A batched line is per switch averaged over k rounds: marked, and named so.
                ax.plot(
                    [x for x, _ in points],
                    [y for _, y in points],
                    color=model_color(model, results),
                    linestyle=FILE_LINESTYLES[index % len(FILE_LINESTYLES)],
                    label=label + (f" (k={batch})" if batch > 1 else ""),
                    marker=BATCHED_MARKER if batch > 1 else "",
                    markevery=BATCHED_MARK_EVERY,
                    markersize=4,
                )
                shown += [x for x, _ in points]
                tails += [y for _, y in points]
        _log_axis(ax, "x", shown)
        _log_axis(ax, "y", tails)
        for level, name in TAIL_LEVELS:
            ax.axhline(level, color="grey", linewidth=0.8, linestyle=":")
            ax.annotate(
                name,
                (1.0, level),
                xycoords=("axes fraction", "data"),
                xytext=(-2, 2),
                textcoords="offset points",
                ha="right",
                fontsize="x-small",
                color="grey",
            )
        ax.set_xlabel(f"latency [{unit}] (log scale)")
        ax.set_ylabel(f"fraction of {noun} slower (1 \N{MINUS SIGN} F, log scale)")
        ax.grid(which="major", alpha=0.3)
    _panel_titles(
        figure,
        list(axes.flat),
        f"Latency of {workload} ({what}): the tail of the distribution",
        [short_label(row, size_only=True) for row in panel_rows],
    )
    _shared_legend(figure, axes.flat)
    return figure


def latency_resolution_note(results: Sequence[ResultSet], workload: str) -> str:
    """What the caption says of batched lines and of the cells the timer cannot resolve."""
    records = [
        (row, model, result.label, entry.latency)
        for result in results
        for (row, model), entry in grid(result).items()
        if row.workload == workload and entry.latency is not None
    ]
    note = ""
    if any(record.batch > 1 for *_where, record in records):
        note += (
            f" A line marked (k=N) is a {workload} stamped every N rounds: per switch, averaged "
            "over a batch of N rounds."
        )
    unresolved = [
        f"{short_label(row, size_only=True)} {model}" + (f" ({label})" if len(results) > 1 else "")
        for row, model, label, record in records
        if not record.resolved
    ]
    if unresolved:
        note += (
            f" Below timer resolution (k {TIMES} the median sample under {RESOLUTION:g} "
            f"{TIMES} the timer's cost), not drawn: " + ", ".join(unresolved) + "."
        )
    return note


def latency_panel_note(results: Sequence[ResultSet], workload: str) -> str:
    total = len(_latency_rows(results, workload))
    if total <= MAX_LATENCY_PANELS:
        return ""
    return (
        f" The first {MAX_LATENCY_PANELS} of {total} parameter sets are drawn; the latency "
        "table lists them all."
    )


# --- sweeps -----------------------------------------------------------------------------------


def sweep_curves(results: Sequence[ResultSet], workload: str) -> Figure | None:
    """Time per operation against N, log-log, a panel per set of fixed parameters, one line per
    model (a line style per file); sizes a model could not reach are crosses on the top edge,
    and the point where it stops scaling is circled."""
    per_file = [[s for s in sweeps(result) if s.workload == workload] for result in results]
    fixed_sets = list(dict.fromkeys(s.fixed for file_series in per_file for s in file_series))
    if not fixed_sets:
        return None
    values = [v for file_series in per_file for s in file_series for v in s.values]
    unit, scale = duration_unit(values)
    columns = min(3, len(fixed_sets))
    lines_count = math.ceil(len(fixed_sets) / columns)
    figure = Figure(figsize=(5.0 * columns + 2.5, 4.0 * lines_count), layout="constrained")
    per = operation_word(workload)
    axes = figure.subplots(lines_count, columns, squeeze=False)
    for ax in axes.flat[len(fixed_sets) :]:
        ax.set_visible(False)
    for ax, fixed in zip(axes.flat, fixed_sets, strict=False):
        panel = [
            (index, result, s)
            for index, (result, file_series) in enumerate(zip(results, per_file, strict=True))
            for s in file_series
            if s.fixed == fixed
        ]
        order = model_order((s.model for _i, _r, s in panel), results)
        panel.sort(key=lambda item: (order.index(item[2].model), item[0]))
        shown = [v / scale for _i, _r, s in panel for v in s.values]
        _log_axis(ax, "y", shown)
        top = ax.get_ylim()[1]
        sizes: list[float] = []
        for index, result, series in panel:
            label = series.model if len(results) == 1 else f"{series.model} ({result.label})"
            color = model_color(series.model, results)
            ax.plot(
                list(series.sizes),
                [v / scale for v in series.values],
                color=color,
                linestyle=FILE_LINESTYLES[index % len(FILE_LINESTYLES)],
                marker=FILE_MARKERS[index % len(FILE_MARKERS)],
                label=label,
            )
            sizes += [*series.sizes, *(size for size, _reason in series.unreached)]
            fit = sweep.scaling(series, SCALING_FACTOR)
            if fit.stops_at is not None:
                at = series.values[series.sizes.index(fit.stops_at)] / scale
                ax.plot(
                    [fit.stops_at],
                    [at],
                    linestyle="none",
                    marker=STOP_MARKER,
                    markersize=14,
                    markerfacecolor="none",
                    markeredgecolor="black",
                    label=f"stops scaling (> {SCALING_FACTOR:g}{TIMES} its best)",
                )
            if series.unreached:
                ax.plot(
                    [size for size, _reason in series.unreached],
                    [top] * len(series.unreached),
                    linestyle="none",
                    marker=UNREACHED_MARKER,
                    markersize=10,
                    markeredgewidth=2,
                    color=color,
                    clip_on=False,
                )
                # The legend's entry in black: the cross takes the colour of its model.
                ax.plot(
                    [],
                    [],
                    linestyle="none",
                    marker=UNREACHED_MARKER,
                    markersize=10,
                    markeredgewidth=2,
                    color="black",
                    label="size not reached (reason in the Sweeps table)",
                )
        _log_axis(ax, "x", [min(sizes) / 2, max(sizes) * 2])
        ax.set_ylim(top=top)
        ax.set_xlabel(size_axis_label(workload))
        ax.set_ylabel(f"time per {per} [{unit}] (log scale)")
        ax.grid(which="major", alpha=0.3)
    _panel_titles(
        figure,
        list(axes.flat),
        f"{workload} sweep: time per {per} against N",
        [_sweep_panel_title(per_file, fixed, workload) for fixed in fixed_sets],
    )
    _shared_legend(figure, axes.flat, minimum=1)
    return figure


def _sweep_panel_title(
    per_file: Sequence[Sequence[sweep.Series]], fixed: str, workload: str
) -> str:
    first = next(s for file_series in per_file for s in file_series if s.fixed == fixed)
    return sweep_label(first).removeprefix(workload).strip() or fixed or workload


def memory_slope(results: Sequence[ResultSet]) -> Figure | None:
    """Total bytes of the parked tasks against N for every run, log-log, with each model's
    least-squares line; the legend gives the slope (bytes per task) and R²."""
    fits = [memory_fits(result) for result in results]
    if not any(fits):
        return None
    cells = [grid(result) for result in results]
    points: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for index, file_cells in enumerate(cells):
        for (row, model), entry in file_cells.items():
            if row.workload == Memory.workload:
                points.setdefault((index, model), []).extend(memory_points(entry))
    totals = [y for file_fits in fits for item in file_fits for y in _fitted_ys(item.fit)]
    unit, scale = bytes_unit(totals)
    figure = Figure(figsize=(8.5, 5.0), layout="constrained")
    ax = figure.add_subplot()
    shown_x: list[float] = []
    shown_y: list[float] = []
    for index, (result, file_fits) in enumerate(zip(results, fits, strict=True)):
        # memory_fits already gives the models in the suite's order.
        for item in file_fits:
            fit = item.fit
            color = model_color(item.model, results)
            suffix = "" if len(results) == 1 else f" ({result.label})"
            measured = [(x, y) for x, y in points.get((index, item.model), []) if y > 0]
            ax.plot(
                [x for x, _ in measured],
                [y / scale for _, y in measured],
                linestyle="none",
                marker=FILE_MARKERS[index % len(FILE_MARKERS)],
                color=color,
                alpha=0.7,
                label=f"{item.model}{suffix}: runs",
            )
            line_x = _geometric_range(min(fit.sizes), max(fit.sizes))
            line = [(x, fit.intercept + fit.slope * x) for x in line_x]
            line = [(x, y) for x, y in line if y > 0]
            ax.plot(
                [x for x, _ in line],
                [y / scale for _, y in line],
                color=color,
                linestyle=FILE_LINESTYLES[index % len(FILE_LINESTYLES)],
                label=f"{item.model}{suffix}: {units.format_bytes(fit.slope)} per task "
                f"(R\N{SUPERSCRIPT TWO} = {fit.r_squared:.3f})",
            )
            shown_x += [x for x, _ in measured] + [x for x, _ in line]
            shown_y += [y / scale for _, y in measured] + [y / scale for _, y in line]
    _log_axis(ax, "x", [min(shown_x) / 2, max(shown_x) * 2] if shown_x else [])
    _log_axis(ax, "y", shown_y)
    ax.set_xlabel("N parked tasks (log scale)")
    ax.set_ylabel(f"memory of all parked tasks [{unit}] (log scale)")
    ax.set_title(_fit_title("Memory against N: the slope is the memory per parked task"))
    ax.grid(which="major", alpha=0.3)
    figure.legend(loc="outside right upper", fontsize="small")
    return figure


def _fitted_ys(fit: sweep.SlopeFit) -> list[float]:
    return [fit.intercept + fit.slope * size for size in fit.sizes]


def _geometric_range(low: float, high: float, count: int = 50) -> list[float]:
    ratio = (high / low) ** (1 / (count - 1))
    return [low * ratio**i for i in range(count)]


# --- ratios -----------------------------------------------------------------------------------


def ratios(comparison: Comparison) -> Figure | None:
    """Per benchmark, new mean / base mean for every other file on a log axis centred at 1;
    significant changes are filled diamonds, the others hollow circles; bars are the bootstrap
    confidence interval of the ratio."""
    measured = [
        row
        for row in comparison.rows
        if any(change is not None and change.ratio is not None for change in row.changes)
    ]
    if not measured:
        return None
    base = comparison.base.label
    figure = Figure(figsize=(10.0, 0.24 * len(measured) + 2.2), layout="constrained")
    ax = figure.add_subplot()
    positions = {row.key: len(measured) - 1 - i for i, row in enumerate(measured)}
    extremes = [1.0]
    count = len(comparison.files) - 1
    for index, label in enumerate(comparison.labels[1:]):
        offset = (index - (count - 1) / 2) * 0.25 if count > 1 else 0.0
        for significant in (True, False):
            xs, ys, below, above = [], [], [], []
            for row in measured:
                change = row.changes[index]
                if change is None or change.ratio is None or change.significant != significant:
                    continue
                low, high = change.ci if change.ci else (change.ratio, change.ratio)
                xs.append(change.ratio)
                ys.append(positions[row.key] + offset)
                below.append(max(0.0, change.ratio - low))
                above.append(max(0.0, high - change.ratio))
                extremes += [change.ratio, low, high]
            if not xs:
                continue
            word = (
                f"significant (p < {comparison.options.alpha:g})"
                if significant
                else ("not significant")
            )
            color = file_color(index + 1)
            ax.errorbar(
                xs,
                ys,
                xerr=[below, above],
                linestyle="none",
                marker=SIGNIFICANT_MARKER if significant else INSIGNIFICANT_MARKER,
                markerfacecolor=color if significant else "white",
                color=color,
                ecolor=color,
                elinewidth=1,
                capsize=2,
                label=f"{label} / {base}: {word}",
            )
    reach = max(abs(math.log10(x)) for x in extremes if x > 0)
    reach = max(reach * 1.15, math.log10(1.1))
    ax.set_xscale("log")
    ax.set_xlim(10**-reach, 10**reach)
    # Fixed ticks that read as factors on either side of 1, however narrow the range.
    candidates = FINE_RATIO_TICKS if 10**reach <= 2.2 else COARSE_RATIO_TICKS
    ticks = [t for t in candidates if 10**-reach <= t <= 10**reach]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}{TIMES}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(range(len(measured)))
    ax.set_yticklabels([_ratio_label(row) for row in reversed(measured)], fontsize="x-small")
    ax.set_ylim(-0.7, len(measured) - 0.3)
    ax.set_xlabel(f"mean of file / mean of {base} (log scale; below 1 = less time or memory)")
    ax.set_ylabel("benchmark")
    ax.set_title(f"Ratios against the first file ({base}), 95% bootstrap intervals")
    ax.grid(axis="x", which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside upper center", fontsize="small", ncols=2)
    return figure


def _ratio_label(row: object) -> str:
    workload = getattr(row, "workload", None)
    params = getattr(row, "params", None)
    model = getattr(row, "model", None)
    if workload and params and model:
        overhead = " [overhead]" if getattr(row, "judged_on_overhead", False) else ""
        return f"{short_label(Row(workload, params))} / {model}{overhead}"
    return str(getattr(row, "name", ""))


# --- all charts -------------------------------------------------------------------------------


def build(results: Sequence[ResultSet], comparison: Comparison | None) -> list[Chart]:
    """Every chart the data supports, in the order the report shows them."""
    several = len(results) > 1
    side = "; one bar per file" if several else ""
    charts: list[Chart] = []

    def add(name: str, title: str, caption: str, figure: Figure | None) -> None:
        if figure is not None:
            charts.append(Chart(name, title, caption, figure))

    add(
        "switch_latency",
        "Switch latency per model",
        f"pingpong: mean time per one-way switch, log scale; {SPREAD}{side}.",
        switch_latency(results),
    )
    add(
        "throughput_producer_consumer",
        "producer_consumer throughput",
        "Items per second (1 / mean time per item) against producers "
        f"{TIMES} consumers, one line per model, one panel per capacity, item count and work; "
        "log scale; error bars: the rates "
        "of the slowest and fastest values.",
        producer_consumer_throughput(results),
    )
    add(
        "throughput_fan_out",
        "fan_out throughput",
        "Tasks per second (1 / mean time per task) against the number of tasks, one line per "
        "model, one panel per kind of work (cpu, sleep, and echo per server delay D, request "
        "size and connection handling); log scales; error bars: the rates of the slowest and "
        "fastest values.",
        fan_out_throughput(results),
    )
    add(
        "overhead_fan_out",
        "fan_out overhead per task",
        "What each model adds to the waits the spec prescribes: (makespan - ideal makespan) / "
        "N against the number of tasks, one line per model, one panel per sleep or echo "
        "fan-out with D > 0; the ideal is D when all tasks wait at once, ceil(N / W) x D for W "
        "workers, N x D one at a time (cpu work has no model-independent bound and is not "
        "drawn); log scales; error bars: the overheads of the slowest and fastest values; an "
        "overhead at or below zero is not drawn.",
        fan_out_overhead(results),
    )
    add(
        "memory_per_task",
        "Memory per parked task",
        f"memory: bytes each parked task adds, log scale; {SPREAD}{side}. "
        "Thread and process models park 100 tasks, the lightweight ones 10,000.",
        memory_per_task(results),
    )
    add(
        "spawn_cost",
        "Spawn cost per model",
        f"spawn: mean time to create, start and finish one task, log scale; {SPREAD}{side}.",
        spawn_cost(results),
    )
    for workload in LATENCY_WORKLOADS:
        add(
            f"latency_{workload}",
            f"Latency distribution of {workload}",
            "From the latency pass: the fraction of samples slower than each latency "
            f"(1 {chr(0x2212)} F of the quantiles pooled over the pass's runs), log scales, so "
            "the p99 and p99.9 levels (dotted) are as readable as the median; one line per "
            "model, one panel per parameter set"
            + ("; one line style per file" if several else "")
            + ". Samples at or below zero (below the timer's cost) and the maximum are not drawn."
            + latency_resolution_note(results, workload)
            + latency_panel_note(results, workload),
            latency_cdf(results, workload),
        )
    for workload in TIME_SWEEP_WORKLOADS:
        add(
            f"sweep_{workload}",
            f"{workload} sweep",
            f"Mean time per {operation_word(workload)} against N, log-log, one line per model, "
            "one panel per set of fixed parameters"
            + ("; one line style per file" if several else "")
            + ". Crosses on the top edge: sizes a model could not reach (the reasons are in the "
            f"Sweeps table); circles: where it stops scaling (more than {SCALING_FACTOR:g}"
            f"{TIMES} its best time per {operation_word(workload)}).",
            sweep_curves(results, workload),
        )
    add(
        "memory_slope",
        "Memory against N",
        "memory: total bytes of all parked tasks in every run against N, log-log, with each "
        "model's least-squares line; its slope, in the legend, is the memory per parked task "
        "without the fixed overhead (R\N{SUPERSCRIPT TWO}: how well a line fits). Runs whose "
        "total is not positive cannot be drawn on a log axis but are in the fit.",
        memory_slope(results),
    )
    for workload in TIMED_WORKLOADS:
        add(
            f"profile_{workload}",
            f"Profile of {workload}",
            "From the profile pass: user and system CPU time of the whole process tree per "
            "operation (stacked; the black tick is the wall time per operation of the same pass) "
            "and voluntary and involuntary context switches per operation (stacked); linear "
            "scales, totals above the bars.",
            profile(results, workload),
        )
    if comparison is not None:
        add(
            "ratios",
            "Ratios against the first file",
            "Per benchmark, mean of each file / mean of the first file on a log axis centred at "
            "1 (below 1: less time or memory). Filled diamonds: significant "
            "(Mann\N{EN DASH}Whitney U); hollow circles: not significant or not testable. "
            "Bars: 95% bootstrap confidence interval of the ratio.",
            ratios(comparison),
        )
    return charts


def save(chart: Chart, directory: Path) -> Path:
    """Write DIR/<name>.png and DIR/<name>.svg; returns the PNG's path."""
    png = directory / f"{chart.name}.png"
    # Lay the figure out once, then keep that layout for both formats: constrained layout is
    # most of the drawing time, and both files then show the same arrangement.
    chart.figure.draw_without_rendering()
    chart.figure.set_layout_engine("none")
    chart.figure.savefig(png, format="png", dpi=110, metadata={"Software": None})
    # Text as SVG text, not glyph outlines: several times faster, smaller and searchable.
    with rc_context({"svg.fonttype": "none"}):
        chart.figure.savefig(directory / f"{chart.name}.svg", format="svg", metadata={"Date": None})
    return png


# Charts a forked worker saves: workers inherit the built figures instead of unpickling them
# (a figure with formatter functions cannot be pickled).
_PENDING: list[tuple[Chart, Path]] = []


def _save_pending(index: int) -> Path:
    chart, directory = _PENDING[index]
    return save(chart, directory)


def save_all(built: Sequence[Chart], directory: Path) -> list[Path]:
    """Save every chart, in parallel where processes can be forked: drawing text is most of a
    report's time and every chart is independent. Returns the PNG paths in chart order."""
    global _PENDING
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(len(built), cpus or 1)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [save(chart, directory) for chart in built]
    _PENDING = [(chart, directory) for chart in built]
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            return list(pool.map(_save_pending, range(len(built))))
    finally:
        _PENDING = []
