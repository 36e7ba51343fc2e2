"""Rendering a ``Comparison`` as text (aligned columns), Markdown (GitHub tables for a pull
request), CSV (one row per benchmark and file, raw numbers) or JSON (a versioned schema).

Human formats show values in human units (durations, items/s for producer_consumer, KiB/MiB);
the machine formats keep the stored numbers (seconds per operation, bytes per task) untouched,
except on a fan_out row judged on its overhead (``Row.judged_on_overhead``), whose numbers are
the overhead per task in every format, labelled as such, with the ideal makespan / N that was
subtracted (CSV ``ideal_per_op``, JSON ``ideal_per_op``) so that the makespan stays available.
Benchmarks with latency records in the base and another file get a percentile section (text,
Markdown: p50, p90, p99, p99.9 per file, the rounds per stamp of a batched pingpong, the p99
ratio and its verdict; "below timer resolution" where the timer cannot resolve a cell, never a
number); CSV adds the percentiles and the p99 verdict as columns, JSON every field of the
records.

Machines: when a file's machine calibration differs from the base's beyond the threshold, the
first line of the text and Markdown output says so ("the machines differ: ..."). Every format
then has the comparison relative to serial in the same file (``Comparison.normalisation``):
a section of its own in text and Markdown, ``relative_*`` columns in CSV, ``normalised`` in
JSON. The environment header shows every file's calibration.
"""

from __future__ import annotations

import csv
import io
import json
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.analysis import stats
from bench.analysis.comparison import (
    RELATIVE_UNIT,
    Change,
    Comparison,
    EnvironmentDifference,
    GeometricMean,
    LatencyChange,
    LatencyRegression,
    NormalisedRow,
    Regression,
    Row,
    Side,
)
from bench.analysis.stats import EXACT_MAX_PRODUCT, EXACT_TIES_MAX_TOTAL
from bench.results.schema import Calibration, LatencyRecord
from bench.spec.resolution import BELOW_RESOLUTION, RESOLUTION
from bench.spec.workloads import SPECS, SpecError, workload_facts
from bench.units import format_bytes, format_duration

FORMATS = ("text", "markdown", "csv", "json")
JSON_SCHEMA = "concbench-compare"
JSON_SCHEMA_VERSION = 1
TIMES = "\N{MULTIPLICATION SIGN}"
OVERHEAD_LABEL = "overhead per task"
RELATIVE_TITLE = "Relative to serial in the same file"
RELATIVE_NOTE = (
    "Each time benchmark's values divided by the mean of its own file's serial baseline for the "
    "same workload and parameters: a dimensionless cost that a change of machine leaves alone. "
    "Ratio and test as for the raw values. Memory and the serial rows themselves are left out."
)

TEST_NAME = "Mann-Whitney U"
TEST_DESCRIPTION = (
    f"two-sided {TEST_NAME} test (exact distribution for small samples: n1*n2 <= "
    f"{EXACT_MAX_PRODUCT} without ties, n1+n2 <= {EXACT_TIES_MAX_TOTAL} with ties; otherwise "
    "normal approximation with tie and continuity correction)"
)
STATUS_ORDER = (
    "improved",
    "regressed",
    "no_change",
    "not_significant",
    "too_few_values",
    "untestable",
    "undefined",
)


LATENCY_COLUMNS = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"))


@dataclass(frozen=True)
class Gates:
    """The thresholds of the regression gates asked for: the mean's and the p99's (percent)."""

    mean_pct: float | None = None
    p99_pct: float | None = None


def render(
    comparison: Comparison,
    output_format: str,
    fail_above_pct: float | None = None,
    fail_above_p99_pct: float | None = None,
) -> str:
    """``fail_above_pct`` and ``fail_above_p99_pct`` add the regression gates' verdicts (text,
    Markdown and JSON)."""
    renderers: dict[str, Callable[[Comparison, Gates], str]] = {
        "text": render_text,
        "markdown": render_markdown,
        "csv": lambda comparison, _: render_csv(comparison),
        "json": render_json,
    }
    return renderers[output_format](comparison, Gates(fail_above_pct, fail_above_p99_pct))


def regression_text(regression: Regression) -> str:
    change = regression.change
    assert change.change_pct is not None
    what = f" {OVERHEAD_LABEL}" if regression.row.judged_on_overhead else ""
    if regression.normalised:
        what = " relative to serial"
    return (
        f"{regression.row.key}:{what} {change.change_pct:.1f}% {change.verdict} in "
        f"{change.label} than in {regression.base_label} ({p_phrase(change.p_value)})"
    )


def latency_regression_text(regression: LatencyRegression) -> str:
    change = regression.change
    assert change.change_pct is not None
    return (
        f"{regression.row.key}: p99 latency {change.change_pct:.1f}% {change.verdict} in "
        f"{change.label} than in {regression.base_label} ({p_phrase(change.p_value)}, "
        f"{change.runs[0]} vs {change.runs[1]} runs)"
    )


def _latency_gate_lines(comparison: Comparison, fail_above_p99_pct: float | None) -> list[str]:
    if fail_above_p99_pct is None:
        return []
    lines = _gate_report(
        f"p99 latency gate (--fail-above-p99 {fail_above_p99_pct:g}%)",
        "significantly higher",
        [latency_regression_text(r) for r in comparison.latency_regressions(fail_above_p99_pct)],
        len(comparison.latency_untested()),
        noun="p99 comparison",
        why="too few runs, or no per-run values",
    )
    if not any(row.latency_compared for row in comparison.rows):
        lines.append("No benchmark has latency records in the base and another file.")
    return lines


