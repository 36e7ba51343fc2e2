"""What a report says, computed from loaded result files: its tables and its "what the numbers
say" statements. Pure functions of the data, no rendering; the HTML and Markdown pages and the
charts all read the same rows, models and values from here.

A statement is made only when the data supports it: a model that is missing, a value that is not
positive, or a row with a single model simply gives no statement, never a NaN.

Besides the means: the latency pass's percentiles (a table and the tail per parameter set),
sweeps (a workload at three or more sizes with every other parameter fixed: where each model
stops scaling, which sizes it could not reach and why, through ``bench.analysis.sweep``) and the
memory
slope (bytes per task fitted over the runs of a model's memory cells at several N).

A sleep or echo fan-out that records its ideal makespan (``bench.results.schema.recorded_bound``) is
ranked on its overhead per task, (makespan - ideal) / N: what the model adds to the waits the
spec prescribes, which "what does the model cost" asks for. The means table keeps the makespan
per task beside it; a cpu fan-out, which has no model-independent bound, and files from before
bounds were recorded keep the makespan only.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bench.analysis import comparison, sweep
from bench.results import gil
from bench.results.schema import (
    ENVIRONMENT_KEYS,
    Entry,
    LatencyRecord,
    Missing,
    ModelFacts,
    Point,
    RecordedBound,
    ResultSet,
    model_facts_of,
    ordered_models,
    recorded_bound,
    sweep_data,
)
from bench.spec.models import is_gil_on_twin
from bench.spec.resolution import BELOW_RESOLUTION, RESOLUTION
from bench.spec.workloads import (
    LATENCY_WORKLOADS,
    SPECS,
    TIME_SWEEP_WORKLOADS,
    TIMED_WORKLOADS,
    FanOut,
    Memory,
    PingPong,
    Spawn,
    Spec,
    SpecError,
    workload_facts,
)
from bench.units import format_bytes, format_duration

MISSING = "·"
OVERHEAD_LABEL = "overhead per task"
TIMES = "\N{MULTIPLICATION SIGN}"
# A sweep is a workload at this many sizes or more (counting unreached ones) with every other
# parameter fixed; the default matrix's two sizes of fan_out are not one, and its throughput
# chart already shows them.
SWEEP_MIN_SIZES = 3
SCALING_FACTOR = 2.0


@dataclass(frozen=True)
class Row:
    """One workload and parameter set: a row of the tables, a panel or point of the charts."""

    workload: str
    params: str

    @property
    def spec(self) -> Spec | None:
        return spec_of(self.workload, self.params)

    @property
    def label(self) -> str:
        return short_label(self)

    @property
    def anchor(self) -> str:
        return slug(self.label)


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    anchor: str
    note: str = ""


@dataclass(frozen=True)
class Finding:
    """One statement; ``topic`` groups statements (switch, memory, spawn, winner, ...)."""

    topic: str
    text: str


@dataclass(frozen=True)
class FindingGroup:
    title: str
    findings: tuple[Finding, ...]


@lru_cache(maxsize=1024)
def spec_of(workload: str, params: str) -> Spec | None:
    """The spec a suite benchmark ran, None when this version of the suite cannot rebuild it."""
    spec_class = SPECS.get(workload)
    if spec_class is None:
        return None
    try:
        return spec_class.from_params(params)
    except SpecError:
        return None


def short_label(row: Row, size_only: bool = False) -> str:
    """ "producer_consumer P=1 C=1 Q=64 M=4000 no work", or only the parameters."""
    spec = row.spec
    params = spec.short_params() if spec else row.params
    return params if size_only else f"{row.workload} {params}"


def slug(text: str) -> str:
    kept = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(filter(None, kept.split("-")))


def model_facts(results: Sequence[ResultSet], model: str) -> ModelFacts:
    """A model's facts as the files record them (the first file's), else from its name."""
    return model_facts_of(results).get(model) or ModelFacts.for_name(model)


def model_order(models: Iterable[str], results: Sequence[ResultSet]) -> list[str]:
    """The distinct ``models`` in the order their cells record (``ModelFacts.order``)."""
    return ordered_models(models, model_facts_of(results))


def model_colours(models: Iterable[str], results: Sequence[ResultSet]) -> dict[str, str]:
    """Each model's colour in tables and charts, as its cells record it."""
    return {model: model_facts(results, model).colour for model in models}


def baseline_of(cells: Mapping[str, Entry]) -> str | None:
    """The serial baseline among a row's cells, None when the row has none."""
    return next((model for model, entry in cells.items() if entry.model_facts.baseline), None)


def row_of(entry: Entry) -> Row | None:
    """The entry's row, None for a foreign benchmark or one whose spec cannot be rebuilt."""
    if entry.workload is None or entry.params is None or entry.model is None:
        return None
    if spec_of(entry.workload, entry.params) is None:
        return None
    return Row(entry.workload, entry.params)


def suite_entries(result: ResultSet) -> list[Entry]:
    return [entry for entry in result.entries if row_of(entry) is not None]


def foreign_entries(result: ResultSet) -> list[Entry]:
    return [entry for entry in result.entries if row_of(entry) is None]


def rows(results: Sequence[ResultSet], workload: str | None = None) -> list[Row]:
    """Rows of all files: workloads in the suite's order, parameter sets in file order."""
    found: list[Row] = []
    for result in results:
        for entry in result.entries:
            row = row_of(entry)
            if row is not None and row not in found:
                found.append(row)
        for gap in result.gaps:
            if gap.workload and gap.params and spec_of(gap.workload, gap.params):
                row = Row(gap.workload, gap.params)
                if row not in found:
                    found.append(row)
    order = {name: index for index, name in enumerate(SPECS)}
    found.sort(key=lambda row: order[row.workload])
    return [row for row in found if workload is None or row.workload == workload]


def grid(result: ResultSet) -> dict[tuple[Row, str], Entry]:
    """The file's suite entries by row and model."""
    cells = {}
    for entry in result.entries:
        row = row_of(entry)
        if row is not None and entry.model is not None:
            cells[row, entry.model] = entry
    return cells


def models(results: Sequence[ResultSet], row: Row | None = None) -> list[str]:
    names = []
    for result in results:
        for (entry_row, model), _entry in grid(result).items():
            if row is None or entry_row == row:
                names.append(model)
        for gap in result.gaps:
            if gap.model and (row is None or Row(str(gap.workload), str(gap.params)) == row):
                names.append(gap.model)
    return model_order(names, results)


# --- numbers in words -------------------------------------------------------------------------


