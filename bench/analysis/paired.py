"""Ratios within a row, from paired rounds.

A row is the cells of one workload with one set of parameters. The runner measures a row in
rounds: in each round one pyperf worker process per cell, in an order that changes from round
to round, and each run records its ``round`` (1-based) and the runner's ``rounds_session``. Two
runs of one row with the same session and round were measured side by side in time; that is a
pair. A cell that stops early (adaptive sampling) shares only the rounds both cells ran.

A cell's ratio to the row's reference (its serial baseline when the row has one, else its first
cell in model order) is its time per operation over the reference's:

- paired: per shared round, the ratio of the two runs' means; the estimate is the geometric
  mean of those ratios and its 95% interval Student's t on their logarithms, n = the paired
  rounds (no interval under two). A drift that slows a whole round slows both runs of it and
  cancels in its ratio.
- unpaired, for comparison: the ratio of the two cells' means, each the mean of its run means
  (the statistic the runner's stopping rule holds to its target), with an interval from each
  cell's standard error over its runs, combined on the log scale (delta method), Student's t
  with Welch's degrees of freedom. What separates the two intervals is what pairing bought.

Both count a run (one worker process) as one observation: values of one process share its
hash seed, memory layout and warm caches and are not independent of each other, so counting
them would narrow either interval for no reason but that.

A cell in which one (session, round) occurs in two runs pairs nothing, since which of them sat
beside the reference's run cannot be known; a run without a ``round`` (files from before
rounds, the per-cell path) pairs with nothing. Only timed cells are paired.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bench.analysis.findings import Row, Table
from bench.results.schema import (
    ROUND_KEY,
    ROUNDS_SESSION_KEY,
    Entry,
    ResultSet,
    collect_model_facts,
    ordered_models,
)
from bench.spec.precision import t_quantile_975
from bench.spec.workloads import SPECS, workload_facts

TITLE = "Ratios within each row, from paired rounds"
ANCHOR = "ratios"
TIMES = "\N{MULTIPLICATION SIGN}"
DASH = "\N{EN DASH}"
# Digits of a ratio; more only where the interval's ends would otherwise print alike.
RATIO_DIGITS = 3
MAX_RATIO_DIGITS = 6

RoundKey = tuple[str | None, int]


@dataclass(frozen=True)
class Ratio:
    """A time per operation over the reference's, and its 95% interval (None: fewer than two
    observations)."""

    value: float
    interval: tuple[float, float] | None

    @property
    def half_width(self) -> float | None:
        """The interval's half-width as a fraction of the ratio, on the log scale where it is
        symmetric: sqrt(high / low) - 1."""
        if self.interval is None:
            return None
        low, high = self.interval
        return math.sqrt(high / low) - 1


@dataclass(frozen=True)
class CellRatio:
    """One cell of a row against the row's reference. ``paired`` is None when the two share no
    round (``why_not_paired`` says why); ``rounds`` is the number of rounds paired; ``unpaired``
    is None when a mean is not positive."""

    model: str
    paired: Ratio | None
    rounds: int
    unpaired: Ratio | None
    why_not_paired: str = ""


@dataclass(frozen=True)
class RowRatios:
    workload: str
    params: str
    reference: str
    cells: tuple[CellRatio, ...]

    @property
    def row(self) -> Row:
        return Row(self.workload, self.params)

    @property
    def paired(self) -> bool:
        """Whether any cell of the row has a paired round with the reference."""
        return any(cell.paired is not None for cell in self.cells)


class RepeatedRound(ValueError):
    """A cell has two runs of one round: its runs cannot be paired."""


# --- rounds -----------------------------------------------------------------------------------


def round_key(metadata: Mapping[str, object]) -> RoundKey | None:
    """A run's (session, round), None for a run measured outside rounds."""
    number, session = metadata.get(ROUND_KEY), metadata.get(ROUNDS_SESSION_KEY)
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        return None
    return (session if isinstance(session, str) else None), number


def round_means(entry: Entry) -> dict[RoundKey, float]:
    """Each round's run mean (the mean of that run's values); raises RepeatedRound when a round
    occurs in two runs."""
    means: dict[RoundKey, float] = {}
    for run in entry.runs:
        key = round_key(entry.run_metadata(run))
        if key is None or not run.values:
            continue
        if key in means:
            raise RepeatedRound(f"round {key[1]} occurs in two of its runs")
        means[key] = statistics.fmean(run.values)
    return means


def run_means(entry: Entry) -> list[float]:
    """The mean of each run that has values, rounds or not; an entry made without runs is one
    run."""
    return [statistics.fmean(run.values) for run in entry.runs if run.values] or (
        [entry.mean] if entry.values else []
    )


# --- ratios -----------------------------------------------------------------------------------