def _gate_lines(comparison: Comparison, fail_above_pct: float | None) -> list[str]:
    if fail_above_pct is None:
        return []
    judged = (
        "values relative to serial in the same file (--normalise)"
        if comparison.gate_normalised
        else "raw values"
    )
    return _gate_report(
        f"Regression gate (--fail-above {fail_above_pct:g}%, judged on {judged})",
        "significantly worse",
        [regression_text(r) for r in comparison.regressions(fail_above_pct)],
        len(comparison.untested()),
        noun="comparison",
        why="too few values",
    )


def _gate_report(
    title: str, worse: str, regressions: list[str], untested: int, *, noun: str, why: str
) -> list[str]:
    """A gate's verdict, one line per regression, and what it could not see into."""
    lines = [f"{title}: " + (f"FAILED, {len(regressions)} {worse}" if regressions else "passed")]
    lines += regressions
    if untested:
        lines.append(
            f"Not covered by the gate: {plural(untested, noun)} could not be tested ({why})."
        )
    return lines


# -- human units --------------------------------------------------------------------------------


def row_label(row: Row) -> str:
    """``workload short-params / model`` for the suite's benchmarks, the name otherwise."""
    if row.workload is None or row.params is None or row.model is None:
        return row.name
    return f"{row.workload} {_short_params(row.workload, row.params)} / {row.model}"


def value_label(row: Row) -> str:
    """``row_label``, marked when the row's values are the fan_out overhead per task."""
    return row_label(row) + (f" [{OVERHEAD_LABEL}]" if row.judged_on_overhead else "")


def _short_params(workload: str, params: str) -> str:
    spec_class = SPECS.get(workload)
    if spec_class is None:
        return params
    try:
        return spec_class.from_params(params).short_params()
    except (SpecError, TypeError, ValueError):
        return params  # a spec from another suite version: the canonical string still says it


def format_mean(side: Side, workload: str | None) -> str:
    """The mean in human units with its spread (standard deviation as % of the mean)."""
    spec_class = SPECS.get(workload) if workload is not None else None
    if spec_class is not None and spec_class.unit == side.unit:
        text = spec_class.show(side.mean)
    elif side.unit == "second":
        text = format_duration(side.mean)
    elif side.unit == "byte":
        text = format_bytes(side.mean)
    else:
        text = f"{side.mean:.4g} {side.unit}"
    if side.n >= 2 and side.mean != 0:
        text += f" ±{100 * side.stdev / abs(side.mean):.0f}%"
    return text


def format_ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def format_change(change_pct: float | None) -> str:
    return "-" if change_pct is None else f"{change_pct:+.1f}%"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def p_phrase(p_value: float | None) -> str:
    """``p=0.003``, ``p<0.0001``, or ``no p-value``."""
    if p_value is None:
        return "no p-value"
    text = format_p(p_value)
    return f"p{text}" if text.startswith("<") else f"p={text}"


def format_p(p_value: float | None) -> str:
    if p_value is None:
        return "-"
    if p_value < 0.0001:
        return "<0.0001"
    return f"{p_value:.3g}"


def _notes(comparison: Comparison) -> list[str]:
    options = comparison.options
    notes = [
        f"Test: {TEST_DESCRIPTION}; significant when p < {options.alpha:g}. A change smaller "
        f"than {options.min_change_pct:g}% counts as no change.",
        "Ratio = new mean / base mean of the stored value (time per operation, bytes per "
        "task), so below 1 is faster or smaller; change = (ratio - 1) in percent.",
    ]
    if any(row.judged_on_overhead for row in comparison.rows):
        notes.append(
            f"fan_out rows marked [{OVERHEAD_LABEL}] are judged on what the model adds to the "
            "waits, (makespan - ideal makespan) / N, each file with its own ideal: D when all "
            "N tasks wait at once, ceil(N / W) x D for W workers, N x D one at a time. An "
            "overhead at or below 0 cannot be compared. cpu fan-outs (no model-independent "
            "bound) and files that record no ideal are judged on the makespan per task."
        )
    for workload in dict.fromkeys(row.workload for row in comparison.rows if row.workload):
        facts = workload_facts(workload)
        if facts is None or not facts.throughput:
            continue
        per, rate = facts.operation, facts.rate_unit
        notes.append(
            f"{workload} values are shown as {rate}; their ratio and change are of the "
            f"time per {per} (+25% time per {per} = 20% fewer {rate}), and the verdict says "
            "faster or slower."
        )
    return notes


def _warnings(comparison: Comparison) -> list[str]:
    warnings = []
    if comparison.spec_versions_differ:
        warnings.append(
            "WARNING: spec_version differs between the files: the workloads changed and these "
            "results are NOT comparable (compared anyway because of --force)."
        )
    for result in comparison.files:
        if result.interrupted:
            warnings.append(
                f"WARNING: the run of {result.label} was interrupted; it is incomplete."
            )
    for mismatch in comparison.skipped_unit_mismatches:
        warnings.append(f"Not compared, units differ: {mismatch.key} ({mismatch.describe()}).")
    return warnings


