"""Free-threaded Python: what a build without the GIL changes, within one file and across files.

Within one file, the parallel rows (``PARALLEL_SPECS``: milliseconds of pure-Python work per task
or item, so that the work dominates) give each model's speedup over the serial baseline: the
serial time per operation over the model's. Cells measured in rounds are paired as the variant
statements pair them (``bench.analysis.paired``: the geometric mean over the shared rounds, with
its 95% interval; "no clear difference" when the interval contains 1); cells without shared
rounds fall back to the ratio of their means, with no interval. A GIL-on twin (``X[gil=on]``,
measured with ``PYTHON_GIL=1`` beside a GIL-off run of a free-threaded build) is held against
the serial twin of the same run, else against serial.

Across files (the first is the base, each labelled by build and GIL through its label):

- the single-thread cost of a build: per other file, the geometric mean over the timed cells
  both files measured, of models that run one thread (``parallel == "never"``: serial,
  generators, asyncio, trio, anyio and their variants; no GIL-on twin, no greenlet or gevent,
  which turn the GIL back on), of the ratio of the file's mean to the base's;
- the memory per parked thread and per parked asyncio task (``findings.memory_figures``: the
  slope over the sizes measured, else the largest size);
- the key cells side by side with each file's ratio to the base, the speedups side by side,
  and why a number is missing where one is.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.analysis import findings, paired
from bench.analysis.findings import Finding, MemoryFigure, Row, Table
from bench.results import gil
from bench.results.schema import Entry, ResultSet
from bench.spec.cpulist import parse_cpu_list
from bench.spec.models import gil_off_of, gil_on_twin_of, is_gil_on_twin, split_model_name
from bench.spec.workloads import PARALLEL_SPECS, Memory, PingPong, ProducerConsumer, Spawn
from bench.units import format_bytes, format_duration

TOPIC = "speedup"
COST_TOPIC = "build cost"
MISSING_TOPIC = "not measured"
SAME = "no clear difference from serial"
PARALLEL_ROWS = tuple(spec for spec, _scope in PARALLEL_SPECS)
# Rows of the key-cell table besides the parallel ones, and the plain models shown in them (with
# their GIL-on twins): a switch, a hand-over and a start, which a build or the GIL can change.
KEY_SPECS = (
    PingPong(rounds=2000),
    ProducerConsumer(producers=1, consumers=1, capacity=64),
    Spawn(tasks=100),
    Spawn(tasks=10_000),
)
KEY_MODELS = ("serial", "threads", "asyncio")
# (model, what one of its parked tasks is) of the memory rows.
MEMORY_MODELS = (("threads", "thread"), ("asyncio", "asyncio task"))
# Importing greenlet turns the GIL back on in a free-threaded build: their cells cannot stand
# for a single-thread cost of running without it.
NOT_SINGLE_THREAD_COST = frozenset({"greenlet", "gevent"})
# Metadata that say how many CPUs a measuring process could use: the runner's count, pyperf's
# --affinity list; else the machine's count.
# A parallel model's CPU time per operation this many times serial's is stated with its speedup.
CPU_INFLATION = 1.25
USABLE_CPUS_KEY = "usable_cpus"
AFFINITY_KEY = "cpu_affinity"
CPU_COUNT_KEY = "cpu_count"
TWINS_ONLY_BESIDE_GIL_OFF = (
    "GIL-on twins (X[gil=on]) are measured only beside a GIL-off run of a free-threaded build"
)


# --- models and files -------------------------------------------------------------------------


def with_twins(models: Sequence[str]) -> list[str]:
    """``models`` with each GIL-on twin right after its plain model (a twin without one last)."""
    present = set(models)
    plain = [model for model in models if not is_gil_on_twin(model)]
    ordered = [m for model in plain for m in (model, gil_on_twin_of(model)) if m in present]
    return ordered + [model for model in models if model not in ordered]


@dataclass(frozen=True)
class Build:
    """A file's interpreter build and the GIL state its run asked for (``gil.requested``:
    ``PYTHON_GIL=1`` turns it on in a free-threaded build); ``gil`` is None when the file does
    not name its build."""

    label: str
    free_threaded: bool
    gil: str | None

    @property
    def words(self) -> str:
        """ "with the GIL off (a free-threaded build)", or how else the file ran."""
        if self.gil is None:
            return "build not recorded"
        if not self.free_threaded:
            return "with the GIL (a GIL build)"
        if self.gil == gil.DISABLED:
            return "with the GIL off (a free-threaded build)"
        return "with the GIL on (a free-threaded build run with PYTHON_GIL=1)"

    @property
    def measures_twins(self) -> bool:
        return self.free_threaded and self.gil == gil.DISABLED


def build_of(result: ResultSet) -> Build:
    """The file's build, and the GIL state its plain cells asked for (a GIL-on twin asks for
    another one); the environment's when they disagree or say nothing."""
    build = result.environment.get("python_build")
    if not isinstance(build, str):
        return Build(result.label, False, None)
    asked = {
        gil.requested(entry.metadata)
        for entry in findings.suite_entries(result)
        if not is_gil_on_twin(str(entry.model))
    } - {None}
    state = asked.pop() if len(asked) == 1 else gil.requested(result.environment)
    return Build(result.label, gil.FREE_THREADING_FLAG in build, state)


