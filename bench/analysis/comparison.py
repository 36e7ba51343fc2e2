"""Comparing result files: match benchmarks, test each difference, judge its direction, and
summarise by geometric means; no formatting here (see ``bench.render.compare``).

The first file is the base. For every benchmark the base shares with another file the ratio is
new mean / base mean of the stored value (seconds per operation, bytes per task, or a foreign
unit), so a ratio below 1 is an improvement for every unit: lower is better, pyperf's convention.
Its verdict, in this order of precedence:

- ``undefined``: a mean is zero or negative (a memory delta lost in allocator noise), no ratio;
- ``no_change``: the change is below ``min_change_pct``, however significant;
- ``untestable``: a side has fewer than two values;
- ``too_few_values``: even completely separated samples of these sizes could not reach ``alpha``
  (for example 3 values against 3: p >= 0.1), so "not significant" would be an empty claim;
- ``not_significant``: Mann-Whitney U p-value >= ``alpha``;
- ``improved`` / ``regressed``: significant and above ``min_change_pct``.

A fan_out benchmark whose every file records an ideal makespan
(``bench.results.schema.recorded_bound``)
is judged on its overhead per task instead: each value minus that file's ideal / N, what the
model adds to the waits, so that a sleep of 1 ms per task does not dilute the ratio. Its sides
are then overhead statistics (``Side.ideal_per_task`` gives the makespan back), ``undefined``
applies to a non-positive overhead, and the row says ``judged_on_overhead``. cpu fan-outs (no
bound) and files from before bounds were recorded keep the makespan per task.

Benchmarks with a latency record (the latency pass of pingpong, producer_consumer and fan_out)
in the base and another file also get a ``LatencyChange``: the ratio of the p99s (each the
median over the pass's runs of a run's p99) and the same verdicts, tested on the runs' p99
values. A pass has a few runs, so "too few runs" is common and said as such. A p99 the timer
could not resolve, on either side, or p99s of pingpong batches of different sizes (an average
over more rounds has a shorter tail) are not compared: ``undefined``, saying which.

Machines: each file may record its machine's calibration (``bench.results.schema.Calibration``).
A file whose calibration (of the base's loop version) differs from the base's by more than
``calibration_threshold_pct`` is a ``MachineDifference``: its raw values measure the machine as
much as the code. Then, or with ``normalise``, the comparison also holds a ``Normalisation``:
each time benchmark's values divided by the mean of its own file's serial baseline for the same
workload and parameters, a dimensionless cost that survives a change of machine, judged as the
raw values are. Memory is left out (bytes do not scale with a machine's speed), and so are the
baseline's own rows (1 by definition); a benchmark without a serial counterpart in every file
that has it is listed as not normalisable, with why. The regression gate judges the normalised
changes with ``normalise``, the raw ones otherwise.
"""

from __future__ import annotations

import statistics
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bench.analysis import stats
from bench.results.schema import (
    CALIBRATION_NS,
    CALIBRATION_VERSION,
    ENVIRONMENT_KEYS,
    Calibration,
    Entry,
    Gap,
    LatencyRecord,
    ResultSet,
    recorded_bound,
)

Status = Literal[
    "no_change",
    "improved",
    "regressed",
    "not_significant",
    "untestable",
    "too_few_values",
    "undefined",
]

# (better, worse) words per unit; any other unit is lower-is-better with neutral words.
DIRECTION_WORDS: Mapping[str, tuple[str, str]] = {
    "second": ("faster", "slower"),
    "byte": ("smaller", "larger"),
}
NEUTRAL_WORDS = ("lower", "higher")
LATENCY_WORDS = ("lower", "higher")
QUANTITY_NAMES: Mapping[str, str] = {"second": "time", "byte": "memory"}

# Aliases or per-run noise that would only clutter the list of differences.
IGNORED_ENVIRONMENT_KEYS = frozenset({"perf_version"})
# Shown for every file in a row of their own (``Comparison.calibrations``), differing or not.
CALIBRATION_KEYS = frozenset({CALIBRATION_NS, CALIBRATION_VERSION})
# Repeated in fresh processes on one quiet machine the calibration varies by about 4% (8 runs:
# 279 to 291 ns); another machine or build typically differs by tens of percent (1.78x in
# issue 14). 10% is above the first and well below the second.
DEFAULT_CALIBRATION_THRESHOLD_PCT = 10.0
RELATIVE_UNIT = "relative to serial"