def _verdict_counts(comparison: Comparison, index: int) -> str:
    counts: dict[str, int] = {}
    words: dict[str, str] = {}
    for row in comparison.rows:
        change = row.changes[index]
        if change is None:
            continue
        key = change.verdict if change.status in ("improved", "regressed") else change.status
        counts[key] = counts.get(key, 0) + 1
        words.setdefault(key, key.replace("_", " "))
    order = {status: rank for rank, status in enumerate(STATUS_ORDER)}
    parts = sorted(counts, key=lambda key: (order.get(key, 0), key))
    return ", ".join(f"{counts[key]} {words[key]}" for key in parts)


def _judgement_header(labels: Sequence[str]) -> list[str]:
    """The base file's column, then each later file's value, ratio, change, p and verdict (named
    after the file when there are several)."""
    several = len(labels) > 2
    header = ["benchmark", f"{labels[0]} (base)"]
    for label in labels[1:]:
        suffix = f" {label}" if several else ""
        header += [label, "ratio" + suffix, "change" + suffix, "p" + suffix, "verdict" + suffix]
    return header


def _main_table(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    header = _judgement_header(comparison.labels)
    rows = []
    for row in comparison.rows:
        if not row.compared:
            continue  # listed under "Cells without a result" or "Only in some files"
        cells = [value_label(row), _value_cell(row, 0)]
        for index, change in enumerate(row.changes, start=1):
            cells += _change_cells(row, index, change)
        rows.append(cells)
    return header, rows


def _value_cell(row: Row, index: int) -> str:
    """The mean, or why there is none: the runner's gap status, else ``missing``."""
    side = row.sides[index]
    if side is not None:
        return _side_text(row, side)
    gap = row.gaps[index]
    return gap.status if gap else "missing"


def _side_text(row: Row, side: Side) -> str:
    """The side's mean in human units; an overhead at or below zero has no duration to show."""
    if row.judged_on_overhead and side.mean <= 0:
        return "<= 0"
    return format_mean(side, row.workload)


def _change_cells(row: Row, index: int, change: Change | None) -> list[str]:
    side = row.sides[index]
    if side is None or change is None:
        return [_value_cell(row, index), "-", "-", "-", "-"]
    return [_side_text(row, side), *_judgement_cells(change)]


def _judgement_cells(change: Change | LatencyChange) -> list[str]:
    """Ratio, change, p and verdict: the columns every comparison table gives a judged pair."""
    return [
        format_ratio(change.ratio),
        format_change(change.change_pct),
        format_p(change.p_value),
        change.verdict,
    ]


def _geomean_table(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    labels = comparison.labels
    header = ["group", "quantity", *(f"{label} / {labels[0]}" for label in labels[1:])]
    cells: dict[tuple[str, str], dict[str, GeometricMean]] = {}
    for mean in comparison.geometric_means:
        name = "all" if mean.group == "overall" else f"{mean.group} {mean.name}"
        cells.setdefault((name, mean.quantity), {})[mean.label] = mean
    rows = []
    for (name, quantity), by_label in cells.items():
        row = [name, quantity]
        for label in labels[1:]:
            found = by_label.get(label)
            row.append("-" if found is None else f"{found.ratio:.3f}x (n={found.count})")
        rows.append(row)
    return header, rows


def _missing_groups(comparison: Comparison) -> list[tuple[str, list[str]]]:
    """Benchmarks some file lacks without a gap record saying why (gaps are listed with their
    reasons apart), grouped by where they are: ``in A, not in B`` -> names."""
    groups: dict[str, list[str]] = {}
    for missing in comparison.missing:
        unexplained = [label for label, gap in missing.absent if gap is None]
        if unexplained:
            where = f"in {', '.join(missing.present) or 'no file'}, not in {', '.join(unexplained)}"
            groups.setdefault(where, []).append(missing.key)
    return list(groups.items())


def _environment_rows(
    differences: Sequence[EnvironmentDifference],
) -> list[list[str]]:
    return [
        [difference.key, *(value if value is not None else "-" for value in difference.values)]
        for difference in differences
    ]


def _environment_header(comparison: Comparison) -> list[list[str]]:
    """The calibration of every file (when any has one), then the keys that differ."""
    rows = _environment_rows(comparison.environment_differences)
    calibrations = comparison.calibrations
    if any(calibration is not None for calibration in calibrations):
        rows.insert(0, ["calibration", *map(_calibration_text, calibrations)])
    return rows


def _calibration_text(calibration: Calibration | None) -> str:
    if calibration is None:
        return "-"
    return f"{calibration.ns_per_iteration:.1f} ns/iteration (loop v{calibration.version})"


def _difference_reason(comparison: Comparison) -> str:
    differences = comparison.machine_differences
    if any(difference.interpreters is not None for difference in differences):
        return "the machines or the interpreters differ"
    return "the machines differ"


def machine_warning(comparison: Comparison) -> str | None:
    """One line when the machines' calibrations differ beyond the threshold, else None."""
    if not comparison.machine_differences:
        return None
    differences = comparison.machine_differences
    described = "; ".join(difference.describe() for difference in differences)
    if any(difference.interpreters is not None for difference in differences):
        # The loop runs in each file's own interpreter: a faster build looks like a faster machine.
        return (
            "the machines or the interpreters differ: the calibration loop, which each file's "
            f"interpreter runs, is {described}"
        )
    return f"the machines differ: the calibration loop is {described}"


def _normalised_rows(comparison: Comparison) -> list[NormalisedRow]:
    if comparison.normalisation is None:
        return []
    return [row for row in comparison.normalisation.rows if row.compared]


def format_relative(side: Side) -> str:
    text = f"{side.mean:,.0f}x serial" if side.mean >= 100 else f"{side.mean:.3g}x serial"
    if side.n >= 2 and side.mean != 0:
        text += f" ±{100 * side.stdev / abs(side.mean):.0f}%"
    return text


def _normalised_table(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    header = _judgement_header(comparison.labels)
    body = []
    for normalised in _normalised_rows(comparison):
        base = normalised.sides[0]
        cells = [row_label(normalised.row), "-" if base is None else format_relative(base)]
        for side, change in zip(normalised.sides[1:], normalised.changes, strict=True):
            if side is None or change is None:
                cells += ["-" if side is None else format_relative(side), "-", "-", "-", "-"]
                continue
            cells += [format_relative(side), *_judgement_cells(change)]
        body.append(cells)
    return header, body


def _normalised_summary(comparison: Comparison) -> list[str]:
    """Per later file: the geometric mean of its ratios relative to serial, and the verdicts."""
    lines = []
    rows = _normalised_rows(comparison)
    for index, label in enumerate(comparison.labels[1:]):
        changes = [row.changes[index] for row in rows]
        ratios = [c.ratio for c in changes if c is not None and c.ratio is not None]
        if not ratios:
            continue
        counts: dict[str, int] = {}
        for change in changes:
            if change is not None:
                counts[change.verdict] = counts.get(change.verdict, 0) + 1
        verdicts = ", ".join(f"{count} {verdict}" for verdict, count in sorted(counts.items()))
        lines.append(
            f"{label} against {comparison.labels[0]}, relative to serial: geometric mean "
            f"{stats.geometric_mean(ratios):.3f}x (n={len(ratios)}); {verdicts}"
        )
    return lines


def _not_normalisable(comparison: Comparison) -> list[str]:
    if comparison.normalisation is None:
        return []
    return [f"{key}: {why}" for key, why in comparison.normalisation.not_normalisable]


def _normalised_text(comparison: Comparison) -> list[str]:
    if comparison.normalisation is None:
        return []
    lines = ["", f"{RELATIVE_TITLE}:"]
    lines += [f"  {wrapped}" for wrapped in textwrap.wrap(RELATIVE_NOTE, 98)]
    if _normalised_rows(comparison):
        lines += _aligned(*_normalised_table(comparison), indent="  ")
        lines += [f"  {line}" for line in _normalised_summary(comparison)]
    else:
        lines.append("  no benchmark could be set against a serial baseline in every file")
    missing = _not_normalisable(comparison)
    if missing:
        lines.append(f"  Not normalisable ({plural(len(missing), 'benchmark')}):")
        lines += [f"    {line}" for line in missing]
    return lines


def _normalised_markdown(comparison: Comparison) -> list[str]:
    if comparison.normalisation is None:
        return []
    lines = ["", f"**{RELATIVE_TITLE}**", "", RELATIVE_NOTE, ""]
    if _normalised_rows(comparison):
        lines += _md_table(*_normalised_table(comparison), code_first=True)
        lines += ["", *(f"- {line}" for line in _normalised_summary(comparison))]
    else:
        lines.append("No benchmark could be set against a serial baseline in every file.")
    missing = _not_normalisable(comparison)
    if missing:
        lines += ["", f"Not normalisable ({plural(len(missing), 'benchmark')}):", ""]
        lines += [f"- `{_md_cell(line)}`" for line in missing]
    return lines


def _latency_rows(comparison: Comparison) -> list[Row]:
    return [row for row in comparison.rows if row.latency_compared]


def _latency_table(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    """A line per benchmark and file: the percentiles, and for another file its p99 against the
    base's."""
    header = ["benchmark", "file", *(name for _key, name in LATENCY_COLUMNS), "runs", "batch"]
    header += ["p99 ratio", "p99 change", "p", "verdict"]
    body = []
    for row in _latency_rows(comparison):
        for index, (label, record) in enumerate(zip(comparison.labels, row.latencies, strict=True)):
            cells = [row_label(row), label if index else f"{label} (base)"]
            if record is None:
                body.append([*cells, *(["-"] * (len(header) - 3)), "no latency record"])
                continue
            cells += _percentile_cells(record)
            cells.append(str(len(record.runs)) if record.runs else "-")
            cells.append(str(record.batch))
            change = row.latency_changes[index - 1] if index else None
            if change is None:
                cells += ["-", "-", "-", "base" if index == 0 else "-"]
            else:
                cells += _judgement_cells(change)
            body.append(cells)
    return header, body


def _percentile_cells(record: LatencyRecord) -> list[str]:
    """The percentile columns of a record: none of them where the timer cannot resolve it."""
    values = [record.percentile(key) for key, _name in LATENCY_COLUMNS]
    if any(value is None for value in values):
        return [BELOW_RESOLUTION, *(["-"] * (len(values) - 1))]
    return [format_duration(value) for value in values if value is not None]


def _latency_notes(comparison: Comparison) -> list[str]:
    records = [
        (row.workload or row.name, record)
        for row in _latency_rows(comparison)
        for record in row.latencies
        if record is not None
    ]
    described: dict[str, str] = {}
    # An unbatched record says what a sample is in general; a batched one only for its batch.
    for workload, record in sorted(records, key=lambda item: item[1].batch):
        described.setdefault(workload, record.what)
    notes = [
        "Latency comes from a separate pass after the timed runs (the timed values are not "
        "time-stamped). p50 .. p99.9: the median over the pass's runs of each run's "
        "percentile; p99 ratio = new p99 / base p99; the test is Mann-Whitney U on the runs' "
        'p99 values, so a pass of a few runs says "too few runs" rather than "not '
        'significant".',
        "A sample is: " + "; ".join(f"{w}: {what}" for w, what in described.items()) + ".",
    ]
    if any(record.batch > 1 for _w, record in records):
        notes.append(
            "batch: rounds per pair of stamps. A batched pingpong's percentiles are per one-way "
            "switch averaged over its batch, so their tail is that of batch averages: p99s "
            "compare only between equal batches."
        )
    if any(not record.resolved for _w, record in records):
        notes.append(
            f"{BELOW_RESOLUTION.capitalize()}: the batch {TIMES} the median sample is under "
            f"{RESOLUTION:g} {TIMES} the timer's cost, so no percentile is reported (the "
            "reason is in the CSV and JSON output)."
        )
    few = [record.samples for _w, record in records if record.runs and record.samples < 1000]
    if few:
        notes.append(
            f"Runs of fewer than 1,000 samples (the smallest: {min(few):,}): their p99.9 is "
            "essentially the run's maximum."
        )
    return notes


# -- text ---------------------------------------------------------------------------------------


def _aligned(header: list[str], rows: list[list[str]], indent: str = "") -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return indent + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip()

    return [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]


def render_text(comparison: Comparison, gates: Gates | None = None) -> str:
    gates = gates or Gates()
    labels = comparison.labels
    machines = machine_warning(comparison)
    lines = [f"WARNING: {machines}", ""] if machines else []
    lines.append(f"Comparison of {len(labels)} result files (base: {labels[0]})")
    lines += [f"  {result.label}: {result.path}" for result in comparison.files]
    lines += ["", *_warnings(comparison)] if _warnings(comparison) else []
    lines += ["", "Environment differences:"]
    environment = _environment_header(comparison)
    if environment:
        lines += _aligned(["key", *labels], environment, "  ")
    else:
        lines.append("  none")
    lines.append("")
    lines += [wrapped for note in _notes(comparison) for wrapped in textwrap.wrap(note, 100)]
    lines.append("")
    lines += _aligned(*_main_table(comparison))
    lines.append("")
    for index, label in enumerate(labels[1:]):
        lines.append(f"{label} against {labels[0]}: {_verdict_counts(comparison, index)}")
    lines += ["", "Geometric mean of the ratios:"]
    lines += _aligned(*_geomean_table(comparison), indent="  ")
    lines += _normalised_text(comparison)
    if _latency_rows(comparison):
        lines += ["", "Latency percentiles (latency pass):"]
        lines += _aligned(*_latency_table(comparison), indent="  ")
        notes = _latency_notes(comparison)
        lines += [f"  {wrapped}" for note in notes for wrapped in textwrap.wrap(note, 98)]
    missing_groups = _missing_groups(comparison)
    if missing_groups:
        lines += ["", "Only in some files:"]
        for where, keys in missing_groups:
            lines += [f"  {where} ({plural(len(keys), 'benchmark')}):"]
            lines += [f"    {key}" for key in keys]
    gaps = comparison.gaps()
    if gaps:
        lines += ["", "Cells without a result:"]
        lines += [f"  {label}: {gap.name}: {gap.status}: {gap.reason}" for label, gap in gaps]
    for gate in (
        _gate_lines(comparison, gates.mean_pct),
        _latency_gate_lines(comparison, gates.p99_pct),
    ):
        if gate:
            lines += ["", gate[0], *(f"  {line}" for line in gate[1:])]
    return "\n".join(lines) + "\n"


# -- markdown -----------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _is_text_column(header: str) -> bool:
    return header.split(maxsplit=1)[0] in (
        "benchmark",
        "key",
        "group",
        "quantity",
        "verdict",
        "file",
    )


def _md_table(
    header: list[str], rows: list[list[str]], code_first: bool = False, all_text: bool = False
) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(_md_cell(cell) for cell in cells) + " |"

    aligns = ["---" if all_text or _is_text_column(name) else "---:" for name in header]
    body = [[f"`{row[0]}`" if code_first else row[0], *row[1:]] for row in rows]
    return [line(header), "| " + " | ".join(aligns) + " |", *(line(row) for row in body)]


def render_markdown(comparison: Comparison, gates: Gates | None = None) -> str:
    gates = gates or Gates()
    labels = comparison.labels
    machines = machine_warning(comparison)
    lines = [f"> **WARNING: {machines}**", ""] if machines else []
    lines += [f"### Benchmark comparison: {' vs '.join(labels)} (base: {labels[0]})", ""]
    lines += [f"- **{result.label}**: `{result.path}`" for result in comparison.files]
    warnings = _warnings(comparison)
    if warnings:
        lines += ["", *(f"> {warning}" for warning in warnings)]
    lines += ["", "**Environment differences**", ""]
    environment = _environment_header(comparison)
    if environment:
        lines += _md_table(["key", *labels], environment, all_text=True)
    else:
        lines.append("none")
    lines += ["", *(f"- {note}" for note in _notes(comparison)), ""]
    lines += _md_table(*_main_table(comparison), code_first=True)
    lines.append("")
    for index, label in enumerate(labels[1:]):
        lines.append(f"- **{label}** against {labels[0]}: {_verdict_counts(comparison, index)}")
    lines += ["", "**Geometric mean of the ratios**", ""]
    lines += _md_table(*_geomean_table(comparison))
    lines += _normalised_markdown(comparison)
    if _latency_rows(comparison):
        lines += ["", "**Latency percentiles** (latency pass)", ""]
        lines += _md_table(*_latency_table(comparison), code_first=True)
        lines += ["", *(f"- {_md_cell(note)}" for note in _latency_notes(comparison))]
    missing_groups = _missing_groups(comparison)
    if missing_groups:
        lines += ["", "**Only in some files**"]
        for where, keys in missing_groups:
            # Collapsed, so that a partial run does not bury the comparison in a pull request.
            summary = f"<summary>{where} ({plural(len(keys), 'benchmark')})</summary>"
            lines += ["", "<details>", summary, "", *(f"- `{key}`" for key in keys), ""]
            lines.append("</details>")
    gaps = comparison.gaps()
    if gaps:
        lines += ["", "**Cells without a result**", ""]
        lines += [
            f"- {label}: `{gap.name}`: {gap.status}: {_md_cell(gap.reason)}" for label, gap in gaps
        ]
    for gate in (
        _gate_lines(comparison, gates.mean_pct),
        _latency_gate_lines(comparison, gates.p99_pct),
    ):
        if gate:
            lines += ["", f"**{gate[0]}**", "", *(f"- {_md_cell(line)}" for line in gate[1:])]
    return "\n".join(lines) + "\n"


# -- csv ----------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "benchmark",
    "workload",
    "params",
    "model",
    "unit",
    "file",
    "label",
    "role",
    "status",
    "n",
    "mean",
    "stdev",
    "median",
    "min",
    "max",
    "ratio",
    "change_pct",
    "p_value",
    "test",
    "min_p_value",
    "significant",
    "ci_low",
    "ci_high",
    "verdict",
    "latency_what",
    "latency_runs",
    "latency_samples",
    "latency_timer_cost",
    "latency_batch",
    "latency_unresolved",
    "latency_median",
    "latency_p50",
    "latency_p90",
    "latency_p99",
    "latency_p999",
    "latency_max",
    "latency_p99_ratio",
    "latency_p99_change_pct",
    "latency_p99_p_value",
    "latency_p99_min_p_value",
    "latency_p99_status",
    "latency_p99_verdict",
    "judged_on",
    "ideal_per_op",
    "calibration_ns",
    "relative_mean",
    "relative_ratio",
    "relative_change_pct",
    "relative_p_value",
    "relative_status",
    "relative_verdict",
)


def render_csv(comparison: Comparison) -> str:
    """One row per benchmark and file. Status: ``base`` for the base's values, the verdict's
    status for another file's, ``uncompared`` when the base lacks the benchmark, and for a
    file without it ``missing`` or the runner's ``failed``/``skipped`` (reason in verdict).
    ``latency_*``: the file's latency record (percentiles are medians over its runs, max the
    median of the runs' maxima, all empty where ``latency_unresolved`` gives the reason and
    ``latency_median`` the median; ``latency_batch`` the rounds per stamp) and, for another
    file, its p99 against the base's.
    ``judged_on``: ``overhead`` for a fan_out row whose n, mean .. max are of the overhead per
    task (each value less ``ideal_per_op``, the file's ideal makespan / N), else ``value``.
    ``calibration_ns``: the file's machine calibration. ``relative_*``: relative to serial in
    the same file (the mean / the file's serial mean, and for another file its ratio and
    verdict), empty where the comparison is not normalised or the benchmark cannot be."""
    normalised = (
        {n.row.key: n for n in comparison.normalisation.rows} if comparison.normalisation else {}
    )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in comparison.rows:
        for index, (result, side) in enumerate(zip(comparison.files, row.sides, strict=True)):
            record: dict[str, Any] = {
                "benchmark": row.key,
                "workload": row.workload or "",
                "params": row.params or "",
                "model": row.model or "",
                "unit": row.unit,
                "file": str(result.path),
                "label": result.label,
                "role": "base" if index == 0 else "new",
                "judged_on": _judged_on(row),
            }
            change = row.changes[index - 1] if index else None
            gap = row.gaps[index]
            if side is None:
                record["status"] = gap.status if gap else "missing"
                record["verdict"] = gap.reason if gap else ""
            else:
                record.update(
                    status="base" if index == 0 else (change.status if change else "uncompared"),
                    n=side.n,
                    mean=_raw(side.mean),
                    stdev=_raw(side.stdev),
                    median=_raw(side.median),
                    min=_raw(side.minimum),
                    max=_raw(side.maximum),
                    ideal_per_op=_raw(side.ideal_per_task),
                )
            if change is not None:
                record.update(
                    ratio=_raw(change.ratio),
                    change_pct=_raw(change.change_pct),
                    p_value=_raw(change.p_value),
                    test=_test_name(change),
                    min_p_value=_raw(change.min_p_value),
                    significant="true" if change.significant else "false",
                    ci_low=_raw(change.ci[0] if change.ci else None),
                    ci_high=_raw(change.ci[1] if change.ci else None),
                    verdict=change.verdict,
                )
            latency = row.latencies[index] if row.latencies else None
            if latency is not None:
                record.update(_latency_csv(latency))
            latency_change = (
                row.latency_changes[index - 1] if index and row.latency_changes else None
            )
            if latency_change is not None:
                record.update(
                    latency_p99_ratio=_raw(latency_change.ratio),
                    latency_p99_change_pct=_raw(latency_change.change_pct),
                    latency_p99_p_value=_raw(latency_change.p_value),
                    latency_p99_min_p_value=_raw(latency_change.min_p_value),
                    latency_p99_status=latency_change.status,
                    latency_p99_verdict=latency_change.verdict,
                )
            calibration = result.calibration
            if calibration is not None:
                record["calibration_ns"] = _raw(calibration.ns_per_iteration)
            relative = normalised.get(row.key)
            if relative is not None:
                record.update(_relative_csv(relative, index))
            writer.writerow(record)
    return buffer.getvalue()


def _relative_csv(relative: NormalisedRow, index: int) -> dict[str, str]:
    side = relative.sides[index]
    change = relative.changes[index - 1] if index else None
    found = {"relative_mean": _raw(None if side is None else side.mean)}
    if change is not None:
        found.update(
            relative_ratio=_raw(change.ratio),
            relative_change_pct=_raw(change.change_pct),
            relative_p_value=_raw(change.p_value),
            relative_status=change.status,
            relative_verdict=change.verdict,
        )
    return found


def _latency_csv(latency: LatencyRecord) -> dict[str, str]:
    maxima = latency.per_run("maximum")
    return {
        "latency_what": latency.what,
        "latency_runs": str(len(latency.runs)) if latency.runs else "",
        "latency_samples": str(latency.samples) if latency.runs else "",
        "latency_timer_cost": _raw(latency.timer_cost),
        "latency_batch": str(latency.batch),
        "latency_unresolved": latency.unresolved or "",
        "latency_median": _raw(latency.median),
        **{f"latency_{key}": _raw(latency.percentile(key)) for key, _name in LATENCY_COLUMNS},
        "latency_max": _raw(sorted(maxima)[len(maxima) // 2] if maxima else None),
    }


def _judged_on(row: Row) -> str:
    return "overhead" if row.judged_on_overhead else "value"


def _raw(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else repr(float(value))


def _test_name(change: Change) -> str:
    return "" if change.method is None else f"mann-whitney-u-{change.method}"


# -- json ---------------------------------------------------------------------------------------


def comparison_document(comparison: Comparison, gates: Gates | None = None) -> dict[str, Any]:
    """The JSON document (schema ``concbench-compare`` version 1); keys are only ever added."""
    gates = gates or Gates()
    fail_above_pct = gates.mean_pct
    options = comparison.options
    return {
        "schema": JSON_SCHEMA,
        "schema_version": JSON_SCHEMA_VERSION,
        "base": comparison.labels[0],
        "test": {
            "name": TEST_NAME,
            "alternative": "two-sided",
            "alpha": options.alpha,
            "exact_max_product": EXACT_MAX_PRODUCT,
            "exact_ties_max_total": EXACT_TIES_MAX_TOTAL,
            "description": TEST_DESCRIPTION,
        },
        "bootstrap": {
            "statistic": "ratio of means (new / base)",
            "confidence": options.confidence,
            "resamples": options.bootstrap_resamples,
        },
        "min_change_pct": options.min_change_pct,
        "ratio": "new mean / base mean of the stored value (of the overhead per task where a "
        "benchmark's judged_on is overhead: each value less the file's ideal_per_op); lower is "
        "better for every unit",
        "spec_versions_differ": comparison.spec_versions_differ,
        "files": [
            {
                "label": result.label,
                "path": str(result.path),
                "interrupted": result.interrupted,
                "benchmarks": len(result.entries),
                "environment": {key: _jsonable(value) for key, value in result.environment.items()},
            }
            for result in comparison.files
        ],
        "calibrations": {
            result.label: None
            if result.calibration is None
            else {
                "ns_per_iteration": result.calibration.ns_per_iteration,
                "version": result.calibration.version,
            }
            for result in comparison.files
        },
        "calibration_threshold_pct": options.calibration_threshold_pct,
        "machine_differences": [
            {
                "label": difference.label,
                "base": difference.base_label,
                "factor": difference.factor,
                "text": difference.describe(),
            }
            for difference in comparison.machine_differences
        ],
        "normalised": _normalised_document(comparison),
        "environment_differences": [
            {
                "key": difference.key,
                "values": dict(zip(comparison.labels, difference.values, strict=True)),
            }
            for difference in comparison.environment_differences
        ],
        "benchmarks": [_row_document(row) for row in comparison.rows],
        "only_in_some_files": [
            {
                "benchmark": missing.key,
                "present": list(missing.present),
                "absent": [
                    {
                        "label": label,
                        "status": gap.status if gap else "missing",
                        "reason": gap.reason if gap else None,
                    }
                    for label, gap in missing.absent
                ],
            }
            for missing in comparison.missing
        ],
        "unit_mismatches_skipped": [
            {"benchmark": mismatch.key, "units": dict(mismatch.units)}
            for mismatch in comparison.skipped_unit_mismatches
        ],
        "gaps": [
            {
                "label": label,
                "name": gap.name,
                "workload": gap.workload,
                "params": gap.params,
                "model": gap.model,
                "status": gap.status,
                "reason": gap.reason,
            }
            for label, gap in comparison.gaps()
        ],
        "geometric_means": [
            {
                "label": mean.label,
                "group": mean.group,
                "name": mean.name,
                "unit": mean.unit,
                "ratio": mean.ratio,
                "count": mean.count,
            }
            for mean in comparison.geometric_means
        ],
        "gate": None
        if fail_above_pct is None
        else {
            "fail_above_pct": fail_above_pct,
            "judged_on": "relative to serial" if comparison.gate_normalised else "raw",
            "passed": not comparison.regressions(fail_above_pct),
            "regressions": [
                {
                    "benchmark": regression.row.key,
                    "label": regression.change.label,
                    "change_pct": regression.change.change_pct,
                    "p_value": regression.change.p_value,
                }
                for regression in comparison.regressions(fail_above_pct)
            ],
            "untested": len(comparison.untested()),
        },
        "latency_gate": None
        if gates.p99_pct is None
        else {
            "fail_above_p99_pct": gates.p99_pct,
            "passed": not comparison.latency_regressions(gates.p99_pct),
            "regressions": [
                {
                    "benchmark": regression.row.key,
                    "label": regression.change.label,
                    "change_pct": regression.change.change_pct,
                    "p_value": regression.change.p_value,
                }
                for regression in comparison.latency_regressions(gates.p99_pct)
            ],
            "untested": len(comparison.latency_untested()),
        },
    }


def _normalised_document(comparison: Comparison) -> dict[str, Any] | None:
    normalisation = comparison.normalisation
    if normalisation is None:
        return None
    return {
        "what": f"{RELATIVE_UNIT} in the same file: each value / the mean of the file's serial "
        "baseline for the same workload and parameters",
        "reason": "--normalise" if normalisation.forced else _difference_reason(comparison),
        "benchmarks": [
            {
                "benchmark": n.row.key,
                "results": [
                    None
                    if side is None
                    else {"label": side.label, "n": side.n, "mean": side.mean, "stdev": side.stdev}
                    for side in n.sides
                ],
                "changes": [
                    None
                    if change is None
                    else {
                        "label": change.label,
                        "ratio": change.ratio,
                        "change_pct": change.change_pct,
                        "p_value": change.p_value,
                        "significant": change.significant,
                        "ci": list(change.ci) if change.ci else None,
                        "status": change.status,
                        "verdict": change.verdict,
                    }
                    for change in n.changes
                ],
            }
            for n in normalisation.rows
        ],
        "not_normalisable": [
            {"benchmark": key, "reason": why} for key, why in normalisation.not_normalisable
        ],
    }


def _row_document(row: Row) -> dict[str, Any]:
    return {
        "benchmark": row.key,
        "name": row.name,
        "workload": row.workload,
        "params": row.params,
        "model": row.model,
        "unit": row.unit,
        "metric": row.metric,
        "judged_on": _judged_on(row),
        "results": [
            None
            if side is None
            else {
                "label": side.label,
                "n": side.n,
                "mean": side.mean,
                "stdev": side.stdev,
                "median": side.median,
                "min": side.minimum,
                "max": side.maximum,
                "ideal_per_op": side.ideal_per_task,
            }
            for side in row.sides
        ],
        "changes": [
            None
            if change is None
            else {
                "label": change.label,
                "ratio": change.ratio,
                "change_pct": change.change_pct,
                "p_value": change.p_value,
                "test": _test_name(change) or None,
                "min_p_value": change.min_p_value,
                "significant": change.significant,
                "ci": list(change.ci) if change.ci else None,
                "status": change.status,
                "verdict": change.verdict,
            }
            for change in row.changes
        ],
        "latency": [
            None if record is None else _latency_document(record) for record in row.latencies
        ],
        "latency_changes": [
            None if change is None else _latency_change_document(change)
            for change in row.latency_changes
        ],
    }


def _latency_document(record: LatencyRecord) -> dict[str, Any]:
    return {
        "what": record.what,
        "unit": record.unit,
        "timer_cost": record.timer_cost,
        "batch": record.batch,
        "batch_cost": record.batch_cost,
        "resolved": record.resolved,
        "unresolved": record.unresolved,
        "median": record.median,
        "p50": record.p50,
        "p90": record.p90,
        "p99": record.p99,
        "p99.9": record.p999,
        "runs": [
            {
                "count": run.count,
                "p50": run.p50,
                "p90": run.p90,
                "p99": run.p99,
                "p99.9": run.p999,
                "max": run.maximum,
            }
            for run in record.runs
        ],
        "quantiles": [list(pair) for pair in record.quantiles],
    }


def _latency_change_document(change: LatencyChange) -> dict[str, Any]:
    return {
        "label": change.label,
        "statistic": "p99 (median over runs)",
        "ratio": change.ratio,
        "change_pct": change.change_pct,
        "p_value": change.p_value,
        "test": None if change.method is None else f"mann-whitney-u-{change.method}",
        "min_p_value": change.min_p_value,
        "significant": change.significant,
        "runs": list(change.runs),
        "status": change.status,
        "verdict": change.verdict,
    }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def render_json(comparison: Comparison, gates: Gates | None = None) -> str:
    document = comparison_document(comparison, gates)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