def _positive_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def cpu_list_count(text: str) -> int | None:
    """How many CPUs a list such as ``0-3,6`` names; None when it is not one."""
    try:
        return len(parse_cpu_list(text)) or None
    except ValueError:
        return None


def cpus_of(entry: Entry, environment: Mapping[str, object]) -> tuple[int, bool] | None:
    """How many CPUs the cell could use, and whether that is what its process could use (True)
    or only the machine's count (False); None when nothing records it."""
    for source in (entry.metadata, environment):
        usable = _positive_int(source.get(USABLE_CPUS_KEY))
        if usable is not None:
            return usable, True
        affinity = source.get(AFFINITY_KEY)
        counted = cpu_list_count(affinity) if isinstance(affinity, str) else None
        if counted is not None:
            return counted, True
    for source in (environment, entry.metadata):
        count = _positive_int(source.get(CPU_COUNT_KEY))
        if count is not None:
            return count, False
    return None


# --- speedup over serial, within one file -----------------------------------------------------


@dataclass(frozen=True)
class Speedup:
    """A model's speedup over its reference (serial, or the serial twin for a GIL-on twin): the
    reference's time per operation over the model's, > 1 faster. ``rounds``: the rounds paired,
    0 when it is the ratio of the means; ``interval``: its 95% interval (None: no rounds, or
    one)."""

    model: str
    reference: str
    value: float
    interval: tuple[float, float] | None
    rounds: int
    # The model's CPU time per operation over the reference's (profile pass), None unrecorded.
    cpu_ratio: float | None = None

    @property
    def unclear(self) -> bool:
        return self.interval is not None and self.interval[0] <= 1 <= self.interval[1]


@dataclass(frozen=True)
class RowSpeedups:
    """A parallel row of one file: its serial baseline (and serial twin), the CPUs the cells
    could use, and each other model's speedup, each twin right after its plain model."""

    row: Row
    serial: Entry
    serial_twin: Entry | None
    cpus: tuple[int, bool] | None
    speedups: tuple[Speedup, ...]

    def speedup(self, model: str) -> Speedup | None:
        return next((found for found in self.speedups if found.model == model), None)


def speedup(entry: Entry, reference: Entry) -> Speedup | None:
    """``entry`` against ``reference``: paired over their shared rounds, else the ratio of the
    means; None when a mean is not positive."""
    model, against = str(entry.model), str(reference.model)
    cpu, reference_cpu = (findings.profile_value(e, "cpu_per_op") for e in (entry, reference))
    cpu_ratio = cpu / reference_cpu if cpu and reference_cpu and reference_cpu > 0 else None
    try:
        ratio, rounds = paired.paired_ratio(
            paired.round_means(entry), paired.round_means(reference)
        )
    except ValueError:  # a repeated round, or a run mean that is not positive
        ratio, rounds = None, 0
    if ratio is not None:
        inverted = None
        if ratio.interval is not None:
            low, high = ratio.interval
            inverted = (1 / high, 1 / low)
        return Speedup(model, against, 1 / ratio.value, inverted, rounds, cpu_ratio)
    if entry.values and reference.values and entry.mean > 0 and reference.mean > 0:
        return Speedup(model, against, reference.mean / entry.mean, None, 0, cpu_ratio)
    return None


def is_parallel_row(row: Row) -> bool:
    return row.spec in PARALLEL_ROWS