class ComparisonError(Exception):
    """The files cannot be compared; the message is one line naming the problem."""


@dataclass(frozen=True)
class Options:
    alpha: float = 0.05
    min_change_pct: float = 1.0
    bootstrap_resamples: int = 1000
    confidence: float = 0.95
    skip_unit_mismatch: bool = False
    force: bool = False
    calibration_threshold_pct: float = DEFAULT_CALIBRATION_THRESHOLD_PCT
    # Normalise even when the calibrations agree, and gate on the normalised changes.
    normalise: bool = False


@dataclass(frozen=True)
class Side:
    """One file's values of one benchmark; for a row judged on the overhead, of the values less
    ``ideal_per_task`` (None otherwise)."""

    label: str
    unit: str
    n: int
    mean: float
    stdev: float
    median: float
    minimum: float
    maximum: float
    ideal_per_task: float | None = None

    @classmethod
    def of(cls, label: str, entry: Entry, ideal_per_task: float | None = None) -> Side:
        """The entry's values, or with ``ideal_per_task`` its overhead: each value less it."""
        if ideal_per_task is None:
            values, mean, stdev = entry.values, entry.mean, entry.stdev
        else:
            values = tuple(value - ideal_per_task for value in entry.values)
            mean = statistics.fmean(values)
            stdev = statistics.stdev(values) if len(values) >= 2 else 0.0
        ordered = sorted(values)
        middle = len(ordered) // 2
        median = (
            ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        )
        return cls(
            label,
            entry.unit,
            len(ordered),
            mean,
            stdev,
            median,
            ordered[0],
            ordered[-1],
            ideal_per_task,
        )


@dataclass(frozen=True)
class Change:
    """One non-base file against the base, for one benchmark."""

    label: str
    ratio: float | None
    change_pct: float | None
    p_value: float | None
    method: stats.Method | None
    min_p_value: float
    ci: tuple[float, float] | None
    significant: bool
    status: Status
    verdict: str


@dataclass(frozen=True)
class LatencyChange:
    """One non-base file's p99 latency against the base's, for one benchmark: ``ratio`` is
    new p99 / base p99; the test compares the runs' p99 values."""

    label: str
    ratio: float | None
    change_pct: float | None
    p_value: float | None
    method: stats.Method | None
    min_p_value: float
    significant: bool
    status: Status
    verdict: str
    runs: tuple[int, int]


@dataclass(frozen=True)
class Row:
    """A benchmark of any of the files. ``sides`` and ``gaps`` have one item per file (None
    where the file lacks the benchmark, or has no gap record for it); ``changes`` has one per
    non-base file, None where the base or that file lacks the benchmark."""

    key: str
    name: str
    workload: str | None
    params: str | None
    model: str | None
    unit: str
    metric: str | None
    sides: tuple[Side | None, ...]
    changes: tuple[Change | None, ...]
    gaps: tuple[Gap | None, ...]
    # One per file (None: no latency record), one per non-base file (None: a side lacks one).
    latencies: tuple[LatencyRecord | None, ...] = ()
    latency_changes: tuple[LatencyChange | None, ...] = ()
    # A fan_out row whose sides and changes are of the overhead per task, not the stored value.
    judged_on_overhead: bool = False

    @property
    def compared(self) -> bool:
        return any(change is not None for change in self.changes)

    @property
    def latency_compared(self) -> bool:
        return any(change is not None for change in self.latency_changes)


@dataclass(frozen=True)
class Missing:
    """A benchmark some files lack: where it is, and for each file without it, why if known."""

    key: str
    present: tuple[str, ...]
    absent: tuple[tuple[str, Gap | None], ...]


@dataclass(frozen=True)
class UnitMismatch:
    key: str
    units: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        return ", ".join(f"{unit!r} in {label}" for label, unit in self.units)


@dataclass(frozen=True)
class GeometricMean:
    """Geometric mean of one file's ratios over a group of benchmarks of one unit."""

    label: str
    group: Literal["overall", "model", "workload"]
    name: str
    unit: str
    ratio: float
    count: int

    @property
    def quantity(self) -> str:
        return QUANTITY_NAMES.get(self.unit, self.unit)


@dataclass(frozen=True)
class EnvironmentDifference:
    key: str
    values: tuple[str | None, ...]