def unit_word(workload: str) -> str:
    """What one value of the workload is, as the tables and statements show it (a throughput
    as its rate)."""
    facts = workload_facts(workload)
    if facts is None:
        return "value"
    return facts.rate_unit if facts.throughput else facts.value


def show_value(workload: str | None, unit: str, per_op: float) -> str:
    """A per-operation value in human units (a throughput as a rate, ``Spec.show``)."""
    spec_class = SPECS.get(workload) if workload else None
    if spec_class is not None and spec_class.unit == unit:
        return spec_class.show(per_op)
    if unit == "byte":
        return format_bytes(per_op)
    if unit == "second":
        return format_duration(per_op)
    return f"{per_op:.4g} {unit}"


def show_entry(entry: Entry) -> str:
    return show_value(entry.workload, entry.unit, entry.mean)


def spread_percent(entry: Entry) -> str:
    if len(entry.values) < 2 or entry.mean <= 0:
        return ""
    return f" ±{100 * entry.stdev / entry.mean:.0f}%"


def times(ratio: float) -> str:
    """A ratio as 74, 7.0 or 1.25 times: three significant digits at most, two at least."""
    if ratio >= 10:
        return f"{ratio:,.0f}{TIMES}"
    if ratio >= 2:
        return f"{ratio:.1f}{TIMES}"
    return f"{ratio:.2f}{TIMES}"


def count_text(value: float) -> str:
    return "0" if value == 0 else f"{value:.3g}"


def profile_value(entry: Entry, key: str) -> float | None:
    value = entry.metadata.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def has_profile(entry: Entry) -> bool:
    return profile_value(entry, "cpu_user_per_op") is not None


# --- tables -----------------------------------------------------------------------------------


def _row_cells(
    results: Sequence[ResultSet],
    *,
    title: str,
    anchor: str,
    cell_text: Callable[[Entry], str],
    include: Callable[[Row], bool],
    note: str,
    gap_text: bool,
) -> Table | None:
    several = len(results) > 1
    table_rows = rows(results)
    names = models(results)
    header = ("cell", *(("file",) if several else ()), *names)
    body = []
    for row in table_rows:
        if not include(row):
            continue
        for result in results:
            cells = grid(result)
            gaps = {
                g.model: g.status.upper() if g.status == "failed" else g.status
                for g in result.gaps
                if g.workload == row.workload and g.params == row.params and g.model
            }
            texts = []
            for model in names:
                entry = cells.get((row, model))
                if entry is not None:
                    texts.append(cell_text(entry))
                else:
                    texts.append(gaps.get(model, MISSING) if gap_text else MISSING)
            if all(text == MISSING for text in texts):
                continue
            body.append((row.label, *((result.label,) if several else ()), *texts))
    if not body:
        return None
    return Table(title, header, tuple(body), anchor, note)


def means_table(results: Sequence[ResultSet]) -> Table | None:
    def text(entry: Entry) -> str:
        overhead = overhead_mean(entry) if _waits(entry) else None
        adds = "" if overhead is None else f"; adds {overhead_text(overhead)}"
        return show_entry(entry) + spread_percent(entry) + adds

    note = (
        "Mean of all values of each benchmark; ± is the standard deviation as a percentage of "
        "the mean. pingpong: time per one-way switch; producer_consumer: items per second; "
        "fan_out: makespan per task, and for sleep and echo what the model adds to the waits "
        "(adds: (makespan - ideal makespan) / N; the ideal is D when all tasks wait at once, "
        "ceil(N / W) x D for W workers, N x D one at a time; cpu work has no model-independent "
        "bound, so no overhead); spawn: time per task; memory: bytes per parked task. "
        f"{MISSING} = not measured; FAILED and skipped cells are listed under Gaps."
    )
    return _row_cells(
        results,
        title="Mean of all values",
        anchor="means",
        cell_text=text,
        include=lambda row: True,
        note=note,
        gap_text=True,
    )


def _profile_table(
    results: Sequence[ResultSet],
    parts: tuple[tuple[str, str], tuple[str, str]],
    fmt: Callable[[float], str],
    *,
    title: str,
    anchor: str,
    note: str,
) -> Table | None:
    """A table of one profile quantity made of two parts (``(metadata key, label)`` each),
    shown as the total with its parts."""
    (first_key, first_label), (second_key, second_label) = parts

    def text(entry: Entry) -> str:
        first = profile_value(entry, first_key)
        second = profile_value(entry, second_key)
        if first is None or second is None:
            return MISSING
        return f"{fmt(first + second)} ({fmt(first)} {first_label} + {fmt(second)} {second_label})"

    if not any(has_profile(e) for result in results for e in result.entries):
        return None
    return _row_cells(
        results,
        title=title,
        anchor=anchor,
        cell_text=text,
        include=lambda row: row.workload in TIMED_WORKLOADS,
        note=note,
        gap_text=False,
    )


def cpu_table(results: Sequence[ResultSet]) -> Table | None:
    return _profile_table(
        results,
        (("cpu_user_per_op", "user"), ("cpu_system_per_op", "sys")),
        format_duration,
        title="CPU time per operation",
        anchor="cpu",
        note="User + system CPU time of the whole process tree per operation, from the profile "
        "pass. CPU above the wall time means parallel work; far below means the tasks were "
        "waiting.",
    )


def switches_table(results: Sequence[ResultSet]) -> Table | None:
    return _profile_table(
        results,
        (("ctx_voluntary_per_op", "vol"), ("ctx_involuntary_per_op", "invol")),
        count_text,
        title="Context switches per operation",
        anchor="switches",
        note="Voluntary + involuntary context switches of the whole process tree per operation, "
        "from the profile pass.",
    )


def environment_table(results: Sequence[ResultSet]) -> Table:
    keys = [key for key in ENVIRONMENT_KEYS if any(key in r.environment for r in results)]
    keys += sorted({key for r in results for key in r.environment} - set(keys))
    body = []
    for key in keys:
        values = [_environment_text(r.environment.get(key)) for r in results]
        body.append((key, *values))
    header = ("key", *(r.label for r in results))
    note = "Files: " + "; ".join(f"{r.label} = {r.path.name}" for r in results)
    return Table("Environment", header, tuple(body), "environment", note)


def latency_text(record: LatencyRecord) -> str:
    """ "p50 / p90 / p99 / p99.9" in human units, "(k=N)" after those of a pingpong batched by
    N rounds; "below timer resolution" where the timer cannot resolve them."""
    values = [record.percentile(key) for key in ("p50", "p90", "p99", "p999")]
    if any(value is None for value in values):
        return BELOW_RESOLUTION
    text = " / ".join(format_duration(value) for value in values if value is not None)
    return text + (f" (k={record.batch})" if record.batch > 1 else "")


