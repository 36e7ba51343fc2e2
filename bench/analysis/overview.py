"""The answer first: what the report's first screen shows, computed from result files with no
rendering (``bench.render.htmlreport`` draws it).

- ``cost_grid``: for one file, a models x cells grid of each model's cost relative to the serial
  baseline and to the best model of its row. A cost is the stored mean per operation (time per
  switch, item or task; bytes per parked task), lower is better for every workload, except for a
  fan_out with a recorded ideal makespan: its cost is what the model adds to the waits (the
  overhead per task), since the makespan also holds the waits, the same for every model.
- ``change_grid``: for several files, the same grid of each later file against the first, with
  the comparison's ratio and verdict (``bench.analysis.comparison``), the files labelled as it
  labels them.
- ``normalised_grids``: when the machines differ (``comparison.MachineDifference``), the same
  grids relative to serial in the same file: each cell the ratio of the models' costs as
  multiples of their own file's serial baseline, which a change of machine leaves alone.
- ``headlines``: the few statements that matter most, ranked by how far the data is from what a
  reader would assume without it. Each candidate has a factor and an expected factor, and its
  score is |ln(factor / expected)|: models doing the same work are assumed to cost the same (a
  row's spread, a winner's margin: expected 1), a latency tail to reach about twice its median
  (``EXPECTED_TAIL``), a swept model to keep its cost per operation (expected 1), a file to
  measure what the first did (a ratio: expected 1). A failed cell is always said first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bench.analysis import comparison, findings, sweep
from bench.analysis.findings import (
    Row,
    baseline_of,
    grid,
    model_colours,
    model_order,
    rows,
    times,
)
from bench.results.schema import Entry, ResultSet
from bench.spec.workloads import LATENCY_WORKLOADS, workload_facts
from bench.units import format_duration, format_rate

# p99 / p50 a reader assumes of a latency distribution without outliers.
EXPECTED_TAIL = 2.0
MAX_HEADLINES = 6
MIN_HEADLINES = 3
# Factors this close to the expectation say nothing worth the first screen.
NEGLIGIBLE_SCORE = math.log(1.1)

Verdict = Literal["improved", "regressed", "same", "untested"]


@dataclass(frozen=True)
class Cost:
    """One model's cell of the cost grid."""

    model: str
    value: str
    # The value as a table cell shows it: a rate without its unit, which the note gives.
    short: str
    vs_serial: float | None
    vs_best: float
    best: bool
    detail: str


@dataclass(frozen=True)
class CostRow:
    row: Row
    cells: dict[str, Cost]
    best_model: str
    what: str


@dataclass(frozen=True)
class CostGrid:
    label: str
    models: tuple[str, ...]
    rows: tuple[CostRow, ...]
    # Each model's colour, as its cells record it (``ModelFacts.colour``).
    colours: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeCell:
    model: str
    ratio: float | None
    verdict: Verdict
    text: str
    detail: str


@dataclass(frozen=True)
class ChangeRow:
    row: Row
    cells: dict[str, ChangeCell]


@dataclass(frozen=True)
class ChangeGrid:
    """One later file against the base: ``index`` is its position among the later files."""

    base_label: str
    label: str
    models: tuple[str, ...]
    rows: tuple[ChangeRow, ...]
    summary: str
    colours: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Headline:
    score: float
    topic: str
    text: str
    # Statements of one group (a workload, a comparison) compete for one place first.
    group: str


def _what(row: Row) -> str:
    """What a cost is: the stored value, also for a throughput (its time per operation)."""
    facts = workload_facts(row.workload)
    return facts.value if facts is not None else findings.unit_word(row.workload)