@dataclass(frozen=True)
class MachineDifference:
    """A file whose machine calibration differs from the base's beyond the threshold:
    ``factor`` is its nanoseconds per loop iteration over the base's (above 1: slower).
    ``interpreters``: "B's build against A's" when the files' interpreters differ, whose own
    speed the loop measures too, so that the difference need not be the machine's."""

    label: str
    base_label: str
    factor: float
    interpreters: str | None = None

    def describe(self) -> str:
        if self.factor >= 1:
            text = f"{self.factor:.2f}x slower in {self.label} than in {self.base_label}"
        else:
            text = f"{1 / self.factor:.2f}x faster in {self.label} than in {self.base_label}"
        if self.interpreters is not None:
            text += f" (other interpreters: {self.interpreters})"
        return text


@dataclass(frozen=True)
class NormalisedRow:
    """A time benchmark's values divided by its own file's serial baseline mean: ``sides`` one
    per file (None where the file lacks it), ``changes`` one per non-base file, like ``Row``."""

    row: Row
    sides: tuple[Side | None, ...]
    changes: tuple[Change | None, ...]

    @property
    def compared(self) -> bool:
        return any(change is not None for change in self.changes)


@dataclass(frozen=True)
class Normalisation:
    """The comparison relative to serial in the same file; ``not_normalisable``: (benchmark
    key, why) for the time benchmarks that cannot be (no serial counterpart in some file)."""

    rows: tuple[NormalisedRow, ...]
    not_normalisable: tuple[tuple[str, str], ...]
    # Why it is there: the machines differ, or --normalise asked for it.
    forced: bool


@dataclass(frozen=True)
class Regression:
    row: Row
    change: Change
    base_label: str
    # Judged on the values relative to serial in the same file, not the raw values.
    normalised: bool = False


@dataclass(frozen=True)
class LatencyRegression:
    row: Row
    change: LatencyChange
    base_label: str


@dataclass(frozen=True)
class Comparison:
    files: tuple[ResultSet, ...]
    options: Options
    rows: tuple[Row, ...]
    missing: tuple[Missing, ...]
    skipped_unit_mismatches: tuple[UnitMismatch, ...]
    geometric_means: tuple[GeometricMean, ...]
    environment_differences: tuple[EnvironmentDifference, ...]
    spec_versions_differ: bool
    machine_differences: tuple[MachineDifference, ...] = ()
    normalisation: Normalisation | None = None

    @property
    def base(self) -> ResultSet:
        return self.files[0]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(result.label for result in self.files)

    def gaps(self) -> list[tuple[str, Gap]]:
        return [(result.label, gap) for result in self.files for gap in result.gaps]

    @property
    def calibrations(self) -> tuple[Calibration | None, ...]:
        return tuple(result.calibration for result in self.files)

    @property
    def gate_normalised(self) -> bool:
        """Whether the gate judges the values relative to serial (``--normalise``)."""
        return self.options.normalise and self.normalisation is not None

    def _gated(self) -> list[tuple[Row, tuple[Change | None, ...]]]:
        if self.gate_normalised:
            assert self.normalisation is not None
            return [(n.row, n.changes) for n in self.normalisation.rows]
        return [(row, row.changes) for row in self.rows]

    def regressions(self, threshold_pct: float) -> list[Regression]:
        """Significant changes for the worse by more than ``threshold_pct`` percent: of the raw
        values, or with ``normalise`` of the values relative to serial in the same file."""
        return [
            Regression(row, change, self.base.label, self.gate_normalised)
            for row, changes in self._gated()
            for change in changes
            if change is not None and _regressed_beyond(change, threshold_pct)
        ]

    def latency_regressions(self, threshold_pct: float) -> list[LatencyRegression]:
        """p99 latencies significantly higher by more than ``threshold_pct`` percent."""
        return [
            LatencyRegression(row, change, self.base.label)
            for row in self.rows
            for change in row.latency_changes
            if change is not None and _regressed_beyond(change, threshold_pct)
        ]

    def latency_untested(self) -> list[tuple[Row, LatencyChange]]:
        """p99 comparisons with too few runs to test: a p99 gate cannot see into them."""
        return [
            (row, change)
            for row in self.rows
            for change in row.latency_changes
            if change is not None and change.status in UNTESTED
        ]

    def untested(self) -> list[tuple[Row, Change]]:
        """Changes the test could not judge (those the gate judges): a gate cannot see a
        regression hidden in them."""
        return [
            (row, change)
            for row, changes in self._gated()
            for change in changes
            if change is not None and change.status in UNTESTED
        ]