def latency_table(results: Sequence[ResultSet]) -> Table | None:
    if not any(entry.latency for result in results for entry in result.entries):
        return None

    def text(entry: Entry) -> str:
        return MISSING if entry.latency is None else latency_text(entry.latency)

    whats: dict[str, str] = {}
    records = [
        (entry.workload, entry.latency)
        for result in results
        for entry in suite_entries(result)
        if entry.latency is not None and entry.workload is not None
    ]
    # An unbatched record says what a sample is in general; a batched one only for its batch.
    for workload, record in sorted(records, key=lambda item: item[1].batch):
        whats.setdefault(workload, record.what)
    note = (
        "p50 / p90 / p99 / p99.9 of the latency pass (a separate pass after the timed runs; "
        "each the median over the pass's runs of a run's percentile, the timer's cost "
        "subtracted). A sample is: "
        + "; ".join(f"{workload}: {what}" for workload, what in whats.items())
        + "."
    )
    if any(record.batch > 1 for _workload, record in records):
        note += (
            " (k=N): a pingpong stamped every N rounds, its percentiles per one-way switch "
            "averaged over a batch of N rounds."
        )
    if any(not record.resolved for _workload, record in records):
        note += (
            f" {BELOW_RESOLUTION.capitalize()}: N {TIMES} the median sample is under "
            f"{RESOLUTION:g} {TIMES} the timer's cost, so no percentile is reported."
        )
    return _row_cells(
        results,
        title="Latency percentiles",
        anchor="latency",
        cell_text=text,
        include=lambda row: row.workload in LATENCY_WORKLOADS,
        note=note,
        gap_text=False,
    )


def _environment_text(value: Any) -> str:
    if value is None:
        return MISSING
    return " ".join(str(value).split())


def differing_environment_keys(results: Sequence[ResultSet]) -> set[str]:
    if len(results) < 2:
        return set()
    keys = {key for r in results for key in r.environment}
    return {
        key for key in keys if len({_environment_text(r.environment.get(key)) for r in results}) > 1
    }


def gaps_table(results: Sequence[ResultSet]) -> Table | None:
    body: list[tuple[str, ...]] = []
    for result in results:
        for gap in result.gaps:
            label = gap.name
            if gap.workload and gap.params:
                label = Row(gap.workload, gap.params).label
            body.append((result.label, label, gap.model or MISSING, gap.status, gap.reason))
        if result.interrupted:
            body.append((result.label, "(the whole run)", MISSING, "interrupted", "run stopped"))
    if not body:
        return None
    note = "Cells that did not produce a valid result (failed) or did not run (skipped)."
    header = ("file", "cell", "model", "status", "reason")
    return Table("Gaps: failed and skipped cells", header, tuple(body), "gaps", note)


def foreign_table(results: Sequence[ResultSet]) -> Table | None:
    names: list[str] = []
    for result in results:
        names += [e.name for e in foreign_entries(result) if e.name not in names]
    if not names:
        return None
    body = []
    for name in names:
        texts = []
        for result in results:
            entry = next((e for e in foreign_entries(result) if e.name == name), None)
            texts.append(MISSING if entry is None else show_entry(entry) + spread_percent(entry))
        body.append((name, *texts))
    note = "Benchmarks without the suite's metadata, by name: mean of all values ± stdev."
    header = ("benchmark", *(r.label for r in results))
    return Table("Other benchmarks", header, tuple(body), "other-benchmarks", note)


# --- statements -------------------------------------------------------------------------------


def _positive_means(cells: Mapping[str, Entry]) -> dict[str, Entry]:
    return {model: entry for model, entry in cells.items() if entry.mean > 0}


def _row_models(result: ResultSet, row: Row) -> dict[str, Entry]:
    """The row's cells that compete in rankings and statements, in model order: not the GIL-on
    twins, each its model under another interpreter state (stated against its model by
    ``bench.analysis.variants``, and in the speedups of ``bench.analysis.freethreading``)."""
    cells = {
        model: entry
        for (r, model), entry in grid(result).items()
        if r == row and not is_gil_on_twin(model)
    }
    return {model: cells[model] for model in model_order(cells, [result])}


def task_noun(model: str, result: ResultSet) -> str:
    return model_facts([result], model).task_noun


def _ranked_name(model: str, entry: Entry) -> str:
    """The model's name in a ranking; the baseline's says what it is: "serial (plain call)"."""
    facts = entry.model_facts
    return f"{model} ({facts.task_noun})" if facts.baseline else model


def switch_findings(result: ResultSet) -> list[Finding]:
    """Switch costs: greenlet against a thread, generators against a function call, the
    ranking, and the kernel's context switches per hand-off."""
    found = []
    for row in rows([result], PingPong.workload):
        cells = _positive_means(_row_models(result, row))
        if not cells:
            continue
        where = f" ({row.label})" if len(rows([result], PingPong.workload)) > 1 else ""
        greenlet, thread = cells.get("greenlet"), cells.get("threads")
        if greenlet and thread:
            ratio = thread.mean / greenlet.mean
            relation = f"{times(ratio)} less than" if ratio >= 1 else f"{times(1 / ratio)} more"
            found.append(
                Finding(
                    "switch",
                    f"A greenlet switch costs {show_entry(greenlet)}, {relation} a thread switch "
                    f"({show_entry(thread)}) on this host{where}.",
                )
            )
        baseline = baseline_of(cells)
        generator, call = cells.get("generators"), cells.get(baseline) if baseline else None
        if generator and call:
            found.append(
                Finding(
                    "switch",
                    f"A generator switch costs {show_entry(generator)}, "
                    f"{times(generator.mean / call.mean)} a plain function call and return "
                    f"({show_entry(call)}, the serial baseline){where}.",
                )
            )
        if len(cells) >= 2:
            ranked = sorted(cells.items(), key=lambda item: item[1].mean)
            cheapest = ranked[0][1].mean
            parts = [f"{_ranked_name(*ranked[0])} {show_entry(ranked[0][1])}"] + [
                f"{_ranked_name(model, entry)} {show_entry(entry)} ({times(entry.mean / cheapest)})"
                for model, entry in ranked[1:]
            ]
            found.append(
                Finding("switch", f"Switch cost, cheapest first{where}: " + ", ".join(parts) + ".")
            )
        kernel = {
            model: profile_value(entry, "ctx_switches_per_op") for model, entry in cells.items()
        }
        counted = {model: value for model, value in kernel.items() if value is not None}
        if counted:
            busy = [f"{m} {count_text(v)}" for m, v in counted.items() if v >= 0.01]
            idle = [m for m, v in counted.items() if v < 0.01]
            text = "Context switches counted by the kernel per one-way switch: "
            text += ", ".join(busy) if busy else "none for any model"
            if busy and idle:
                text += "; none for " + ", ".join(idle)
            found.append(Finding("switch", text + where + "."))
    return found