def paired_ratio(
    cell: Mapping[RoundKey, float], reference: Mapping[RoundKey, float]
) -> tuple[Ratio | None, int]:
    """The paired ratio over the rounds both have, and how many those are; (None, 0) when they
    share none. Raises ValueError for a run mean that is not positive (no log ratio)."""
    shared = sorted(cell.keys() & reference.keys(), key=lambda key: (str(key[0]), key[1]))
    if not shared:
        return None, 0
    if any(not (cell[key] > 0 and reference[key] > 0) for key in shared):
        raise ValueError("a run mean is not positive")
    logs = [math.log(cell[key] / reference[key]) for key in shared]
    centre = statistics.fmean(logs)
    if len(logs) < 2:
        return Ratio(math.exp(centre), None), 1
    half = t_quantile_975(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return Ratio(math.exp(centre), (math.exp(centre - half), math.exp(centre + half))), len(logs)


def unpaired_ratio(cell: Sequence[float], reference: Sequence[float]) -> Ratio | None:
    """The ratio of the means of two sets of run means, with an interval from their separate
    standard errors (none when either has a single run); None when a mean is not positive."""
    if not cell or not reference:
        return None
    cell_mean, reference_mean = statistics.fmean(cell), statistics.fmean(reference)
    if not (cell_mean > 0 and reference_mean > 0):
        return None
    value = cell_mean / reference_mean
    if len(cell) < 2 or len(reference) < 2:
        return Ratio(value, None)
    # Relative squared standard errors: the variances of the two logs (delta method).
    terms = [
        statistics.variance(sample) / len(sample) / statistics.fmean(sample) ** 2
        for sample in (cell, reference)
    ]
    total = sum(terms)
    if total == 0:
        return Ratio(value, (value, value))
    welch = total**2 / sum(
        term**2 / (len(sample) - 1) for term, sample in zip(terms, (cell, reference), strict=True)
    )
    half = t_quantile_975(max(1, math.floor(welch))) * math.sqrt(total)
    return Ratio(value, (value * math.exp(-half), value * math.exp(half)))


def reference_of(cells: Sequence[Entry]) -> Entry:
    """The row's serial baseline when it has one, else its first cell in model order."""
    baseline = [entry for entry in cells if entry.model_facts.baseline]
    if baseline:
        return baseline[0]
    return min(cells, key=lambda entry: (entry.model_facts.sort_key, str(entry.model)))


def cell_ratio(
    entry: Entry, reference: Entry, reference_rounds: dict[RoundKey, float] | None
) -> CellRatio:
    """``entry`` against the reference (``reference_rounds``: its round means, None when its
    rounds repeat)."""
    model = str(entry.model)
    unpaired = unpaired_ratio(run_means(entry), run_means(reference))
    if reference_rounds is None:
        return CellRatio(model, None, 0, unpaired, "the reference's rounds repeat")
    try:
        paired, rounds = paired_ratio(round_means(entry), reference_rounds)
    except ValueError as exc:  # a repeated round, or a run mean that is not positive
        return CellRatio(model, None, 0, unpaired, str(exc))
    why = "" if paired is not None else "no round shared with the reference"
    return CellRatio(model, paired, rounds, unpaired, why)


def row_ratios(entries: Iterable[Entry]) -> list[RowRatios]:
    """Every row of two or more timed cells of the suite, each cell against the row's
    reference; rows in the suite's workload order, then as the entries first give them."""
    by_row: dict[tuple[str, str], list[Entry]] = {}
    for entry in entries:
        if entry.is_suite_benchmark and entry.unit == "second" and entry.values:
            by_row.setdefault((str(entry.workload), str(entry.params)), []).append(entry)
    order = {name: index for index, name in enumerate(SPECS)}
    found = []
    for (workload, params), cells in sorted(
        by_row.items(), key=lambda item: order.get(item[0][0], len(order))
    ):
        if len(cells) < 2:
            continue
        reference = reference_of(cells)
        try:
            reference_rounds: dict[RoundKey, float] | None = round_means(reference)
        except RepeatedRound:
            reference_rounds = None
        models = ordered_models([str(entry.model) for entry in cells], collect_model_facts(cells))
        by_model = {str(entry.model): entry for entry in cells}
        ratios = tuple(
            cell_ratio(by_model[model], reference, reference_rounds)
            for model in models
            if by_model[model] is not reference
        )
        found.append(RowRatios(workload, params, str(reference.model), ratios))
    return found


def paired_rows(entries: Iterable[Entry]) -> list[RowRatios]:
    """The rows that have paired rounds."""
    return [row for row in row_ratios(entries) if row.paired]


# --- in words ---------------------------------------------------------------------------------


def _significant(value: float, digits: int) -> str:
    if not (value > 0 and math.isfinite(value)):
        return f"{value:g}"
    rounded = float(f"{value:.{digits}g}")
    decimals = max(0, digits - 1 - math.floor(math.log10(rounded)))
    return f"{rounded:,.{decimals}f}"


def ratio_text(ratio: Ratio) -> str:
    """The ratio and its interval, "1.23x [1.20-1.26]" (with the multiplication sign and an en
    dash): three significant digits, up to six where an end of the interval would otherwise
    print like the estimate; "1.23x, no interval" from a single observation."""
    if ratio.interval is None:
        return f"{_significant(ratio.value, RATIO_DIGITS)}{TIMES}, no interval"
    low, high = ratio.interval

    def texts(digits: int) -> list[str]:
        return [_significant(number, digits) for number in (low, ratio.value, high)]

    distinct = (
        found
        for digits in range(RATIO_DIGITS, MAX_RATIO_DIGITS + 1)
        if len(set(found := texts(digits))) == 3
    )
    # An interval too narrow for six digits is shown at three: it reads as the point it is.
    shown = next(distinct, texts(RATIO_DIGITS))
    return f"{shown[1]}{TIMES} [{shown[0]}{DASH}{shown[2]}]"


def paired_text(cell: CellRatio) -> str:
    return ratio_text(cell.paired) if cell.paired is not None else cell.why_not_paired


def unpaired_text(cell: CellRatio) -> str:
    return ratio_text(cell.unpaired) if cell.unpaired is not None else "mean not positive"


def explanation(workloads: Iterable[str]) -> str:
    """What a ratio is and how its interval was computed; for a throughput workload among
    ``workloads``, the same in the rate its means table shows."""
    rates = []
    for workload in dict.fromkeys(workloads):
        facts = workload_facts(workload)
        if facts is not None and facts.throughput:
            rates.append(
                f"for {workload}, shown in {facts.rate_unit}, the reference's {facts.rate_unit} "
                "over the model's"
            )
    return (
        f"{TIMES} ref: the model's time per operation over the reference's, so > 1 is slower"
        + "".join(f"; {rate}" for rate in rates)
        + "; the reference: the row's serial baseline, else its first model. The geometric "
        "mean over the rounds both cells ran of the ratio of their run means, "
        f"[lo{DASH}hi] its 95% interval: Student's t on the log ratios, n = the paired rounds, "
        "none under 2. Unpaired, for comparison: the ratio of the cells' means, its interval "
        "from each cell's standard error over its runs (Welch)"
    )


def pairing_summary(rows: Iterable[RowRatios]) -> str | None:
    """How much narrower pairing made the intervals, over the ratios that have both."""
    widths = [
        (paired, unpaired)
        for row in rows
        for cell in row.cells
        if cell.paired is not None
        and cell.unpaired is not None
        and (paired := cell.paired.half_width) is not None
        and (unpaired := cell.unpaired.half_width) is not None
    ]
    if not widths:
        return None
    narrower = sum(paired < unpaired for paired, unpaired in widths)
    paired_median = statistics.median(paired for paired, _ in widths)
    unpaired_median = statistics.median(unpaired for _, unpaired in widths)
    return (
        f"Paired interval narrower than the unpaired one for {narrower} of {len(widths)} "
        f"ratios; median half-width ±{_percent(paired_median)} paired, "
        f"±{_percent(unpaired_median)} unpaired"
    )


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.1f}%" if fraction < 0.1 else f"{100 * fraction:.0f}%"