def row_speedups(result: ResultSet) -> list[RowSpeedups]:
    """Every parallel row of the file with a serial baseline, in row order."""
    found = []
    cells_of = findings.grid(result)
    for row in findings.rows([result]):
        if not is_parallel_row(row):
            continue
        cells = {model: entry for (r, model), entry in cells_of.items() if r == row}
        baseline = findings.baseline_of({m: e for m, e in cells.items() if not is_gil_on_twin(m)})
        if baseline is None:
            continue
        serial, serial_twin = cells[baseline], cells.get(gil_on_twin_of(baseline))
        speedups = []
        for model in with_twins(findings.model_order(cells, [result])):
            if model in (baseline, gil_on_twin_of(baseline)):
                continue
            reference = serial_twin if is_gil_on_twin(model) and serial_twin is not None else serial
            measured = speedup(cells[model], reference)
            if measured is not None:
                speedups.append(measured)
        cpus = cpus_of(serial, result.environment)
        found.append(RowSpeedups(row, serial, serial_twin, cpus, tuple(speedups)))
    return found


def ratio_text(found: Speedup) -> str:
    """ "1.90x [1.85-1.95]" (with the multiplication sign and an en dash); "1.90x (ratio of the
    means)" without paired rounds."""
    if found.rounds == 0:
        return f"{findings.times(found.value)} (ratio of the means)"
    return paired.ratio_text(paired.Ratio(found.value, found.interval))


def speedup_text(found: Speedup, operation: str = "") -> str:
    """The speedup, or "no clear difference from serial (...)" when its interval contains 1;
    with ``operation``, also the CPU time the model spent on the same work when it was at least
    ``CPU_INFLATION`` times serial's."""
    text = f"{SAME} ({ratio_text(found)})" if found.unclear else ratio_text(found)
    if operation and found.cpu_ratio is not None and found.cpu_ratio >= CPU_INFLATION:
        text += f" (CPU time per {operation} {findings.times(found.cpu_ratio)} serial's)"
    return text


def _twin_text(found: Speedup, serial: str, operation: str) -> str:
    against = "" if found.reference != serial else " (against serial with the GIL off)"
    return f"with the GIL on {speedup_text(found, operation)}{against}"


def row_text(row: RowSpeedups, build: Build) -> str:
    """ "fan_out N=32 cpu on 2 usable CPUs, with the GIL off (a free-threaded build), speedup
    over serial (2.50 ms per task; 2.55 ms with the GIL on): threads 1.90x [1.85-1.95], with
    the GIL on no clear difference from serial (1.01x [0.98-1.03]); processes ..." """
    serial = str(row.serial.model)
    per = f"{format_duration(row.serial.mean)} per {findings.operation_word(row.row.workload)}"
    if row.serial_twin is not None:
        per += f"; {format_duration(row.serial_twin.mean)} with the GIL on"
    cpus = ""
    if row.cpus is not None:
        count, usable = row.cpus
        cpus = f" on {count} {'usable ' if usable else ''}CPU{'s' if count != 1 else ''}"
    operation = findings.operation_word(row.row.workload)
    parts: list[str] = []
    for found in row.speedups:
        if not is_gil_on_twin(found.model):
            parts.append(f"{found.model} {speedup_text(found, operation)}")
        elif parts and row.speedup(gil_off_of(found.model)) is not None:
            parts[-1] += f", {_twin_text(found, serial, operation)}"
        else:
            parts.append(f"{gil_off_of(found.model)} {_twin_text(found, serial, operation)}")
    said = "; ".join(parts) if parts else "no other model measured"
    text = f"{row.row.label}{cpus}, {build.words}, speedup over serial ({per}): {said}"
    if any(f.cpu_ratio is not None and f.cpu_ratio >= CPU_INFLATION for f in row.speedups):
        text += (
            f". Where a model's CPU time per {operation} is above serial's, the same work cost "
            "more CPU time while its cores were busy (the model's own overhead, or cores that "
            "run slower when all are busy, as virtual CPUs sharing a physical core do), which "
            "caps its speedup"
        )
    return text


def speedup_findings(result: ResultSet) -> list[Finding]:
    """One statement per parallel row: each model's speedup over serial, with the CPUs and the
    file's GIL state."""
    build = build_of(result)
    return [Finding(TOPIC, row_text(row, build) + ".") for row in row_speedups(result)]


# --- across files -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildCost:
    """The geometric mean of ``label``'s time per operation over ``base``'s, over ``cells``
    timed cells of the single-thread ``models`` both measured, and the smallest and largest
    ratio."""

    label: str
    base: str
    geometric_mean: float
    cells: int
    low: float
    high: float
    models: tuple[str, ...]


def single_thread(entry: Entry) -> bool:
    """Whether the cell's model runs one thread, so that its time is the build's single-thread
    cost: never parallel, not a GIL-on twin, not greenlet or gevent."""
    model = str(entry.model)
    return (
        entry.model_facts.parallel == "never"
        and not is_gil_on_twin(model)
        and split_model_name(model)[0] not in NOT_SINGLE_THREAD_COST
    )