def _cost_detail(
    row: Row, model: str, entry: Entry, best: tuple[str, Entry], serial: Entry | None
) -> str:
    parts = [f"{model}, {row.label}: {findings.show_entry(entry)}{findings.spread_percent(entry)}"]
    facts = workload_facts(row.workload)
    if facts is not None and facts.throughput:
        parts.append(f"{format_duration(entry.mean)} per {facts.operation}")
    overhead = findings.overhead_mean(entry)
    if overhead is not None:
        parts.append(f"adds {findings.overhead_text(overhead)} per task to the waits")
    best_model, best_entry = best
    if best_model == model:
        parts.append("the best of the row")
    else:
        parts.append(f"{times(cost_of(entry) / cost_of(best_entry))} the best ({best_model})")
    if serial is not None and not entry.model_facts.baseline:
        parts.append(f"{times(cost_of(entry) / cost_of(serial))} the serial baseline")
    return "; ".join(parts)


def cost_of(entry: Entry) -> float:
    """What the cost table compares: the overhead per task of a fan_out with a recorded ideal
    makespan (what "what does the model cost" asks; the makespan also holds the waits), else the
    mean per operation."""
    overhead = findings.overhead_mean(entry)
    return entry.mean if overhead is None else overhead


def _short(row: Row, entry: Entry) -> str:
    facts = workload_facts(row.workload)
    if findings.overhead_mean(entry) is not None:
        text = "+" + findings.overhead_text(cost_of(entry))
    elif facts is not None and facts.throughput and entry.mean > 0:
        # The rate without its unit, which the note gives: "12.3 k/s".
        text = format_rate(1.0 / entry.mean) + "/s"
    else:
        text = findings.show_entry(entry)
    return text.replace(" ", "\N{NO-BREAK SPACE}")


def cost_grid(result: ResultSet) -> CostGrid | None:
    """Every row of the file with a positive cost: each model's cost against serial and the best
    (the serial baseline does not compete for best unless it is alone)."""
    cells_of = grid(result)
    names = model_order(
        (model for (_row, model), entry in cells_of.items() if cost_of(entry) > 0), [result]
    )
    body = []
    for row in rows([result]):
        entries = {
            model: cells_of[row, model]
            for model in names
            if (row, model) in cells_of and cost_of(cells_of[row, model]) > 0
        }
        if not entries:
            continue
        baseline = baseline_of(entries)
        competing = {m: e for m, e in entries.items() if m != baseline} or entries
        best = min(competing.items(), key=lambda item: cost_of(item[1]))
        serial = entries[baseline] if baseline is not None else None
        cells = {
            model: Cost(
                model=model,
                value=findings.show_entry(entry),
                short=_short(row, entry),
                vs_serial=None if serial is None else cost_of(entry) / cost_of(serial),
                vs_best=cost_of(entry) / cost_of(best[1]),
                best=model == best[0],
                detail=_cost_detail(row, model, entry, best, serial),
            )
            for model, entry in entries.items()
        }
        body.append(CostRow(row, cells, best[0], _what(row)))
    if not body:
        return None
    return CostGrid(result.label, tuple(names), tuple(body), model_colours(names, [result]))


def _verdict(change: comparison.Change) -> Verdict:
    if change.status in ("improved", "regressed"):
        return change.status
    if change.status in comparison.UNTESTED or change.status == "undefined":
        return "untested"
    return "same"


def change_grids(result: comparison.Comparison) -> list[ChangeGrid]:
    """Per later file, a models x cells grid of its ratio to the base and the verdict."""
    names = model_order((row.model for row in result.rows if row.model is not None), result.files)
    grids = []
    base = result.base.label
    for index, label in enumerate(result.labels[1:]):
        by_row: dict[Row, dict[str, ChangeCell]] = {}
        for compared in result.rows:
            change = compared.changes[index]
            row = _suite_row(compared)
            if change is None or row is None or compared.model is None:
                continue
            by_row.setdefault(row, {})[compared.model] = _change_cell(compared, index, base)
        order = {row: position for position, row in enumerate(rows(result.files))}
        body = tuple(
            ChangeRow(row, cells)
            for row, cells in sorted(by_row.items(), key=lambda item: order.get(item[0], 0))
        )
        # Only the models compared with this file: not a GIL-on twin the base never measured.
        shown = tuple(name for name in names if any(name in row.cells for row in body))
        if body:
            grids.append(
                ChangeGrid(
                    base,
                    label,
                    shown,
                    body,
                    _change_summary(result, index),
                    model_colours(shown, result.files),
                )
            )
    return grids