HEADER = ("cell", "reference", "model", f"{TIMES} ref [95%]", "rounds", "unpaired [95%]")


def table_lines(row: RowRatios) -> list[tuple[str, ...]]:
    """A row's lines: its label, reference, then per other model the paired ratio, the rounds
    paired and the unpaired ratio."""
    return [
        (row.row.label, row.reference, cell.model, paired_text(cell), str(cell.rounds),
         unpaired_text(cell))
        for cell in row.cells
    ]  # fmt: skip


def ratio_table(results: Sequence[ResultSet]) -> Table | None:
    """The rows with paired rounds of each file, as a report table (with several files, a
    row's lines of each file together); None when no file has any."""
    several = len(results) > 1
    per_file = [
        (result.label, {(row.workload, row.params): row for row in paired_rows(result.entries)})
        for result in results
    ]
    order = {name: index for index, name in enumerate(SPECS)}
    keys = sorted(
        dict.fromkeys(key for _, rows in per_file for key in rows),
        key=lambda key: order.get(key[0], len(order)),
    )
    body: list[tuple[str, ...]] = []
    shown: list[RowRatios] = []
    for key in keys:
        for label, rows in per_file:
            row = rows.get(key)
            if row is None:
                continue
            shown.append(row)
            for line in table_lines(row):
                body.append((line[0], *((label,) if several else ()), *line[1:]))
    if not body:
        return None
    header = (HEADER[0], *(("file",) if several else ()), *HEADER[1:])
    note = explanation(row.workload for row in shown) + "."
    summary = pairing_summary(shown)
    if summary:
        note += f" {summary}."
    return Table(TITLE, header, tuple(body), ANCHOR, note)