def _single_thread_cells(result: ResultSet) -> dict[tuple[Row, str], Entry]:
    return {
        key: entry
        for key, entry in findings.grid(result).items()
        if entry.unit == "second"
        and key[0].workload != Memory.workload
        and entry.values
        and entry.mean > 0
        and single_thread(entry)
    }


def single_thread_cost(base: ResultSet, other: ResultSet) -> BuildCost | None:
    """``other`` against ``base`` over the timed single-thread cells both measured; None when
    they share none."""
    base_cells, other_cells = _single_thread_cells(base), _single_thread_cells(other)
    shared = base_cells.keys() & other_cells
    ratios = [other_cells[key].mean / base_cells[key].mean for key in shared]
    if not ratios:
        return None
    centre = math.exp(statistics.fmean(math.log(ratio) for ratio in ratios))
    models = tuple(findings.model_order((model for _row, model in shared), [base]))
    return BuildCost(other.label, base.label, centre, len(ratios), min(ratios), max(ratios), models)


def cost_text(cost: BuildCost) -> str:
    return (
        f"{cost.label} against {cost.base}: geometric mean {cost.geometric_mean:.3f}"
        f"{findings.TIMES} over n = {cost.cells} cells of {', '.join(cost.models)}, range "
        f"{cost.low:.3f}{paired.DASH}{cost.high:.3f}{findings.TIMES}"
    )


def cost_findings(results: Sequence[ResultSet]) -> list[Finding]:
    """Per file after the first: its single-thread cost against the first."""
    base = results[0]
    texts = []
    for other in results[1:]:
        cost = single_thread_cost(base, other)
        texts.append(
            cost_text(cost)
            if cost is not None
            else f"{other.label} against {base.label}: no timed cell of a single-thread model "
            "in both files"
        )
    if not texts:
        return []
    text = (
        "Time per operation over the first file's (> 1 slower), of the timed cells both files "
        "measured of the models that run one thread (never in parallel; no GIL-on twin, no "
        "greenlet or gevent, which turn the GIL back on): "
    )
    return [Finding(COST_TOPIC, text + "; ".join(texts) + ".")]


def memory_per_task(result: ResultSet) -> dict[str, MemoryFigure]:
    """The memory per parked thread (``threads``) and asyncio task (``asyncio``) of the file,
    as ``findings.memory_figures`` gives them; a model without a memory cell is left out."""
    wanted = {model for model, _noun in MEMORY_MODELS}
    return {f.model: f for f in findings.memory_figures(result) if f.model in wanted}


@dataclass(frozen=True)
class KeyCell:
    """A line of the key-cell table: a row and model, or a memory figure (``row`` None)."""

    label: str
    model: str
    row: Row | None


def key_cells(results: Sequence[ResultSet]) -> list[KeyCell]:
    """The cells the files are compared on: every model of a parallel row; serial, threads and
    asyncio (with their twins) in pingpong, the hand-over and spawn rows; then the memory per
    parked thread and asyncio task. Only those some file measured or lists as a gap."""
    cells = []
    for row in findings.rows(results):
        models = findings.models(results, row)
        if not is_parallel_row(row):
            if row.spec not in KEY_SPECS:
                continue
            models = [model for model in models if gil_off_of(model) in KEY_MODELS]
        cells += [KeyCell(row.label, model, row) for model in with_twins(models)]
    figures = [memory_per_task(result) for result in results]
    for model, noun in MEMORY_MODELS:
        if any(model in found for found in figures):
            cells.append(KeyCell(f"memory per parked {noun}", model, None))
    return cells


def _value(result: ResultSet, cell: KeyCell) -> tuple[float, str] | None:
    """The cell's stored mean per operation (time or bytes) and its text, None when missing."""
    if cell.row is None:
        figure = memory_per_task(result).get(cell.model)
        return None if figure is None else (figure.user, format_bytes(figure.user))
    entry = findings.grid(result).get((cell.row, cell.model))
    if entry is None or not entry.values:
        return None
    return entry.mean, findings.show_entry(entry)