def _ranking(
    result: ResultSet, workload: str, prefer_largest_row: bool
) -> list[tuple[str, Entry, Row]]:
    """One entry per model for a per-task quantity: the largest size a model ran (the most
    reliable per-task figure), or the smallest."""
    chosen: dict[str, tuple[Entry, Row, int]] = {}
    for row in rows([result], workload):
        spec = row.spec
        size = int(getattr(spec, "tasks", 0))
        for model, entry in _positive_means(_row_models(result, row)).items():
            previous = chosen.get(model)
            better = previous is None or (
                size > previous[2] if prefer_largest_row else size < previous[2]
            )
            if better:
                chosen[model] = (entry, row, size)
    ranked = sorted(chosen.items(), key=lambda item: item[1][0].mean)
    return [(model, entry, row) for model, (entry, row, _size) in ranked]


def _sizes_differ(ranked: Sequence[tuple[str, Entry, Row]]) -> bool:
    return len({row for _model, _entry, row in ranked}) > 1


def _size_note(row: Row, show: bool) -> str:
    spec = row.spec
    if not show or spec is None or not hasattr(spec, "tasks"):
        return ""
    return f" (N={int(spec.tasks):,})"


@dataclass(frozen=True)
class MemoryFigure:
    """A model's memory per parked task: user (the benchmark's value) and kernel bytes, from
    the slope over all its runs when it ran enough sizes, else from its largest size."""

    model: str
    user: float
    kernel: float | None
    sizes: tuple[int, ...]
    slope: bool


def _kernel_points(entry: Entry) -> list[tuple[float, float]]:
    """(N, kernel bytes) of every run of a memory cell that recorded its kernel column."""
    spec = spec_of(entry.workload or "", entry.params or "")
    tasks = getattr(spec, "tasks", None)
    if not isinstance(tasks, int):
        return []
    # A value every run shares is stored once, in the benchmark's metadata.
    shared = entry.metadata.get("kernel_memory_delta")
    recorded = [run.metadata.get("kernel_memory_delta", shared) for run in entry.runs] or [shared]
    return [
        (float(tasks), float(value))
        for value in recorded
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ]


def _memory_slope(points: Sequence[tuple[float, float]]) -> sweep.SlopeFit | None:
    if len({x for x, _y in points}) < sweep.MEMORY_SLOPE_MIN_SIZES:
        return None
    return sweep.fit_line([x for x, _y in points], [y for _x, y in points])


def memory_figures(result: ResultSet) -> list[MemoryFigure]:
    """One figure per model with a positive memory value, smallest user memory first."""
    entries: dict[str, list[Entry]] = {}
    for (row, model), entry in grid(result).items():
        if row.workload == Memory.workload:
            entries.setdefault(model, []).append(entry)
    figures = []
    for model, entry, row in _ranking(result, Memory.workload, prefer_largest_row=True):
        user_fit = _memory_slope([p for e in entries[model] for p in memory_points(e)])
        if user_fit is not None and user_fit.slope > 0:
            kernel_fit = _memory_slope([p for e in entries[model] for p in _kernel_points(e)])
            kernel = kernel_fit.slope if kernel_fit is not None else None
            figures.append(MemoryFigure(model, user_fit.slope, kernel, user_fit.sizes, True))
            continue
        tasks = int(getattr(row.spec, "tasks", 0))
        kernel_points = _kernel_points(entry)
        kernel = statistics.fmean(y / x for x, y in kernel_points) if kernel_points else None
        figures.append(MemoryFigure(model, entry.mean, kernel, (tasks,), False))
    return sorted(figures, key=lambda figure: figure.user)


def _memory_note(figure: MemoryFigure, show_size: bool) -> str:
    if figure.slope:
        return f" (slope over N = {', '.join(f'{size:,}' for size in figure.sizes)})"
    return f" (N={figure.sizes[0]:,})" if show_size and figure.sizes[0] else ""


def memory_findings(result: ResultSet) -> list[Finding]:
    figures = memory_figures(result)
    if not figures:
        return []
    show = len({figure.sizes for figure in figures}) > 1
    parts = [f"{f.model} {format_bytes(f.user)}{_memory_note(f, show)}" for f in figures]
    text = "Memory per parked task, smallest first: " + ", ".join(parts) + "."
    found = [Finding(Memory.workload, text)]
    if len(figures) >= 2:
        small, large = figures[0], figures[-1]
        found.append(
            Finding(
                Memory.workload,
                f"A parked {task_noun(large.model, result)} holds "
                f"{times(large.user / small.user)} the memory of a parked "
                f"{task_noun(small.model, result)} ({format_bytes(large.user)} "
                f"against {format_bytes(small.user)}).",
            )
        )
    kernel = [f for f in figures if f.kernel is not None]
    if kernel:
        parts = [
            f"{f.model} {format_bytes(f.kernel)}{_memory_note(f, show)}"
            for f in kernel
            if f.kernel is not None
        ]
        found.append(
            Finding(
                Memory.workload,
                "Kernel memory per parked task, which the figures above leave out (kernel "
                "stacks, page tables, unreclaimable slab: /proc/meminfo KernelStack + "
                "PageTables + SUnreclaim over the region, whole machine): "
                + ", ".join(parts)
                + ".",
            )
        )
    return found


def spawn_findings(result: ResultSet) -> list[Finding]:
    ranked = _ranking(result, Spawn.workload, prefer_largest_row=False)
    if len(ranked) < 2:
        return []
    show = _sizes_differ(ranked)
    cheapest = ranked[0][1].mean
    parts = [
        f"{_ranked_name(model, entry)} {show_entry(entry)}{_size_note(row, show)}"
        + (f" ({times(entry.mean / cheapest)})" if index else "")
        for index, (model, entry, row) in enumerate(ranked)
    ]
    text = "Creating, starting and finishing one task costs, cheapest first: " + ", ".join(parts)
    return [Finding(Spawn.workload, text + ".")]


def _overlap(first: Entry, second: Entry) -> bool:
    return _values_overlap(first.values, second.values)


def _values_overlap(first: Sequence[float], second: Sequence[float]) -> bool:
    return max(first) >= min(second) and max(second) >= min(first)


# --- fan_out: what the model adds -------------------------------------------------------------