def _suite_row(compared: comparison.Row) -> Row | None:
    if compared.workload is None or compared.params is None:
        return None
    if findings.spec_of(compared.workload, compared.params) is None:
        return None
    return Row(compared.workload, compared.params)


def _side_text(compared: comparison.Row, mean: float) -> str:
    if compared.judged_on_overhead:
        return f"adds {findings.overhead_text(mean)}"
    return findings.show_value(compared.workload, compared.unit, mean)


def _change_cell(compared: comparison.Row, index: int, base: str) -> ChangeCell:
    change = compared.changes[index]
    assert change is not None
    old, new = compared.sides[0], compared.sides[index + 1]
    verdict = _verdict(change)
    label = findings.benchmark_label(
        compared.workload, compared.params, compared.model, compared.name
    )
    parts = [label + (f" [{findings.OVERHEAD_LABEL}]" if compared.judged_on_overhead else "")]
    if old is not None and new is not None:
        parts.append(
            f"{_side_text(compared, old.mean)} in {base}, {_side_text(compared, new.mean)} in "
            f"{change.label}"
        )
    if change.ratio is not None:
        ratio = f"ratio {change.ratio:.3f}"
        if change.ci is not None:
            ratio += f" (95% interval {change.ci[0]:.3f} to {change.ci[1]:.3f})"
        parts.append(ratio)
    if change.p_value is not None:
        parts.append(f"p = {change.p_value:.2g}")
    parts.append(change.verdict)
    text = "n/a" if change.ratio is None else f"{change.ratio:.2f}{findings.TIMES}"
    model = compared.model or compared.name
    return ChangeCell(model, change.ratio, verdict, text, "; ".join(parts))


def normalised_grids(result: comparison.Comparison) -> list[ChangeGrid]:
    """Per later file, the change grid relative to serial in the same file, when the comparison
    holds one (``Comparison.normalisation``)."""
    if result.normalisation is None:
        return []
    normalised = result.normalisation.rows
    names = model_order((n.row.model for n in normalised if n.row.model is not None), result.files)
    order = {row: position for position, row in enumerate(rows(result.files))}
    base = result.base.label
    grids = []
    for index, label in enumerate(result.labels[1:]):
        by_row: dict[Row, dict[str, ChangeCell]] = {}
        for relative in normalised:
            change = relative.changes[index]
            row = _suite_row(relative.row)
            if change is None or row is None or relative.row.model is None:
                continue
            old, new = relative.sides[0], relative.sides[index + 1]
            compared = relative.row
            label_of = findings.benchmark_label(
                compared.workload, compared.params, compared.model, compared.name
            )
            parts = [f"{label_of} relative to serial in the same file"]
            if old is not None and new is not None:
                parts.append(f"{old.mean:.3g}x serial in {base}, {new.mean:.3g}x in {label}")
            if change.ratio is not None:
                parts.append(f"ratio {change.ratio:.3f}")
            if change.p_value is not None:
                parts.append(f"p = {change.p_value:.2g}")
            parts.append(change.verdict)
            text = "n/a" if change.ratio is None else f"{change.ratio:.2f}{findings.TIMES}"
            by_row.setdefault(row, {})[relative.row.model] = ChangeCell(
                relative.row.model, change.ratio, _verdict(change), text, "; ".join(parts)
            )
        body = tuple(
            ChangeRow(row, cells)
            for row, cells in sorted(by_row.items(), key=lambda item: order.get(item[0], 0))
        )
        if body:
            cells = [cell for change_row in body for cell in change_row.cells.values()]
            better = sum(1 for cell in cells if cell.verdict == "improved")
            worse = sum(1 for cell in cells if cell.verdict == "regressed")
            summary = (
                f"{label} against {base}, relative to serial in the same file: {better} of "
                f"{len(cells)} benchmarks significantly better, {worse} significantly worse; "
                f"{len(result.normalisation.not_normalisable)} not normalisable (no serial "
                "baseline)."
            )
            grids.append(
                ChangeGrid(
                    base, label, tuple(names), body, summary, model_colours(names, result.files)
                )
            )
    return grids