# Statuses of a change the significance test could not judge.
UNTESTED = ("untestable", "too_few_values")


def _regressed_beyond(change: Change | LatencyChange, threshold_pct: float) -> bool:
    """Significantly worse, by more than ``threshold_pct`` percent (what a gate fails on)."""
    return (
        change.status == "regressed"
        and change.change_pct is not None
        and change.change_pct > threshold_pct
    )


def direction_words(unit: str) -> tuple[str, str]:
    return DIRECTION_WORDS.get(unit, NEUTRAL_WORDS)


def compare(results: Sequence[ResultSet], options: Options | None = None) -> Comparison:
    """Compare every file after the first with the first. Raises ``ComparisonError`` when the
    files share no benchmark, when a shared benchmark's unit differs (unless
    ``skip_unit_mismatch``) or when their workload specs differ (unless ``force``)."""
    options = options or Options()
    if len(results) < 2:
        raise ComparisonError("need at least two result files to compare")
    labels = [result.label for result in results]
    if len(set(labels)) != len(labels):
        raise ComparisonError(f"file labels must be unique, got {', '.join(labels)}")
    spec_versions_differ = _check_spec_versions(results, options.force)
    base = results[0]
    keys = _ordered_keys(results)
    by_file = [{entry.key: entry for entry in result.entries} for result in results]
    for result, other in zip(results[1:], by_file[1:], strict=True):
        if not other.keys() & by_file[0].keys():
            raise ComparisonError(
                f"{base.path} and {result.path} have no benchmark in common "
                f"({len(by_file[0])} and {len(other)} benchmarks)"
            )
    mismatches = _unit_mismatches(keys, labels, by_file)
    if mismatches and not options.skip_unit_mismatch:
        first = mismatches[0]
        more = f" (and {len(mismatches) - 1} more)" if len(mismatches) > 1 else ""
        raise ComparisonError(
            f"benchmark {first.key!r} has different units: {first.describe()}{more}; "
            "refusing to compare different units (--skip-unit-mismatch compares the rest)"
        )
    refused = {mismatch.key for mismatch in mismatches}
    rows = []
    missing = []
    for key in keys:
        entries = [entries_of.get(key) for entries_of in by_file]
        if any(entry is None for entry in entries):
            missing.append(_missing(key, results, entries))
        if key not in refused:
            rows.append(_row(key, results, entries, options))
    machines = tuple(machine_differences(results, options.calibration_threshold_pct))
    normalisation = (
        normalise(rows, results, options, forced=not machines)
        if machines or options.normalise
        else None
    )
    return Comparison(
        files=tuple(results),
        options=options,
        rows=tuple(rows),
        missing=tuple(missing),
        skipped_unit_mismatches=tuple(mismatches),
        geometric_means=tuple(_geometric_means(rows, labels)),
        environment_differences=tuple(environment_differences(results)),
        spec_versions_differ=spec_versions_differ,
        machine_differences=machines,
        normalisation=normalisation,
    )


def _interpreters(base: ResultSet, other: ResultSet) -> str | None:
    """ "CPython 3.13.15 (free-threading) against CPython 3.13.15" when the two files' builds
    differ, None when they match or either is unrecorded."""
    builds = [result.environment.get("python_build") for result in (base, other)]
    if not all(isinstance(build, str) and build for build in builds) or builds[0] == builds[1]:
        return None
    return f"{builds[1]} against {builds[0]}"


def machine_differences(
    results: Sequence[ResultSet], threshold_pct: float
) -> list[MachineDifference]:
    """The files whose calibration differs from the base's by more than ``threshold_pct``
    percent (either way); files without one, or of another loop version, are not judged."""
    base = results[0].calibration
    if base is None:
        return []
    found = []
    for result in results[1:]:
        other = result.calibration
        if other is None or other.version != base.version:
            continue
        factor = other.ns_per_iteration / base.ns_per_iteration
        if (max(factor, 1 / factor) - 1) * 100 > threshold_pct:
            interpreters = _interpreters(results[0], result)
            found.append(MachineDifference(result.label, results[0].label, factor, interpreters))
    return found