def fan_out_bound(entry: Entry) -> RecordedBound | None:
    """The bound a fan_out entry records (None: another workload, or an older file)."""
    return recorded_bound(entry.workload, entry.params, entry.metadata)


def overhead_values(entry: Entry) -> list[float] | None:
    """The entry's values less its ideal makespan / N; None without an ideal (cpu work, older
    files, other workloads)."""
    bound = fan_out_bound(entry)
    return None if bound is None else bound.overhead(entry.values)


def overhead_mean(entry: Entry) -> float | None:
    values = overhead_values(entry)
    return None if values is None else statistics.fmean(values)


def overhead_text(overhead: float) -> str:
    """An overhead in human units; at or below zero (the makespan no longer than the ideal)
    there is no duration to show."""
    return format_duration(overhead) if overhead > 0 else "<= 0"


def _waits(entry: Entry) -> bool:
    """Whether the entry's ideal makespan has a wait to subtract (D > 0): with D = 0 the
    overhead is the makespan per task itself."""
    bound = fan_out_bound(entry)
    return bound is not None and bool(bound.ideal_per_task)


def _row_overheads(cells: Mapping[str, Entry]) -> dict[str, list[float]] | None:
    """Every model's overhead values, when every model of the row has an ideal and there is a
    wait to subtract."""
    overheads = {model: overhead_values(entry) for model, entry in cells.items()}
    if not overheads or any(values is None for values in overheads.values()):
        return None
    if not any(_waits(entry) for entry in cells.values()):
        return None
    return {model: values for model, values in overheads.items() if values is not None}


def fan_out_findings(result: ResultSet) -> list[Finding]:
    """Per fan_out row with a wait to subtract (D > 0): what each model adds to the waits,
    least first, with its makespan per task, and the ideal makespans that are not D; per cpu
    row, that it has no bound."""
    found = []
    for row in rows([result], FanOut.workload):
        cells = _row_models(result, row)
        bounds = {model: fan_out_bound(entry) for model, entry in cells.items()}
        known = {model: bound for model, bound in bounds.items() if bound is not None}
        if not known:
            continue
        if all(bound.ideal_per_task is None for bound in known.values()):
            found.append(
                Finding(
                    FanOut.workload,
                    f"{row.label}: cpu work has no model-independent bound, so no overhead is "
                    "given: the time per task is the work and what the model adds together.",
                )
            )
            continue
        overheads = _row_overheads(cells)
        if overheads is None:
            continue
        means = {model: statistics.fmean(values) for model, values in overheads.items()}
        ranked = sorted(((m, v) for m, v in means.items() if v > 0), key=lambda item: item[1])
        if ranked:
            least = ranked[0][1]
            parts = [
                f"{_ranked_name(model, cells[model])} {format_duration(value)}"
                + (f" ({times(value / least)})" if index else "")
                + f" of {show_entry(cells[model])}"
                for index, (model, value) in enumerate(ranked)
            ]
            text = (
                f"{row.label}: what each model adds to the waits per task, (makespan - ideal "
                "makespan) / N, least first, of its makespan per task: " + ", ".join(parts)
            )
            below = [model for model, value in means.items() if value <= 0]
            if below:
                text += "; at or below the ideal makespan, so nothing to rank: " + ", ".join(below)
            found.append(Finding(FanOut.workload, text + "."))
        bounded = [
            f"{model} {bound.text}"
            for model, bound in known.items()
            if bound.ideal_per_task and not bound.all_wait_at_once
        ]
        if bounded:
            found.append(
                Finding(
                    FanOut.workload,
                    f"{row.label}: the ideal makespan is the wait D when all tasks wait at once; "
                    "where fewer can: " + "; ".join(bounded) + ".",
                )
            )
    return found


def _overhead_winner(
    row: Row, cells: Mapping[str, Entry], overheads: Mapping[str, list[float]]
) -> Finding | None:
    """The model of a fan_out row that adds the least to the waits (the serial baseline does not
    compete), and its margin over the runner-up."""
    baseline = baseline_of(cells)
    ranked = sorted(
        (
            (model, values, statistics.fmean(values))
            for model, values in overheads.items()
            if model != baseline and statistics.fmean(values) > 0
        ),
        key=lambda item: item[2],
    )
    if len(ranked) < 2:
        return None
    (best, best_values, best_mean), (second, second_values, second_mean) = ranked[0], ranked[1]
    ratio = second_mean / best_mean
    margin = f"{times(ratio)} that" if ratio >= 2 else f"{_percent(ratio)} more"
    text = (
        f"{row.label}: {best} adds the least to the waits ({format_duration(best_mean)} per "
        f"task beyond the ideal makespan; {show_entry(cells[best])} per task in all); the "
        f"runner-up {second} adds {margin} ({format_duration(second_mean)})"
    )
    if _values_overlap(best_values, second_values):
        text += "; their ranges of values overlap, so the order is within the noise"
    added = overheads.get(baseline) if baseline is not None else None
    if added is not None:
        text += f"; the serial baseline adds {overhead_text(statistics.fmean(added))}"
    return Finding("winner", text + ".")


def winner_findings(result: ResultSet) -> list[Finding]:
    """The best model of every row (the serial baseline does not compete) and its margin; for
    a sleep or echo fan-out with ideal makespans, the one that adds the least to the waits."""
    found = []
    for row in rows([result]):
        overheads = _row_overheads(_row_models(result, row))
        if overheads is not None:
            winner = _overhead_winner(row, _row_models(result, row), overheads)
            found += [winner] if winner is not None else []
            continue
        cells = _positive_means(_row_models(result, row))
        baseline_model = baseline_of(cells)
        baseline = cells.pop(baseline_model) if baseline_model is not None else None
        if len(cells) < 2:
            continue
        ranked = sorted(cells.items(), key=lambda item: item[1].mean)
        (best, best_entry), (second, second_entry) = ranked[0], ranked[1]
        ratio = second_entry.mean / best_entry.mean
        spec_class = SPECS[row.workload]
        if spec_class.unit == "byte":
            verdict = f"{best} uses the least memory"
            margin = f"{times(ratio)} less than" if ratio >= 2 else f"{_percent(ratio)} less than"
        elif spec_class.facts.throughput:
            verdict = f"{best} moves the most {spec_class.facts.operations}"
            margin = f"{times(ratio)} the rate of" if ratio >= 2 else f"{_percent(ratio)} more than"
        else:
            verdict = f"{best} is fastest"
            margin = (
                f"{times(ratio)} faster than" if ratio >= 2 else f"{_percent(ratio)} faster than"
            )
        text = (
            f"{row.label}: {verdict} ({show_entry(best_entry)}), {margin} the runner-up "
            f"{second} ({show_entry(second_entry)})"
        )
        if _overlap(best_entry, second_entry):
            text += "; their ranges of values overlap, so the order is within the noise"
        if baseline is not None:
            text += f"; the serial baseline: {show_entry(baseline)}"
        found.append(Finding("winner", text + "."))
    return found