def change_detail(compared: comparison.Row, index: int, base: str) -> str:
    """Both means, the ratio with its interval, p and the verdict of one later file."""
    return _change_cell(compared, index, base).detail


def _change_summary(result: comparison.Comparison, index: int) -> str:
    changes = [row.changes[index] for row in result.rows if row.changes[index] is not None]
    improved = sum(1 for c in changes if c is not None and c.status == "improved")
    regressed = sum(1 for c in changes if c is not None and c.status == "regressed")
    label = result.labels[index + 1]
    return (
        f"{label} against {result.base.label}: {improved} of {len(changes)} benchmarks "
        f"significantly better, {regressed} significantly worse (Mann-Whitney U, "
        f"p < {result.options.alpha:g}, changes of at least {result.options.min_change_pct:g}%)."
    )


# --- headlines --------------------------------------------------------------------------------


def _score(factor: float, expected: float = 1.0) -> float:
    return abs(math.log(factor / expected)) if factor > 0 else 0.0


def _spread_headline(row: CostRow, result: ResultSet) -> Headline | None:
    """The best model of a row, its margin over the runner-up and how far the worst is."""
    cells = grid(result)
    baseline = baseline_of({model: cells[row.row, model] for model in row.cells})
    competing = sorted(
        (cost for model, cost in row.cells.items() if model != baseline or len(row.cells) == 1),
        key=lambda cost: cost.vs_best,
    )
    if len(competing) < 2:
        return None
    best, second, worst = competing[0], competing[1], competing[-1]
    best_entry, second_entry = cells[row.row, best.model], cells[row.row, second.model]
    noise = max(best_entry.values) >= min(second_entry.values)
    margin = (
        f"within the noise of the runner-up {second.model}"
        if noise
        else f"{times(second.vs_best)} ahead of the runner-up {second.model} ({second.value})"
    )
    text = f"{row.row.label}: {best.model} is cheapest ({best.value}), {margin}"
    if worst.model != second.model:
        text += (
            f"; {worst.model} costs {times(worst.vs_best)} as much as {best.model} ({worst.value})"
        )
    serial = row.cells.get(baseline) if baseline is not None else None
    if serial is not None:
        text += f"; the serial baseline: {serial.value}"
    return Headline(_score(worst.vs_best), "cost", text + ".", f"cost:{row.row.workload}")


def _tail_headline(result: ResultSet, row: Row) -> Headline | None:
    records = {
        model: entry.latency
        for (cell_row, model), entry in grid(result).items()
        if cell_row == row
        and entry.latency is not None
        and (entry.latency.p99 or 0) > 0
        and (entry.latency.p50 or 0) > 0
    }
    if not records:
        return None
    model, record = max(
        records.items(),
        key=lambda item: _score((item[1].p99 or 1) / (item[1].p50 or 1), EXPECTED_TAIL),
    )
    assert record.p99 is not None and record.p50 is not None
    tail = record.p99 / record.p50
    if tail < EXPECTED_TAIL:
        return None
    text = (
        f"{row.label}: {model}'s slowest 1% ({record.what.split(':', 1)[0].strip()}) take "
        f"{format_duration(record.p99)} or more, {times(tail)} its median "
        f"({format_duration(record.p50)})."
    )
    return Headline(_score(tail, EXPECTED_TAIL), "tail", text, f"tail:{row.workload}")


def _scaling_headlines(result: ResultSet) -> list[Headline]:
    found = []
    for series in findings.sweeps(result):
        if not series.sizes:
            continue
        fit = sweep.scaling(series, findings.SCALING_FACTOR)
        if fit.stops_at is None or fit.ratio_at_stop is None:
            continue
        text = (
            f"{findings.sweep_label(series)}: {series.model} stops scaling at "
            f"N={fit.stops_at:,}, where its time per {findings.operation_word(series.workload)} "
            f"is {times(fit.ratio_at_stop)} its best ({format_duration(fit.best_value)} at "
            f"N={fit.best_size:,})."
        )
        group = f"scaling:{series.workload}:{series.fixed}"
        found.append(Headline(_score(fit.ratio_at_stop), "scaling", text, group))
    return found