def normalise(
    rows: Sequence[Row], results: Sequence[ResultSet], options: Options, *, forced: bool
) -> Normalisation:
    """Each time benchmark of the suite relative to its own file's serial baseline (module
    docstring), judged like the raw values on the values each divided by that mean."""
    baselines = [_baselines(result) for result in results]
    by_file = [{entry.key: entry for entry in result.entries} for result in results]
    normalised = []
    not_normalisable = []
    for row in rows:
        if row.unit != "second" or row.workload is None or row.model is None:
            continue
        entries = [entries_of.get(row.key) for entries_of in by_file]
        if any(entry is not None and entry.model_facts.baseline for entry in entries):
            continue
        serials = [
            None if entry is None else found.get((row.workload, row.params))
            for entry, found in zip(entries, baselines, strict=True)
        ]
        lacking = [
            result.label
            for result, entry, serial in zip(results, entries, serials, strict=True)
            if entry is not None and (serial is None or serial.mean <= 0)
        ]
        if lacking:
            not_normalisable.append((row.key, f"no serial baseline in {', '.join(lacking)}"))
            continue
        values = [
            None if entry is None or serial is None else [v / serial.mean for v in entry.values]
            for entry, serial in zip(entries, serials, strict=True)
        ]
        seed = zlib.crc32(row.key.encode())
        base = values[0]
        changes = tuple(
            None
            if base is None or new is None
            else judge(base, new, row.unit, result.label, options, seed=seed)
            for result, new in zip(results[1:], values[1:], strict=True)
        )
        sides = tuple(
            None if new is None else _relative_side(result.label, new)
            for result, new in zip(results, values, strict=True)
        )
        normalised.append(NormalisedRow(row, sides, changes))
    return Normalisation(tuple(normalised), tuple(not_normalisable), forced)


def _baselines(result: ResultSet) -> dict[tuple[str, str | None], Entry]:
    """The file's serial baseline entry per (workload, params)."""
    return {
        (entry.workload, entry.params): entry
        for entry in result.entries
        if entry.workload is not None and entry.model_facts.baseline and entry.unit == "second"
    }


def _relative_side(label: str, values: Sequence[float]) -> Side:
    ordered = sorted(values)
    return Side(
        label,
        RELATIVE_UNIT,
        len(ordered),
        statistics.fmean(ordered),
        statistics.stdev(ordered) if len(ordered) >= 2 else 0.0,
        statistics.median(ordered),
        ordered[0],
        ordered[-1],
    )


def judge(
    base: Sequence[float],
    new: Sequence[float],
    unit: str,
    label: str,
    options: Options,
    *,
    seed: int = 0,
    quantity: str = "mean",
) -> Change:
    """Ratio, test and verdict of one benchmark's new values against its base values;
    ``quantity`` names what a non-positive mean is of in the verdict."""
    better, worse = direction_words(unit)
    n_smaller = min(len(base), len(new))
    minimum_p = stats.min_p_value(len(base), len(new))
    base_mean = sum(base) / len(base)
    new_mean = sum(new) / len(new)
    test = stats.mann_whitney_u(base, new) if n_smaller >= 2 else None
    p_value = test.p_value if test else None
    method = test.method if test else None
    significant = p_value is not None and p_value < options.alpha
    if base_mean <= 0 or new_mean <= 0:
        return Change(
            label,
            None,
            None,
            p_value,
            method,
            minimum_p,
            None,
            significant,
            "undefined",
            f"cannot compare ({quantity} <= 0)",
        )
    ratio = new_mean / base_mean
    change_pct = (ratio - 1) * 100
    ci = (
        stats.bootstrap_ratio_ci(
            base, new, options.confidence, options.bootstrap_resamples, seed=seed
        )
        if options.bootstrap_resamples > 0
        else None
    )
    status, verdict = _verdict(
        ratio,
        options,
        (better, worse),
        untestable=None if test else f"cannot test (n={n_smaller})",
        too_few=f"too few values to test (n={len(base)} vs {len(new)}: p >= {minimum_p:.2g})"
        if minimum_p >= options.alpha
        else None,
        significant=significant,
    )
    return Change(
        label, ratio, change_pct, p_value, method, minimum_p, ci, significant, status, verdict
    )


def _verdict(
    ratio: float,
    options: Options,
    words: tuple[str, str],
    *,
    untestable: str | None,
    too_few: str | None,
    significant: bool,
) -> tuple[Status, str]:
    """Status and verdict of a defined ratio, in precedence: a change below --min-change, no
    test possible, a sample too small ever to be significant, not significant, the direction."""
    if ratio == 1 or abs(ratio - 1) * 100 < options.min_change_pct:
        return "no_change", "no change"
    if untestable is not None:
        return "untestable", untestable
    if too_few is not None:
        return "too_few_values", too_few
    if not significant:
        return "not_significant", "not significant"
    better, worse = words
    return ("improved", better) if ratio < 1 else ("regressed", worse)