def _percent(ratio: float) -> str:
    change = 100 * (ratio - 1)
    return f"{change:.1f}%" if change < 1 else f"{change:.0f}%"


def parallel_models(result: ResultSet) -> set[str]:
    """Models whose tasks can run on several cores at once, as their cells record it
    (``ModelFacts.parallel``): processes, and threads when the interpreter runs without a GIL."""
    gil_disabled = str(result.environment.get("python_gil", "enabled")) == "disabled"
    return {
        model
        for model, facts in result.model_facts.items()
        if facts.runs_in_parallel(gil_disabled and not is_gil_on_twin(model))
    }


def parallel_findings(result: ResultSet) -> list[Finding]:
    """Cells whose tasks ran in parallel: more CPU time than wall time in the profile pass.

    Only models that can run in parallel are considered: for one thread of one process, CPU
    above wall time is the coarse tick of the CPU counters on a short region, not parallelism.
    A fan-out is held against its whole wall time, waits included, not against its overhead:
    CPU spent while other tasks wait overlaps the ideal makespan without being parallel.
    """
    parallel = []
    capable = parallel_models(result)
    for row in rows([result]):
        for model, entry in _row_models(result, row).items():
            if model not in capable:
                continue
            cpu = profile_value(entry, "cpu_per_op")
            wall = profile_value(entry, "profile_wall_per_op")
            if cpu is not None and wall is not None and wall > 0 and cpu > 1.2 * wall:
                parallel.append(f"{model} in {row.label} ({times(cpu / wall)} its wall time)")
    if not parallel:
        return []
    text = "CPU time above wall time, so the work ran in parallel: " + "; ".join(parallel)
    return [Finding("parallel", text + ".")]


def speedup_findings(result: ResultSet) -> list[Finding]:
    """Per parallel row (``PARALLEL_SPECS``): each model's speedup over serial, paired where the
    rounds allow, with the CPUs and the file's GIL state (``bench.analysis.freethreading``)."""
    # Imported here: freethreading builds on this module and on paired, which imports it too.
    from bench.analysis import freethreading

    return freethreading.speedup_findings(result)


def gil_findings(result: ResultSet) -> list[Finding]:
    """Cells whose GIL readings differ from each other or from what the run asked for
    (``bench.results.gil``): their numbers describe another interpreter state than the file's."""
    flagged: list[tuple[str, str]] = []
    asked: set[str | None] = set()
    for entry in result.entries:
        requested = gil.requested(entry.metadata)
        asked.add(requested)
        runs = [{**entry.metadata, **run.metadata} for run in entry.runs]
        why = gil.mismatch([entry.metadata, *runs], requested)
        if why is not None:
            row = row_of(entry)
            flagged.append((f"{entry.model} in {row.label}" if row else entry.name, why))
    if not flagged:
        return []
    text = gil.mismatch_text(flagged, asked.pop() if len(asked) == 1 else None)
    return [Finding("gaps", text[0].upper() + text[1:] + ".")]


def gap_findings(result: ResultSet) -> list[Finding]:
    failed = [gap for gap in result.gaps if gap.status == "failed"]
    skipped = [gap for gap in result.gaps if gap.status == "skipped"]
    found = gil_findings(result)
    if failed:
        found.append(Finding("gaps", f"{len(failed)} cell(s) failed; see Gaps for the reasons."))
    if skipped:
        found.append(Finding("gaps", f"{len(skipped)} cell(s) were skipped; see Gaps."))
    if result.interrupted:
        found.append(Finding("gaps", "The run was interrupted: the file holds the cells before."))
    return found


def file_findings(result: ResultSet) -> list[Finding]:
    return [
        *switch_findings(result),
        *memory_findings(result),
        *slope_findings(result),
        *spawn_findings(result),
        *fan_out_findings(result),
        *tail_findings(result),
        *scaling_findings(result),
        *winner_findings(result),
        *parallel_findings(result),
        *speedup_findings(result),
        *gap_findings(result),
    ]


def _what_words(record: LatencyRecord) -> str:
    """The short name of a sample: the text before a colon ("one-way switch: ...")."""
    return record.what.split(":", 1)[0].strip()


def tail_findings(result: ResultSet) -> list[Finding]:
    """Per parameter set with latency records: every model's p99, lowest first, and how far
    its tail reaches beyond its median (p99 / p50); then the models whose samples the timer
    cannot resolve, with no number."""
    found = []
    for row in rows([result]):
        if row.workload not in LATENCY_WORKLOADS:
            continue
        latencies = {
            model: entry.latency
            for model, entry in _row_models(result, row).items()
            if entry.latency is not None
        }
        tails = {
            model: (record, record.p99, record.p50)
            for model, record in latencies.items()
            if record.p99 is not None and record.p50 is not None and record.p99 > 0
        }
        unresolved = [model for model, record in latencies.items() if not record.resolved]
        if not tails and not unresolved:
            continue
        parts = []
        for model, (record, p99, p50) in sorted(tails.items(), key=lambda item: item[1][1]):
            notes = [f"batches of {record.batch} rounds"] if record.batch > 1 else []
            notes += [f"p99/p50 = {times(p99 / p50)}"] if p50 > 0 else []
            detail = f" ({', '.join(notes)})" if notes else ""
            parts.append(f"{model} {format_duration(p99)}{detail}")
        what = _what_words(next(iter(latencies.values())))
        order = ", lowest first" if len(parts) > 1 else ""
        text = f"p99 latency ({what}) in {row.label}{order}: " + ", ".join(parts)
        if unresolved:
            text += ("; " if parts else "") + f"{BELOW_RESOLUTION}: " + ", ".join(unresolved)
        found.append(Finding("tail", text + "."))
    return found


def sweep_inputs(result: ResultSet) -> tuple[list[Point], list[Missing]]:
    """The file's cells as sweep points (mean per operation) and its gaps as missing ones."""
    return sweep_data(suite_entries(result), result.gaps)