def _gap_headlines(result: ResultSet, several: bool) -> list[Headline]:
    failed = [gap for gap in result.gaps if gap.status == "failed"]
    if not failed:
        return []
    where = f" in {result.label}" if several else ""
    first = failed[0]
    name = f"{first.workload} {first.params} / {first.model}" if first.model else first.name
    more = f" (and {len(failed) - 1} more; see Gaps)" if len(failed) > 1 else ""
    text = f"{len(failed)} cell(s) failed{where}: {name}: {first.reason}{more}."
    return [Headline(math.inf, "gaps", text, f"gaps:{result.label}")]


def _change_headlines(result: comparison.Comparison) -> list[Headline]:
    found = []
    base = result.base.label
    for mean in result.geometric_means:
        if mean.group != "overall":
            continue
        better, worse = comparison.direction_words(mean.unit)
        direction = (
            f"{times(1 / mean.ratio)} {better}"
            if mean.ratio < 1
            else f"{times(mean.ratio)} {worse}"
        )
        text = (
            f"Over {mean.count} benchmarks measured in {mean.quantity}, {mean.label} is "
            f"{direction} than {base} (geometric mean of the ratios: {mean.ratio:.3f})."
        )
        # The overall verdict always leads a comparison: it is what the reader came for.
        found.append(Headline(math.inf, "change", text, f"overall:{mean.label}:{mean.unit}"))
    for index, _label in enumerate(result.labels[1:]):
        for compared in result.rows:
            change = compared.changes[index]
            if (
                change is None
                or change.ratio is None
                or change.status not in ("improved", "regressed")
            ):
                continue
            cell = _change_cell(compared, index, base)
            better, worse = comparison.direction_words(compared.unit)
            factor = change.ratio if change.ratio >= 1 else 1 / change.ratio
            word = worse if change.ratio >= 1 else better
            text = f"{cell.detail.split('; ')[0]}: {times(factor)} {word} in {change.label}"
            old, new = compared.sides[0], compared.sides[index + 1]
            if old is not None and new is not None:
                text += (
                    f" ({_side_text(compared, new.mean)} against "
                    f"{_side_text(compared, old.mean)} in {base}"
                )
                text += f", p = {change.p_value:.2g})" if change.p_value is not None else ")"
            group = f"change:{compared.workload}:{compared.model}"
            found.append(Headline(_score(change.ratio), "change", text + ".", group))
    return found


def headlines(
    results: Sequence[ResultSet], compared: comparison.Comparison | None
) -> list[Headline]:
    """The ``MIN_HEADLINES`` to ``MAX_HEADLINES`` statements with the highest scores, one per
    group first (so one workload cannot fill the list), then the best of the rest; an empty
    list when the data supports no statement."""
    several = len(results) > 1
    candidates: list[Headline] = []
    for result in results:
        candidates += _gap_headlines(result, several)
    if compared is not None:
        candidates += _change_headlines(compared)
    else:
        result = results[0]
        table = cost_grid(result)
        for row in table.rows if table is not None else ():
            spread = _spread_headline(row, result)
            candidates += [spread] if spread is not None else []
            if row.row.workload in LATENCY_WORKLOADS:
                tail = _tail_headline(result, row.row)
                candidates += [tail] if tail is not None else []
        candidates += _scaling_headlines(result)
    ranked = sorted(candidates, key=lambda h: -h.score)
    chosen: list[Headline] = []
    groups: set[str] = set()
    for headline in ranked:
        if headline.group not in groups and len(chosen) < MAX_HEADLINES:
            chosen.append(headline)
            groups.add(headline.group)
    for headline in ranked:
        if len(chosen) >= MIN_HEADLINES:
            break
        if headline not in chosen:
            chosen.append(headline)
    worth = [h for h in chosen if h.score > NEGLIGIBLE_SCORE]
    kept = worth if len(worth) >= MIN_HEADLINES else chosen[:MIN_HEADLINES]
    return sorted(kept, key=lambda h: -h.score)