def judge_latency(
    base: LatencyRecord, new: LatencyRecord, label: str, options: Options
) -> LatencyChange:
    """The p99 of ``new`` against the p99 of ``base``: ratio, test of the runs' p99 values and
    verdict, in the precedence of ``judge``."""
    better, worse = LATENCY_WORDS
    base_runs, new_runs = base.per_run("p99"), new.per_run("p99")
    runs = (len(base_runs), len(new_runs))
    minimum_p = stats.min_p_value(*runs)
    base_p99, new_p99 = base.p99, new.p99
    if base_p99 is None or new_p99 is None or base.batch != new.batch:
        verdict = latency_incomparable(base, new, label)
        return LatencyChange(
            label, None, None, None, None, minimum_p, False, "undefined", verdict, runs
        )
    test = stats.mann_whitney_u(base_runs, new_runs) if min(runs) >= 2 else None
    p_value = test.p_value if test else None
    method = test.method if test else None
    significant = p_value is not None and p_value < options.alpha

    ratio = new_p99 / base_p99 if base_p99 > 0 and new_p99 > 0 else None
    status: Status
    if ratio is None:
        status, verdict = "undefined", "cannot compare (p99 <= 0)"
    else:
        untestable = (
            "cannot test (no per-run values)"
            if min(runs) == 0
            else (f"cannot test (n={min(runs)} run)")
        )
        status, verdict = _verdict(
            ratio,
            options,
            (better, worse),
            untestable=None if test else untestable,
            too_few=f"too few runs to test (n={runs[0]} vs {runs[1]}: p >= {minimum_p:.2g})"
            if minimum_p >= options.alpha
            else None,
            significant=significant,
        )
    change_pct = None if ratio is None else (ratio - 1) * 100
    return LatencyChange(
        label, ratio, change_pct, p_value, method, minimum_p, significant, status, verdict, runs
    )


def latency_incomparable(base: LatencyRecord, new: LatencyRecord, label: str) -> str:
    """Why two latency records' p99s are not compared."""
    unresolved = [name for name, record in (("base", base), (label, new)) if not record.resolved]
    if unresolved:
        return f"cannot compare (below timer resolution in {' and '.join(unresolved)})"
    return f"cannot compare (p99 of batches of {base.batch} vs {new.batch} rounds)"


def _row(
    key: str, results: Sequence[ResultSet], entries: Sequence[Entry | None], options: Options
) -> Row:
    first = next(entry for entry in entries if entry is not None)
    seed = zlib.crc32(key.encode())
    ideals = _ideals_per_task(entries)
    values = [
        None
        if entry is None
        else (entry.values if ideal is None else [v - ideal for v in entry.values])
        for entry, ideal in zip(entries, ideals, strict=True)
    ]
    on_overhead = any(ideal is not None for ideal in ideals)
    quantity = "overhead" if on_overhead else "mean"
    base = values[0]
    changes = tuple(
        None
        if base is None or new is None
        else judge(base, new, first.unit, result.label, options, seed=seed, quantity=quantity)
        for result, new in zip(results[1:], values[1:], strict=True)
    )
    metric = first.metadata.get("metric")
    latencies = tuple(None if entry is None else entry.latency for entry in entries)
    base_latency = latencies[0]
    latency_changes = tuple(
        None
        if base_latency is None or latency is None
        else judge_latency(base_latency, latency, result.label, options)
        for result, latency in zip(results[1:], latencies[1:], strict=True)
    )
    return Row(
        key=key,
        name=first.name,
        workload=first.workload,
        params=first.params,
        model=first.model,
        unit=first.unit,
        metric=metric if isinstance(metric, str) else None,
        sides=tuple(
            None if entry is None else Side.of(result.label, entry, ideal)
            for result, entry, ideal in zip(results, entries, ideals, strict=True)
        ),
        changes=changes,
        gaps=tuple(_gap_for(result, key) for result in results),
        latencies=latencies,
        latency_changes=latency_changes,
        judged_on_overhead=on_overhead,
    )