def sweeps(result: ResultSet) -> list[sweep.Series]:
    """The file's time sweeps: every series of a (workload, fixed parameters) group in which
    some model has at least ``SWEEP_MIN_SIZES`` sizes, counting unreached ones."""
    series = [
        s for s in sweep.sweep_series(*sweep_inputs(result)) if s.workload in TIME_SWEEP_WORKLOADS
    ]
    groups = {
        (s.workload, s.fixed) for s in series if len(s.sizes) + len(s.unreached) >= SWEEP_MIN_SIZES
    }
    names = model_order((s.model for s in series), [result])
    ranked = {name: index for index, name in enumerate(names)}
    chosen = [s for s in series if (s.workload, s.fixed) in groups]
    order = {name: index for index, name in enumerate(SPECS)}
    return sorted(chosen, key=lambda s: (order.get(s.workload, 99), s.fixed, ranked[s.model]))


def series_params(series: sweep.Series, size: int) -> str:
    """The params of one point of a series (any order: specs parse them by name)."""
    sizes = ",".join(f"{name}={size}" for name in sweep.size_parameters(series.workload))
    return ",".join(filter(None, (sizes, series.fixed)))


def sweep_label(series: sweep.Series) -> str:
    """ "fan_out sleep 1 ms": the workload and its fixed parameters, without the size."""
    size = (series.sizes or tuple(s for s, _reason in series.unreached))[0]
    spec = spec_of(series.workload, series_params(series, size))
    if spec is None:
        return f"{series.workload} {series.fixed}"
    kept = spec.short_params(omit=sweep.size_parameters(series.workload))
    return " ".join(filter(None, [series.workload, kept]))


def operation_word(workload: str) -> str:
    """What one operation of the workload is ("item"); "task" for a workload not the suite's."""
    facts = workload_facts(workload)
    return "task" if facts is None else facts.operation


def scaling_text(series: sweep.Series, factor: float = SCALING_FACTOR) -> str:
    """Where a series stops scaling (time per operation more than ``factor`` times its best
    at a larger N), or that it does not, and the sizes it could not reach with the reason: the
    report's statement and the runner's end-of-run line. The series needs a measured size."""
    fit = sweep.scaling(series, factor)
    per = f"time per {operation_word(series.workload)}"
    best = f"its best ({format_duration(fit.best_value)} at N={fit.best_size:,})"
    if fit.stops_at is not None and fit.ratio_at_stop is not None:
        text = f"{per} grows {times(fit.ratio_at_stop)} over {best} at N={fit.stops_at:,}"
    elif fit.best_size < series.sizes[-1]:
        text = f"{per} stays within {factor:g}{TIMES} of {best} up to N={series.sizes[-1]:,}"
    else:
        text = f"{per} is lowest at the largest size measured, " + (
            f"N={fit.best_size:,} ({format_duration(fit.best_value)})"
        )
    for size, reason in fit.unreached:
        text += f"; could not reach N={size:,} ({reason})"
    return text


def scaling_findings(result: ResultSet) -> list[Finding]:
    """Per sweep series: ``scaling_text``."""
    found = []
    for series in sweeps(result):
        if not series.sizes:
            continue
        text = f"{series.model}: {scaling_text(series)}"
        found.append(Finding("scaling", f"{sweep_label(series)}: {text}."))
    return found


@dataclass(frozen=True)
class MemoryFit:
    model: str
    fit: sweep.SlopeFit


def memory_points(entry: Entry) -> list[tuple[float, float]]:
    """(N, total bytes) of every run of a memory cell: the run's ``memory_delta``, or its
    bytes per task times N when the file kept no per-run metadata."""
    spec = spec_of(entry.workload or "", entry.params or "")
    tasks = getattr(spec, "tasks", None)
    if not isinstance(tasks, int):
        return []
    if not entry.runs:
        return [(float(tasks), value * tasks) for value in entry.values]
    points = []
    for run in entry.runs:
        delta = run.metadata.get("memory_delta")
        if isinstance(delta, int | float) and not isinstance(delta, bool) and math.isfinite(delta):
            points.append((float(tasks), float(delta)))
        else:
            points += [(float(tasks), value * tasks) for value in run.values]
    return points


def memory_fits(result: ResultSet) -> list[MemoryFit]:
    """Per model with memory cells at two or more N: the line through (N, total bytes)."""
    by_model: dict[str, list[tuple[float, float]]] = {}
    for (row, model), entry in grid(result).items():
        if row.workload == Memory.workload:
            by_model.setdefault(model, []).extend(memory_points(entry))
    fits = []
    for model in model_order(by_model, [result]):
        points = by_model[model]
        if len({x for x, _y in points}) < 2:
            continue
        fit = sweep.fit_line([x for x, _y in points], [y for _x, y in points])
        fits.append(MemoryFit(model, fit))
    return fits


def interval_text(fit: sweep.SlopeFit) -> str:
    if not (math.isfinite(fit.slope_low) and math.isfinite(fit.slope_high)):
        return f"no interval from {fit.points} points"
    return f"95% interval {format_bytes(fit.slope_low)} to {format_bytes(fit.slope_high)}"


def slope_text(fit: sweep.SlopeFit) -> str:
    """A memory slope with its interval, fit and sizes: the report's statement and the
    runner's end-of-run line."""
    return (
        f"{format_bytes(fit.slope)} ({interval_text(fit)}, R\N{SUPERSCRIPT TWO} = "
        f"{fit.r_squared:.3f}, N = {', '.join(f'{size:,}' for size in fit.sizes)})"
    )


def slope_findings(result: ResultSet) -> list[Finding]:
    fits = memory_fits(result)
    if not fits:
        return []
    parts = [
        f"{item.model} {slope_text(item.fit)}"
        for item in sorted(fits, key=lambda item: item.fit.slope)
    ]
    text = "Memory per parked task fitted as the slope of total bytes against N, smallest first: "
    return [Finding(Memory.workload, text + "; ".join(parts) + ".")]


def sweep_table(results: Sequence[ResultSet]) -> Table | None:
    several = len(results) > 1
    body = []
    for result in results:
        for series in sweeps(result):
            if not series.sizes:
                continue
            fit = sweep.scaling(series, SCALING_FACTOR)
            stops = (
                f"N={fit.stops_at:,} ({times(fit.ratio_at_stop)} the best)"
                if fit.stops_at is not None and fit.ratio_at_stop is not None
                else "does not"
            )
            unreached = "; ".join(f"N={size:,}: {reason}" for size, reason in fit.unreached)
            body.append(
                (
                    sweep_label(series),
                    *((result.label,) if several else ()),
                    series.model,
                    ", ".join(f"{size:,}" for size in series.sizes),
                    f"{format_duration(fit.best_value)} at N={fit.best_size:,}",
                    stops,
                    unreached or MISSING,
                )
            )
    if not body:
        return None
    header = (
        "sweep",
        *(("file",) if several else ()),
        "model",
        "sizes measured",
        "best time per op",
        f"stops scaling (> {SCALING_FACTOR:g}{TIMES} best)",
        "sizes not reached",
    )
    note = (
        "Time per operation (task, or item for producer_consumer) against N with every other "
        "parameter fixed. A model stops scaling at the first N above its best whose time per "
        f"operation exceeds {SCALING_FACTOR:g} times the best."
    )
    return Table("Sweeps: where each model stops scaling", header, tuple(body), "sweeps", note)