def why_missing(result: ResultSet, cell: KeyCell) -> str:
    """Why a file has no number for the cell: its gap, the twin rule, or what it lacks."""
    if cell.row is None:
        return f"no {cell.model} memory cell in the file"
    row = cell.row
    for gap in result.gaps:
        if (gap.workload, gap.params, gap.model) == (row.workload, row.params, cell.model):
            return f"{gap.status}: {gap.reason}"
    if is_gil_on_twin(cell.model) and not build_of(result).measures_twins:
        return TWINS_ONLY_BESIDE_GIL_OFF
    if row not in findings.rows([result]):
        return f"no {row.label} cell in the file"
    if cell.model not in result.model_facts:
        return f"no {cell.model} cell in the file"
    return "not in the file"


def key_table(results: Sequence[ResultSet]) -> Table | None:
    """The key cells, a column per file: its mean, and each other file's ratio to the first."""
    base = results[0]
    cells = key_cells(results)
    body = []
    for cell in cells:
        values = [_value(result, cell) for result in results]
        texts = []
        for index, value in enumerate(values):
            if value is None:
                texts.append(findings.MISSING)
                continue
            mean, text = value
            if index and values[0] is not None and values[0][0] > 0:
                text += f" ({findings.times(mean / values[0][0])})"
            texts.append(text)
        body.append((cell.label, cell.model, *texts))
    if not body:
        return None
    header = ("cell", "model", *(result.label for result in results))
    note = (
        f"Mean of each cell in each file; after another file's mean, in brackets, its ratio to "
        f"{base.label}'s: the mean of the stored values (time or bytes per operation) over "
        f"{base.label}'s, so below 1 is better, also for producer_consumer, which is shown in "
        "items per second. The files: "
        + "; ".join(f"{result.label} = {build_of(result).words}" for result in results)
        + ". "
    )
    if any(is_gil_on_twin(cell.model) for cell in cells):
        note += "X[gil=on]: the GIL-on twin of X, measured with PYTHON_GIL=1 beside a GIL-off run. "
    note += (
        "Memory per parked task: the slope of total bytes over N where a file measured three "
        f"sizes or more, else the largest N. {findings.MISSING} = not measured, see below."
    )
    return Table("Key cells on each build", header, tuple(body), "freethreaded-cells", note)


def missing_findings(results: Sequence[ResultSet]) -> list[Finding]:
    """Per file and reason, the key cells it has no number for."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for cell in key_cells(results):
        for result in results:
            if _value(result, cell) is None:
                where = cell.model if cell.row is None else f"{cell.model} in {cell.label}"
                grouped.setdefault((result.label, why_missing(result, cell)), []).append(where)
    found = []
    for (label, reason), cells in grouped.items():
        if reason == TWINS_ONLY_BESIDE_GIL_OFF:
            found.append(Finding(MISSING_TOPIC, f"{label}: no GIL-on twin: {reason}."))
        else:
            found.append(Finding(MISSING_TOPIC, f"{label}: {', '.join(cells)}: {reason}."))
    return found


def speedup_table(results: Sequence[ResultSet]) -> Table | None:
    """The speedups of every file's parallel rows side by side, a column per file."""
    per_file = [{row.row: row for row in row_speedups(result)} for result in results]
    body = []
    for row in findings.rows(results):
        measured = [found.get(row) for found in per_file]
        if not any(measured):
            continue
        names = [s.model for found in measured if found is not None for s in found.speedups]
        for model in with_twins(findings.model_order(names, results)):
            texts = []
            for found in measured:
                one = found.speedup(model) if found is not None else None
                texts.append(findings.MISSING if one is None else ratio_text(one))
            body.append((row.label, model, *texts))
    if not body:
        return None
    header = ("cell", "model", *(result.label for result in results))
    note = (
        "Speedup over serial: the serial time per operation over the model's in the same file, "
        "> 1 faster; paired over the rounds both cells ran, [lo"
        f"{paired.DASH}hi] its 95% interval (one containing 1: no clear difference from "
        "serial), else the ratio of the means. X[gil=on] against serial[gil=on], the serial "
        "twin of the same run, else against serial."
    )
    return Table("Speedup over serial on each build", header, tuple(body), "speedups", note)


def comparison_findings(results: Sequence[ResultSet]) -> list[Finding]:
    """The speedup statements of every file, row by row and file by file, each after its file's
    label; then the single-thread cost of each file against the first."""
    by_row: dict[Row, list[Finding]] = {}
    for result in results:
        build = build_of(result)
        for row in row_speedups(result):
            text = f"{result.label}: {row_text(row, build)}."
            by_row.setdefault(row.row, []).append(Finding(TOPIC, text))
    ordered = [found for row in findings.rows(results) for found in by_row.get(row, [])]
    return [*ordered, *cost_findings(results)]