def _ideals_per_task(entries: Sequence[Entry | None]) -> list[float | None]:
    """Each file's ideal makespan / N when every file with the benchmark records one (a fan_out
    judged on its overhead), else None for all: a side on the makespan cannot be set against
    one on the overhead."""
    bounds = [
        None if entry is None else recorded_bound(entry.workload, entry.params, entry.metadata)
        for entry in entries
    ]
    ideals = [None if bound is None else bound.ideal_per_task for bound in bounds]
    present = [ideal for entry, ideal in zip(entries, ideals, strict=True) if entry is not None]
    if any(ideal is None for ideal in present):
        return [None] * len(entries)
    return ideals


def _gap_for(result: ResultSet, key: str) -> Gap | None:
    return next((gap for gap in result.gaps if gap.key == key), None)


def _ordered_keys(results: Sequence[ResultSet]) -> list[str]:
    """The base file's order (the run's order), then what only later files have."""
    keys: dict[str, None] = {}
    for result in results:
        for entry in result.entries:
            keys.setdefault(entry.key)
    return list(keys)


def _unit_mismatches(
    keys: Sequence[str], labels: Sequence[str], by_file: Sequence[Mapping[str, Entry]]
) -> list[UnitMismatch]:
    mismatches = []
    for key in keys:
        units = tuple(
            (label, entries[key].unit)
            for label, entries in zip(labels, by_file, strict=True)
            if key in entries
        )
        if len({unit for _, unit in units}) > 1:
            mismatches.append(UnitMismatch(key, units))
    return mismatches


def _missing(key: str, results: Sequence[ResultSet], entries: Sequence[Entry | None]) -> Missing:
    present = tuple(r.label for r, e in zip(results, entries, strict=True) if e is not None)
    absent = tuple(
        (r.label, _gap_for(r, key)) for r, e in zip(results, entries, strict=True) if e is None
    )
    return Missing(key, present, absent)


def _check_spec_versions(results: Sequence[ResultSet], force: bool) -> bool:
    versions = [result.environment.get("spec_version") for result in results]
    known = {str(version) for version in versions if version is not None}
    if len(known) <= 1:
        return False
    if not force:
        listed = ", ".join(
            f"{version} in {result.label}"
            for result, version in zip(results, versions, strict=True)
            if version is not None
        )
        raise ComparisonError(
            f"spec_version differs ({listed}): the workloads changed between these runs and "
            "their results are not comparable; --force compares them anyway"
        )
    return True


def _geometric_means(rows: Sequence[Row], labels: Sequence[str]) -> list[GeometricMean]:
    means = []
    for index, label in enumerate(labels[1:]):
        groups: dict[tuple[Literal["overall", "model", "workload"], str, str], list[float]] = {}
        for row in rows:
            change = row.changes[index]
            if change is None or change.ratio is None:
                continue
            groups.setdefault(("overall", "all", row.unit), []).append(change.ratio)
            if row.model is not None:
                groups.setdefault(("model", row.model, row.unit), []).append(change.ratio)
            if row.workload is not None:
                groups.setdefault(("workload", row.workload, row.unit), []).append(change.ratio)
        order = {"overall": 0, "model": 1, "workload": 2}
        for (group, name, unit), ratios in sorted(
            groups.items(), key=lambda item: order[item[0][0]]
        ):
            means.append(
                GeometricMean(label, group, name, unit, stats.geometric_mean(ratios), len(ratios))
            )
    return means


def environment_differences(results: Sequence[ResultSet]) -> list[EnvironmentDifference]:
    """The environment keys whose values are not the same in every file (a key missing from
    some files counts as a difference): the known ones in their order (``ENVIRONMENT_KEYS``),
    then any other ``*_version`` key."""
    extra = sorted(
        {
            key
            for result in results
            for key in result.environment
            if key.endswith("_version") and key not in ENVIRONMENT_KEYS
        }
        - IGNORED_ENVIRONMENT_KEYS
    )
    differences = []
    for key in (*ENVIRONMENT_KEYS, *extra):
        if key in CALIBRATION_KEYS:
            continue
        values = tuple(_text(result.environment.get(key)) for result in results)
        if all(value is None for value in values) or len(set(values)) == 1:
            continue
        differences.append(EnvironmentDifference(key, values))
    return differences


def _text(value: Any) -> str | None:
    """None for a missing or empty value: the runner records an unset ``environ`` as ""."""
    return None if value is None or value == "" else str(value)