def slope_table(results: Sequence[ResultSet]) -> Table | None:
    several = len(results) > 1
    body = []
    for result in results:
        for item in memory_fits(result):
            fit = item.fit
            interval = (
                f"{format_bytes(fit.slope_low)} to {format_bytes(fit.slope_high)}"
                if math.isfinite(fit.slope_low) and math.isfinite(fit.slope_high)
                else MISSING
            )
            body.append(
                (
                    item.model,
                    *((result.label,) if several else ()),
                    format_bytes(fit.slope),
                    interval,
                    format_bytes(fit.intercept),
                    f"{fit.r_squared:.4f}",
                    str(fit.points),
                    ", ".join(f"{size:,}" for size in fit.sizes),
                )
            )
    if not body:
        return None
    header = (
        "model",
        *(("file",) if several else ()),
        "bytes per task (slope)",
        "95% interval",
        "fixed bytes (intercept)",
        "R\N{SUPERSCRIPT TWO}",
        "runs",
        "N",
    )
    note = (
        "Least-squares line through (N, total bytes) of every run of a model's memory cells: "
        "the slope is what each additional parked task costs, free of the fixed overhead a "
        "single bytes-per-task ratio spreads over the tasks; the interval is Student t."
    )
    return Table("Memory slope: bytes per parked task", header, tuple(body), "memory-slope", note)


# --- several files ----------------------------------------------------------------------------


def benchmark_label(workload: str | None, params: str | None, model: str | None, name: str) -> str:
    """ "pingpong rounds=2000 / greenlet" for the suite's benchmarks, the name for others."""
    if workload and params and model and spec_of(workload, params) is not None:
        return f"{Row(workload, params).label} / {model}"
    return name


def _change_text(row: comparison.Row, index: int, base_label: str) -> str | None:
    change = row.changes[index]
    base_side, new_side = row.sides[0], row.sides[index + 1]
    if change is None or change.ratio is None or base_side is None or new_side is None:
        return None
    better, worse = comparison.direction_words(row.unit)
    factor = change.ratio if change.ratio >= 1 else 1 / change.ratio
    word = worse if change.ratio >= 1 else better
    p_text = f", p = {change.p_value:.2g}" if change.p_value is not None else ""
    label = _compared_label(row)
    return (
        f"{label}: {show_value(row.workload, row.unit, new_side.mean)} in {change.label} "
        f"against {show_value(row.workload, row.unit, base_side.mean)} in {base_label}, "
        f"{times(factor)} {word}{p_text}."
    )


def change_findings(result: comparison.Comparison, limit: int = 5) -> list[Finding]:
    """Per other file: the geometric mean of its ratios, how many benchmarks changed
    significantly in each direction, and its biggest significant changes."""
    found = []
    base = result.base.label
    for index, label in enumerate(result.labels[1:]):
        for mean in result.geometric_means:
            if mean.label != label or mean.group != "overall":
                continue
            better, worse = comparison.direction_words(mean.unit)
            direction = (
                f"{times(1 / mean.ratio)} {better}"
                if mean.ratio < 1
                else f"{times(mean.ratio)} {worse}"
            )
            found.append(
                Finding(
                    "change",
                    f"Over {mean.count} benchmarks measured in {mean.quantity}, {label} is "
                    f"{direction} than {base} (geometric mean of the ratios: "
                    f"{mean.ratio:.3f}).",
                )
            )
        changes = [row.changes[index] for row in result.rows]
        improved = sum(1 for c in changes if c is not None and c.status == "improved")
        regressed = sum(1 for c in changes if c is not None and c.status == "regressed")
        judged = sum(1 for c in changes if c is not None)
        found.append(
            Finding(
                "change",
                f"{label} against {base}: {improved} of {judged} benchmarks significantly better, "
                f"{regressed} significantly worse (Mann-Whitney U, p < {result.options.alpha:g}, "
                f"changes of at least {result.options.min_change_pct:g}%).",
            )
        )
        significant = [
            row
            for row in result.rows
            if (change := row.changes[index]) is not None
            and change.status in ("improved", "regressed")
            and change.ratio is not None
        ]
        significant.sort(key=lambda row: -abs(math.log(_ratio(row, index))))
        texts = [_change_text(row, index, base) for row in significant[:limit]]
        if texts:
            found.append(
                Finding("change", "Biggest significant changes: " + " ".join(filter(None, texts)))
            )
    return found


def _ratio(row: comparison.Row, index: int) -> float:
    change = row.changes[index]
    return 1.0 if change is None or change.ratio is None else change.ratio


def comparison_table(result: comparison.Comparison) -> Table:
    """One row per benchmark the base shares with another file: means, ratio, p, verdict."""
    header: list[str] = ["benchmark", result.base.label]
    for label in result.labels[1:]:
        header += [label, f"{label} / {result.base.label}", "p-value", "verdict"]
    body = []
    for row in result.rows:
        cells = [_compared_label(row)]
        base_side = row.sides[0]
        cells.append(MISSING if base_side is None else _side_text(row, base_side.mean))
        for change, side in zip(row.changes, row.sides[1:], strict=True):
            if change is None or side is None:
                cells += [MISSING] * 4
                continue
            cells.append(_side_text(row, side.mean))
            cells.append(MISSING if change.ratio is None else f"{change.ratio:.3f}")
            cells.append(MISSING if change.p_value is None else f"{change.p_value:.2g}")
            cells.append(change.verdict)

        body.append(tuple(cells))
    note = (
        f"Ratio = mean of the file / mean of {result.base.label} of the stored values (time or "
        "bytes per operation: below 1 is better). p-value: two-sided Mann-Whitney U test of all "
        f"values; significant below {result.options.alpha:g}."
    )
    return Table("Comparison with the first file", tuple(header), tuple(body), "comparison", note)


def _side_text(row: comparison.Row, mean: float) -> str:
    if row.judged_on_overhead:
        return overhead_text(mean)
    return show_value(row.workload, row.unit, mean)


def _compared_label(row: comparison.Row) -> str:
    """The benchmark, marked when it is compared on the fan_out overhead per task."""
    label = benchmark_label(row.workload, row.params, row.model, row.name)
    return f"{label} [{OVERHEAD_LABEL}]" if row.judged_on_overhead else label
