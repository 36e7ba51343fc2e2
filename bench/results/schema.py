"""The result file: one set of typed records, read and written here only.

A result file is pyperf JSON (format "1.0"; pyperf's own loader reads it) with one key of the
suite's own, which pyperf ignores:

    "concbench": {"version": 2, "interrupted": bool, "environment": {...},
                  "gaps": [{"name", "workload", "params", "model", "status", "reason",
                            "output": [last lines of error output], <model facts>}, ...],
                  "latency": {cell name: <latency record>, ...}}

The records:

- ``Entry``: one benchmark (a cell, or a foreign pyperf benchmark) with its ``Run``s, its
  metadata and its latency record. Its metadata is pyperf's: what every run shares, file-level
  metadata merged in; a run keeps only what differs. ``ModelFacts`` (order, colour, task noun,
  parallel, baseline) are recorded in a cell's metadata, so readers never import the models.
- ``Gap``: a cell with no number ("failed": a crash, a hang, a wrong checksum, a leaked
  process; "skipped": an unavailable model or a resource limit) and why; from version 2 with
  its model's facts.
- ``LatencyRecord``: a cell's latency pass (``bench.measure.latency``): what a sample is, the
  timer's cost, the rounds per stamp ``batch`` (1 but for a batched pingpong) and the cost
  subtracted from each stamped interval ``batch_cost``, one summary per run (count, p50, p90,
  p99, p99.9, max) and the pooled distribution as [q, seconds] pairs. A cell whose ``batch`` x
  median sample is below ``RESOLUTION`` x the timer's cost is not ``resolved``: its record has
  the ``reason``, the ``median`` and each run's count, and no percentile.
- ``ENVIRONMENT``: every environment key, in the order readers show them; the runner records
  some of them in ``environment`` and a resumed run must match those.
- ``Calibration``: the machine's speed, a reference loop's nanoseconds per iteration, which the
  runner records in ``environment`` (``calibration_ns``, ``calibration_version``); not one a
  resumed run must match.
- ``Point``/``Missing``: what sweeps read of a file (``sweep_data``).
- ``RecordedBound``: a fan_out cell's ideal makespan, as its metadata records it.

Version 1 files (no model facts) load as before: their models' facts come from
``LEGACY_MODELS``, what the seven models of spec version 2 were. Records written before
batching (no ``batch``, no ``resolved``) read as batch 1, resolved. A file in which every cell
failed has an empty benchmark list (which pyperf itself refuses to load); this module reads it.

Reading parses the JSON itself (pyperf JSON versions 6 and "1.0", plain or gzip) so that every
problem becomes one ``ResultFileError`` naming the file and what is wrong with it. A latency
record that is not in the documented shape is such an error, rather than being dropped: a
record silently left out would read as "not measured", and a p99 gate would pass on it unseen.
A record for a cell the file has no benchmark for is ignored. A benchmark whose metadata has the
latency percentiles but whose file has no record gets a record of those percentiles without
runs. Values are those pyperf stores: per loop iteration, warmups excluded, in file order.

Writing replaces the file atomically and never overwrites a file the user already has.
"""

from __future__ import annotations

import datetime
import gzip
import io
import json
import math
import os
import platform
import re
import socket
import statistics
import sys
import tempfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Literal, Protocol, TypeGuard, get_args

from bench.results import labels as file_labels
from bench.spec.cellnames import cell_name
from bench.spec.models import DEFAULT_ORDER, FALLBACK_COLOUR, Parallel, split_model_name
from bench.spec.workloads import FanOut, FanOutBound, SpecError

RESULTS_DIR = Path(__file__).resolve().parents[2] / "results"

FORMAT_KEY = "concbench"
# 2: cells and gaps record their model's facts.
FORMAT_VERSION = 2
READABLE_FORMAT_VERSIONS = (1, 2)
PYPERF_VERSIONS = ("1.0", 6)
PYPERF_WRITTEN_VERSION = "1.0"
GZIP_MAGIC = b"\x1f\x8b"

GapStatus = Literal["failed", "skipped"]
GAP_STATUSES: tuple[GapStatus, ...] = get_args(GapStatus)

# The run metadata of a cell measured in rounds (``runners.rounds``): its round (1-based), its
# place in that round's order (0-based) and the runner's session, so that runs appended by
# another run of the runner are never paired with these.
ROUND_KEY = "round"
ROUND_POSITION_KEY = "round_position"
ROUNDS_SESSION_KEY = "rounds_session"

# pyperf refuses to merge runs that differ in one of these (``Benchmark.add_run``).
CHECKED_ON_MERGE = (
    "aslr", "cpu_count", "cpu_model_name", "hostname", "inner_loops", "name", "platform",
    "python_executable", "python_implementation", "python_unicode", "python_version", "unit",
)  # fmt: skip


class ResultFileError(Exception):
    """A result file cannot be read or written; the message is one line naming the file and the
    problem."""


# --- environment ------------------------------------------------------------------------------

# Every environment key a reader shows first, in this order (any other follows). True: the
# runner records it with the file and a resumed or appended run must match it, as it must match
# the versions of the libraries its models declare.
ENVIRONMENT: tuple[tuple[str, bool], ...] = (
    ("python_version", False),
    ("python_build", True),
    ("python_gil", True),
    ("python_implementation", False),
    ("python_compiler", False),
    ("hostname", True),
    ("platform", False),
    ("cpu_model_name", False),
    ("cpu_count", True),
    ("cpu_freq", False),
    ("cpu_config", False),
    ("cpu_governor", False),
    ("cpu_boost", False),
    # "quiet", or why not (bench.measure.machine); the readings behind it, load_average and
    # busy_processes, are recorded too but not listed here: they differ in every run, and
    # compare reports the keys of this list that differ.
    ("machine_state", False),
    ("aslr", False),
    ("calibration_ns", False),
    ("calibration_version", False),
    ("mp_start_method", True),
    ("pyperf_version", True),
    ("greenlet_version", False),
    ("gevent_version", False),
    ("psutil_version", True),
    ("concbench_version", True),
    ("spec_version", True),
    ("environ", True),
    ("timer", False),
    ("processes", False),
    ("values_per_process", False),
    ("warmups_per_process", False),
    ("measurement", False),
)
ENVIRONMENT_KEYS = tuple(key for key, _ in ENVIRONMENT)
RESUME_KEYS = tuple(key for key, resumed in ENVIRONMENT if resumed)
# Derived from the runs (pyperf's -p/-n/-w options), not stored as metadata.
RUN_SHAPE_KEYS = ("processes", "values_per_process", "warmups_per_process")
CALIBRATION_NS = "calibration_ns"
CALIBRATION_VERSION = "calibration_version"


@dataclass(frozen=True)
class Calibration:
    """The machine's speed as its run measured it before the first cell: nanoseconds per
    iteration of a fixed reference loop (``bench.measure.calibration``) and the loop's version;
    calibrations of different versions are never compared. A file without one (every file
    written before it, or one whose record is malformed) has none: ``of`` returns None."""

    ns_per_iteration: float
    version: int

    def environment(self) -> dict[str, float | int]:
        return {CALIBRATION_NS: round(self.ns_per_iteration, 3), CALIBRATION_VERSION: self.version}

    @classmethod
    def of(cls, environment: Mapping[str, Any]) -> Calibration | None:
        ns, version = environment.get(CALIBRATION_NS), environment.get(CALIBRATION_VERSION)
        if not (_finite(ns) and ns > 0 and _positive_int(version)):
            return None
        return cls(float(ns), version)

    def describe(self) -> str:
        return f"{self.ns_per_iteration:.1f} ns per loop iteration (loop version {self.version})"


# --- model facts ------------------------------------------------------------------------------

MODEL_FACT_KEYS = (
    "model", "base_model", "variant", "model_order", "model_colour", "model_task_noun",
    "model_parallel", "model_baseline",
)  # fmt: skip
_COLOUR = re.compile(r"#[0-9a-f]{6}")


@dataclass(frozen=True)
class ModelFacts:
    """What readers need to know about a model: its place in tables and charts (``order``, then
    name), its ``colour``, what one of its tasks is called, whether CPU-bound work runs on
    several cores at once (``parallel``: always, without-gil or never) and whether it is the
    serial ``baseline``. ``variant`` is empty for a plain model."""

    name: str
    base: str
    variant: str
    order: int
    colour: str
    task_noun: str
    parallel: Parallel
    baseline: bool

    @property
    def sort_key(self) -> tuple[int, str]:
        return self.order, self.name

    def runs_in_parallel(self, gil_disabled: bool) -> bool:
        """Whether its tasks can run CPU work on several cores at once in this interpreter."""
        return self.parallel == "always" or (self.parallel == "without-gil" and gil_disabled)

    def metadata(self) -> dict[str, str | int]:
        """The facts as a cell's metadata; no ``variant`` key for a plain model (pyperf refuses
        empty metadata values)."""
        facts: dict[str, str | int] = {
            "model": self.name,
            "base_model": self.base,
            "model_order": self.order,
            "model_colour": self.colour,
            "model_task_noun": self.task_noun,
            "model_parallel": self.parallel,
            "model_baseline": int(self.baseline),
        }
        if self.variant:
            facts["variant"] = self.variant
        return facts

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, object]) -> ModelFacts:
        """The facts a cell's metadata records; each one it lacks or holds malformed (every
        fact in a version 1 file) is what its model's name says (``for_name``)."""
        name = metadata.get("model")
        fallback = cls.for_name(name if isinstance(name, str) else "")
        order, baseline = metadata.get("model_order"), metadata.get("model_baseline")
        colour, parallel = metadata.get("model_colour"), metadata.get("model_parallel")
        if not (isinstance(colour, str) and _COLOUR.fullmatch(colour)):
            colour = fallback.colour
        return cls(
            name=fallback.name,
            base=_text(metadata.get("base_model"), fallback.base),
            variant=_text(metadata.get("variant"), fallback.variant),
            order=order if _integer(order) else fallback.order,
            colour=str(colour),
            task_noun=_text(metadata.get("model_task_noun"), fallback.task_noun),
            parallel=_parallel(parallel) or fallback.parallel,
            baseline=bool(baseline) if baseline in (0, 1) else fallback.baseline,
        )

    @classmethod
    def for_name(cls, name: str) -> ModelFacts:
        """A model's facts from its name alone: ``LEGACY_MODELS`` for the seven models of spec
        version 2 (a variant of one right after it), else after every known model, in the
        colour undeclared models share, never parallel."""
        base, variant = split_model_name(name)
        known = LEGACY_MODELS.get(base)
        if known is None:
            return cls(
                name, base, variant, DEFAULT_ORDER, FALLBACK_COLOUR, f"{base} task", "never", False
            )
        order, colour, noun, parallel = known
        baseline = base == LEGACY_BASELINE and not variant
        return cls(name, base, variant, order + bool(variant), colour, noun, parallel, baseline)


# What the models of spec version 2 were, for files that do not record their facts: order,
# colour (matplotlib's default cycle, which the charts used), task noun, parallel.
LEGACY_MODELS: Mapping[str, tuple[int, str, str, Parallel]] = MappingProxyType(
    {
        "serial": (0, "#1f77b4", "plain call", "never"),
        "processes": (10, "#ff7f0e", "process", "always"),
        "threads": (20, "#2ca02c", "thread", "without-gil"),
        "asyncio": (30, "#d62728", "asyncio task", "never"),
        "gevent": (40, "#9467bd", "gevent greenlet", "never"),
        "greenlet": (50, "#8c564b", "greenlet", "never"),
        "generators": (60, "#e377c2", "generator", "never"),
    }
)
LEGACY_BASELINE = "serial"


def _text(value: object, default: str) -> str:
    return value if isinstance(value, str) else default


def _parallel(value: object) -> Parallel | None:
    for option in get_args(Parallel):
        if value == option:
            parallel: Parallel = option
            return parallel
    return None


def collect_model_facts(
    entries: Iterable[Entry], gaps: Iterable[Gap] = ()
) -> dict[str, ModelFacts]:
    """Each model's facts as its cells record them: the first cell of the model, else its first
    gap."""
    facts: dict[str, ModelFacts] = {}
    for entry in entries:
        if entry.model is not None and entry.model not in facts:
            facts[entry.model] = entry.model_facts
    for gap in gaps:
        if gap.model is not None and gap.model not in facts:
            facts[gap.model] = gap.model_facts
    return facts


def ordered_models(names: Iterable[str], facts: Mapping[str, ModelFacts]) -> list[str]:
    """The distinct ``names`` in table order: by each model's recorded order, then name."""
    return sorted(
        set(names), key=lambda name: (facts.get(name) or ModelFacts.for_name(name)).sort_key
    )


# --- fan_out bound ----------------------------------------------------------------------------

# A fan_out cell's bound in its metadata: the ideal makespan in seconds (absent for cpu work),
# the number of tasks it assumes wait at once, and the bound in words.
IDEAL_KEY = "fan_out_ideal"
IDEAL_WORKERS_KEY = "fan_out_ideal_workers"
BOUND_KEY = "fan_out_bound"


def bound_metadata(bound: FanOutBound) -> dict[str, str | int | float]:
    """A fan_out cell's bound (``FanOut.bound``, computed where the cell is measured) as its
    metadata; cpu work has no ideal, only the text."""
    if bound.ideal is None or bound.workers is None:
        return {BOUND_KEY: bound.text}
    return {IDEAL_KEY: bound.ideal, IDEAL_WORKERS_KEY: bound.workers, BOUND_KEY: bound.text}


@dataclass(frozen=True)
class RecordedBound:
    """A fan_out benchmark's bound as its metadata records it. ``ideal_per_task`` is the ideal
    makespan / N in seconds: a stored value (makespan / N) less it is the overhead per task;
    None when there is no bound (cpu work)."""

    ideal_per_task: float | None
    workers: int | None
    text: str
    tasks: int

    @property
    def all_wait_at_once(self) -> bool:
        return self.workers is not None and self.workers >= self.tasks

    def overhead(self, values: Sequence[float]) -> list[float] | None:
        """Per-task overhead of each stored value: what the model adds beyond the ideal."""
        if self.ideal_per_task is None:
            return None
        return [value - self.ideal_per_task for value in values]


def recorded_bound(
    workload: object, params: object, metadata: Mapping[str, Any]
) -> RecordedBound | None:
    """The bound a fan_out benchmark's metadata records; None for other workloads and for files
    from before the bound was recorded (their values are the makespan / N only)."""
    text = metadata.get(BOUND_KEY)
    if workload != FanOut.workload or not isinstance(params, str) or not isinstance(text, str):
        return None
    try:
        spec = FanOut.from_params(params)
    except (SpecError, TypeError, ValueError):
        return None
    if not isinstance(spec, FanOut):
        return None
    ideal, workers = metadata.get(IDEAL_KEY), metadata.get(IDEAL_WORKERS_KEY)
    if ideal is None:
        return RecordedBound(None, None, text, spec.tasks)
    if not _finite(ideal) or ideal < 0:
        return None
    return RecordedBound(
        ideal / spec.tasks, workers if _integer(workers) else None, text, spec.tasks
    )


# --- latency ----------------------------------------------------------------------------------

# A run's percentiles as the latency pass stores them, and the fields they become.
LATENCY_RUN_FIELDS = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99.9", "p999"))
# The headline percentiles as benchmark metadata, and the record's fields they are.
LATENCY_METADATA = (
    ("latency_p50", "p50"),
    ("latency_p90", "p90"),
    ("latency_p99", "p99"),
    ("latency_p999", "p999"),
)


@dataclass(frozen=True)
class LatencyRun:
    """One run of the latency pass: its sample count and percentiles (seconds)."""

    count: int
    p50: float
    p90: float
    p99: float
    p999: float
    maximum: float

    def to_json(self) -> dict[str, float | int]:
        data: dict[str, float | int] = {"count": self.count}
        for key, name in LATENCY_RUN_FIELDS:
            data[key] = getattr(self, name)
        data["max"] = self.maximum
        return data

    @classmethod
    def from_json(cls, where: str, raw: object) -> LatencyRun:
        if not isinstance(raw, dict):
            raise ResultFileError(f"{where} is not a JSON object")
        count = raw.get("count")
        if not _positive_int(count):
            raise ResultFileError(f"{where}: 'count' {count!r} is not a positive integer")
        numbers = {}
        for key, name in (*LATENCY_RUN_FIELDS, ("max", "maximum")):
            value = raw.get(key)
            if not _finite(value):
                raise ResultFileError(f"{where}: {key!r} {value!r} is not a finite number")
            numbers[name] = float(value)
        return cls(count=count, **numbers)


@dataclass(frozen=True)
class LatencyRecord:
    """A cell's latency pass. ``p50`` .. ``p999`` are medians over the runs of each run's
    percentile (the benchmark metadata's ``latency_p*``), per operation averaged over batches
    of ``batch`` operations (pingpong rounds; 1 for every other cell); ``quantiles`` are
    (q, value) pairs pooled over all runs, q ascending from 0 to 1; both tuples are empty when
    the file only has the metadata's percentiles.

    ``unresolved`` is the reason when ``batch`` x the ``median`` sample is below the timer's
    resolution: then the percentiles are None, the tuples empty, and ``counts`` holds each
    run's sample count."""

    what: str
    unit: str
    timer_cost: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    p999: float | None
    runs: tuple[LatencyRun, ...] = ()
    quantiles: tuple[tuple[float, float], ...] = ()
    batch: int = 1
    batch_cost: float | None = None
    unresolved: str | None = None
    median: float | None = None
    counts: tuple[int, ...] = ()

    @property
    def resolved(self) -> bool:
        return self.unresolved is None

    @property
    def from_runs(self) -> bool:
        """Whether the record holds the pass's runs (a record made from the metadata's
        percentiles does not, and is not stored: the metadata holds it)."""
        return bool(self.runs or self.counts)

    def percentile(self, name: str) -> float | None:
        """``p50``, ``p90``, ``p99`` or ``p999``; None when the timer cannot resolve them."""
        value: float | None = getattr(self, name)
        return value

    def per_run(self, name: str) -> tuple[float, ...]:
        """Every run's value of one percentile (``p50`` .. ``p999``, ``maximum``)."""
        return tuple(float(getattr(run, name)) for run in self.runs)

    @property
    def samples(self) -> int:
        """Samples per run of a resolved record (the smallest run's count)."""
        return min((run.count for run in self.runs), default=0)

    def to_json(self) -> dict[str, Any]:
        """The record as the file's latency section holds it."""
        if not self.from_runs:
            raise ValueError("a latency record without runs is not stored: the metadata has it")
        data: dict[str, Any] = {
            "what": self.what,
            "unit": self.unit,
            "timer_cost": self.timer_cost,
            "batch": self.batch,
            "batch_cost": self.batch_cost,
            "resolved": self.resolved,
        }
        if self.unresolved is not None:
            data.update(reason=self.unresolved, median=self.median)
            data["runs"] = [{"count": count} for count in self.counts]
            return data
        data["runs"] = [run.to_json() for run in self.runs]
        data["quantiles"] = [[q, value] for q, value in self.quantiles]
        return data

    def metadata(self) -> dict[str, float | int | str]:
        """The record's headline as benchmark metadata: each percentile (the median over the
        runs of that run's percentile); for a cell the timer cannot resolve, the median and the
        reason (``latency_unresolved``) instead."""
        counts = [run.count for run in self.runs] or list(self.counts)
        metadata: dict[str, float | int | str] = {
            "latency_runs": len(counts),
            "latency_samples": counts[0],
            "latency_what": self.what,
            "latency_batch": self.batch,
        }
        if self.timer_cost is not None:
            metadata["latency_timer_cost"] = self.timer_cost
        if self.unresolved is not None:
            if self.median is not None:
                metadata["latency_median"] = self.median
            metadata["latency_unresolved"] = self.unresolved
            return metadata
        for key, name in LATENCY_METADATA:
            value = self.percentile(name)
            if value is not None:
                metadata[key] = value
        return metadata

    @classmethod
    def from_json(cls, where: str, raw: object) -> LatencyRecord:
        """A record as the latency pass writes it; a malformed one is a one-line
        ResultFileError starting with ``where``. Keys it does not know are ignored."""
        if not isinstance(raw, dict):
            raise ResultFileError(f"{where} is not a JSON object")
        what, unit = raw.get("what"), raw.get("unit", "second")
        if not isinstance(what, str) or not what.strip():
            raise ResultFileError(f"{where}: 'what' must be a non-empty text")
        if not isinstance(unit, str) or not unit:
            raise ResultFileError(f"{where}: 'unit' must be a non-empty text")
        costs = {}
        for key in ("timer_cost", "batch_cost"):
            cost = raw.get(key)
            if cost is not None and not _finite(cost):
                raise ResultFileError(f"{where}: {key!r} {cost!r} is not a finite number")
            costs[key] = None if cost is None else float(cost)
        batch = raw.get("batch", 1)
        if not _positive_int(batch):
            raise ResultFileError(f"{where}: 'batch' {batch!r} is not a positive integer")
        resolved = raw.get("resolved", True)
        if not isinstance(resolved, bool):
            raise ResultFileError(f"{where}: 'resolved' {resolved!r} is not true or false")
        raw_runs = raw.get("runs")
        if not isinstance(raw_runs, list) or not raw_runs:
            raise ResultFileError(f"{where}: 'runs' must be a non-empty list")
        common: dict[str, Any] = {"what": " ".join(what.split()), "unit": unit, "batch": batch}
        common.update(costs)
        if not resolved:
            return cls._unresolved_from_json(where, raw, raw_runs, common)
        runs = [LatencyRun.from_json(f"{where}: runs[{i}]", run) for i, run in enumerate(raw_runs)]
        return cls(
            p50=statistics.median(run.p50 for run in runs),
            p90=statistics.median(run.p90 for run in runs),
            p99=statistics.median(run.p99 for run in runs),
            p999=statistics.median(run.p999 for run in runs),
            runs=tuple(runs),
            quantiles=_quantiles(where, raw.get("quantiles", [])),
            **common,
        )

    @classmethod
    def _unresolved_from_json(
        cls, where: str, raw: Mapping[str, Any], raw_runs: list[Any], common: dict[str, Any]
    ) -> LatencyRecord:
        """A record the timer could not resolve: its reason, median and counts; any percentile
        it holds is dropped unread."""
        reason, median = raw.get("reason"), raw.get("median")
        if not isinstance(reason, str) or not reason.strip():
            raise ResultFileError(f"{where}: an unresolved record needs a 'reason' text")
        if not _finite(median):
            raise ResultFileError(f"{where}: 'median' {median!r} is not a finite number")
        counts = []
        for index, run in enumerate(raw_runs):
            count = run.get("count") if isinstance(run, dict) else None
            if not _positive_int(count):
                raise ResultFileError(
                    f"{where}: runs[{index}]: 'count' {count!r} is not a positive integer"
                )
            counts.append(count)
        return cls._unresolved(reason, float(median), common, tuple(counts))

    @classmethod
    def _unresolved(
        cls, reason: str, median: float | None, common: dict[str, Any], counts: tuple[int, ...]
    ) -> LatencyRecord:
        return cls(
            p50=None,
            p90=None,
            p99=None,
            p999=None,
            unresolved=" ".join(reason.split()),
            median=median,
            counts=counts,
            **common,
        )

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> LatencyRecord | None:
        """The percentiles a benchmark's metadata carries (a file whose record was lost, or a
        pyperf tool that kept only the metadata), without runs: nothing to test or draw. A cell
        the timer could not resolve has its reason (``latency_unresolved``) instead."""
        what = metadata.get("latency_what")
        timer_cost = metadata.get("latency_timer_cost")
        batch = metadata.get("latency_batch", 1)
        common: dict[str, Any] = {
            "what": " ".join(what.split()) if isinstance(what, str) and what.strip() else "latency",
            "unit": "second",
            "timer_cost": float(timer_cost) if _finite(timer_cost) else None,
            "batch": batch if _positive_int(batch) else 1,
        }
        reason = metadata.get("latency_unresolved")
        if isinstance(reason, str) and reason.strip():
            median = metadata.get("latency_median")
            return cls._unresolved(reason, float(median) if _finite(median) else None, common, ())
        values = []
        for key, _name in LATENCY_METADATA:
            value = metadata.get(key)
            if not _finite(value):
                return None
            values.append(float(value))
        p50, p90, p99, p999 = values
        return cls(p50=p50, p90=p90, p99=p99, p999=p999, **common)


def _quantiles(where: str, raw: object) -> tuple[tuple[float, float], ...]:
    if not isinstance(raw, list):
        raise ResultFileError(f"{where}: 'quantiles' must be a list of [q, value] pairs")
    pairs: list[tuple[float, float]] = []
    for pair in raw:
        if not (isinstance(pair, list) and len(pair) == 2 and all(map(_finite, pair))):
            raise ResultFileError(f"{where}: quantile {pair!r} is not a [q, value] pair")
        q, value = float(pair[0]), float(pair[1])
        if not 0 <= q <= 1 or (pairs and (q <= pairs[-1][0] or value < pairs[-1][1])):
            raise ResultFileError(
                f"{where}: quantiles must have q from 0 to 1 ascending and values "
                f"non-decreasing (at q={q:g})"
            )
        pairs.append((q, value))
    return tuple(pairs)


# --- cells ------------------------------------------------------------------------------------


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Run:
    """One pyperf run of a benchmark: its values (warmups excluded), its own metadata (what it
    does not share with the benchmark's other runs: ``memory_delta`` of a memory cell, its
    ``date``) and its warmups as (loops, value) pairs. A calibration run has no values."""

    values: tuple[float, ...]
    metadata: Mapping[str, Any] = field(default_factory=_empty)
    warmups: tuple[tuple[int, float], ...] = ()

    def to_json(self, shared: Mapping[str, Any]) -> dict[str, Any]:
        """pyperf's run object; metadata the benchmark or the file holds is left out."""
        data: dict[str, Any] = {}
        if self.warmups:
            data["warmups"] = [[loops, value] for loops, value in self.warmups]
        if self.values:
            data["values"] = list(self.values)
        own = {key: value for key, value in self.metadata.items() if key not in shared}
        if own:
            data["metadata"] = own
        return data


class Dumpable(Protocol):
    """A pyperf Benchmark, as far as ``Entry.from_pyperf`` needs it."""

    def dump(self, file: IO[str], compact: bool = ..., replace: bool = ...) -> None: ...


@dataclass(frozen=True)
class Entry:
    """One benchmark of one file.

    ``workload``/``params``/``model`` are set for the suite's benchmarks and None for foreign
    ones. ``metadata`` is what all its runs share, the file's metadata merged in (the
    benchmark's wins); ``runs`` are all its runs, in file order.
    """

    name: str
    workload: str | None
    params: str | None
    model: str | None
    unit: str
    values: tuple[float, ...]
    metadata: Mapping[str, Any] = field(default_factory=_empty)
    latency: LatencyRecord | None = None
    runs: tuple[Run, ...] = ()

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def stdev(self) -> float:
        """Sample standard deviation; 0.0 with fewer than two values (there is no spread)."""
        return statistics.stdev(self.values) if len(self.values) >= 2 else 0.0

    @property
    def key(self) -> str:
        """What matches this benchmark across files: workload[params]/model for the suite's
        benchmarks (independent of how the name was spelt), the name for foreign ones."""
        if self.workload is not None and self.params is not None and self.model is not None:
            return cell_name(self.workload, self.params, self.model)
        return self.name

    @property
    def is_suite_benchmark(self) -> bool:
        return self.workload is not None and self.params is not None and self.model is not None

    @cached_property
    def model_facts(self) -> ModelFacts:
        """Its model's facts, as the cell recorded them (``ModelFacts.from_metadata``)."""
        return ModelFacts.from_metadata({"model": self.model or self.name, **self.metadata})

    def run_metadata(self, run: Run) -> dict[str, Any]:
        """A run's whole metadata: the benchmark's and its own."""
        return {**self.metadata, **run.metadata}

    def with_metadata(self, updates: Mapping[str, Any]) -> Entry:
        """The entry with these metadata values set for every run."""
        runs = tuple(
            replace(
                run, metadata=_frozen({k: v for k, v in run.metadata.items() if k not in updates})
            )
            for run in self.runs
        )
        return _entry(self.name, {**self.metadata, **updates}, runs, self.latency)

    def add_runs(self, other: Entry) -> Entry:
        """This benchmark with the runs of ``other`` after its own, as pyperf merges them:
        metadata the runs no longer all share moves into the runs. Its latency record is
        ``other``'s, else this one's. Raises ValueError when the two cannot be one benchmark."""
        for key in CHECKED_ON_MERGE:
            if self.metadata.get(key) != other.metadata.get(key):
                raise ValueError(
                    f"{self.name}: cannot merge runs whose {key} differs "
                    f"({self.metadata.get(key)!r}, {other.metadata.get(key)!r})"
                )
        whole = [(run, self.run_metadata(run)) for run in self.runs]
        whole += [(run, other.run_metadata(run)) for run in other.runs]
        shared = _shared_metadata([metadata for _run, metadata in whole])
        runs = tuple(
            replace(run, metadata=_frozen({k: v for k, v in metadata.items() if k not in shared}))
            for run, metadata in whole
        )
        return _entry(self.name, shared, runs, other.latency or self.latency)

    def to_json(self, shared: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """pyperf's benchmark object; metadata the file holds (``shared``) is left out."""
        shared = shared or {}
        runs = self.runs or (Run(self.values),)
        data: dict[str, Any] = {"runs": [run.to_json({**self.metadata, **shared}) for run in runs]}
        own = {key: value for key, value in self.metadata.items() if key not in shared}
        if own:
            data["metadata"] = own
        return data

    @classmethod
    def from_json(
        cls, where: str, raw: object, file_metadata: Mapping[str, Any] | None = None
    ) -> Entry:
        """A pyperf benchmark object (``file_metadata``: its file's), or a one-line
        ResultFileError starting with ``where``."""
        return _parse_benchmark(where, "", raw, file_metadata or {}, PYPERF_WRITTEN_VERSION)[0]

    @classmethod
    def from_pyperf(cls, bench: Dumpable) -> Entry:
        """A pyperf Benchmark (the cell process's measurement) as an entry."""
        text = io.StringIO()
        bench.dump(text, compact=True)
        entries, _ = _parse_suite("a pyperf benchmark", json.loads(text.getvalue()))
        if len(entries) != 1:
            raise ResultFileError(f"a pyperf benchmark holds {len(entries)} benchmarks")
        return entries[0]


def _entry(
    name: str, metadata: Mapping[str, Any], runs: tuple[Run, ...], latency: LatencyRecord | None
) -> Entry:
    return Entry(
        name=name,
        workload=_text_or_none(metadata.get("workload")),
        params=_text_or_none(metadata.get("params")),
        model=_text_or_none(metadata.get("model")),
        unit=str(metadata.get("unit", "second")),
        values=tuple(value for run in runs for value in run.values),
        metadata=_frozen(metadata),
        latency=latency,
        runs=runs,
    )


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


def _shared_metadata(metadatas: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What every mapping holds with the same value (pyperf's common metadata)."""
    if not metadatas:
        return {}
    shared = dict(metadatas[0])
    for other in metadatas[1:]:
        for key in list(shared):
            if key not in other or other[key] != shared[key]:
                del shared[key]
    return shared


# --- gaps -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """A cell the runner could not measure (failed) or did not run (skipped), with why, the last
    lines of a failed cell's error output (a traceback's end) and, when the runner knew them, its
    model's facts."""

    name: str
    workload: str | None
    params: str | None
    model: str | None
    status: GapStatus
    reason: str
    output: tuple[str, ...] = ()
    facts: ModelFacts | None = None

    @property
    def key(self) -> str:
        """Matches ``Entry.key`` of the cell's benchmark in other files."""
        if self.workload is not None and self.params is not None and self.model is not None:
            return cell_name(self.workload, self.params, self.model)
        return self.name

    @property
    def model_facts(self) -> ModelFacts:
        return self.facts or ModelFacts.for_name(self.model or "")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            **(self.facts.metadata() if self.facts is not None else {}),
            "name": self.name,
            "workload": self.workload,
            "params": self.params,
            "model": self.model,
            "status": self.status,
            "reason": self.reason,
            "output": list(self.output),
        }
        return data

    @classmethod
    def from_json(cls, where: str, raw: object) -> Gap:
        if not isinstance(raw, dict):
            raise ResultFileError(f"{where} is not a JSON object")
        status = raw.get("status")
        if status not in GAP_STATUSES:
            raise ResultFileError(
                f"{where}: status {status!r} is not one of {', '.join(GAP_STATUSES)}"
            )
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise ResultFileError(f"{where} has no name")
        output = raw.get("output", [])
        if not isinstance(output, list) or not all(isinstance(line, str) for line in output):
            raise ResultFileError(f"{where}: 'output' must be a list of lines")
        recorded = any(key in raw for key in MODEL_FACT_KEYS if key != "model")
        return cls(
            name=name,
            workload=_text_or_none(raw.get("workload")),
            params=_text_or_none(raw.get("params")),
            model=_text_or_none(raw.get("model")),
            status=status,
            reason=" ".join(str(raw.get("reason", "")).split()) or "no reason given",
            output=tuple(output),
            facts=ModelFacts.from_metadata(raw) if recorded else None,
        )


# --- sweeps -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One measured cell of a sweep: ``value`` is its mean per operation (seconds or bytes)."""

    workload: str
    params: str
    model: str
    value: float


@dataclass(frozen=True)
class Missing:
    """One cell without a number (a gap of the result file), e.g. ``"skipped: time limit: ..."``."""

    workload: str
    params: str
    model: str
    reason: str


def sweep_data(entries: Iterable[Entry], gaps: Iterable[Gap]) -> tuple[list[Point], list[Missing]]:
    """What sweeps read of a file: its cells with a positive mean as points, its gaps as the
    sizes not reached and why."""
    points = [
        Point(entry.workload, entry.params, entry.model, entry.mean)
        for entry in entries
        if entry.workload and entry.params and entry.model and entry.values and entry.mean > 0
    ]
    missing = [
        Missing(gap.workload, gap.params, gap.model, f"{gap.status}: {gap.reason}")
        for gap in gaps
        if gap.workload and gap.params and gap.model
    ]
    return points, missing


# --- files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultSet:
    """One loaded result file. ``environment`` is all that describes the run (the file's and the
    benchmarks' common metadata, the run's shape, the runner's record); ``recorded_environment``
    is the runner's record alone (what a resumed run must match), None when the file has none."""

    path: Path
    label: str
    environment: Mapping[str, Any]
    entries: tuple[Entry, ...]
    gaps: tuple[Gap, ...] = ()
    interrupted: bool = False
    recorded_environment: Mapping[str, Any] | None = None

    @property
    def calibration(self) -> Calibration | None:
        """The run's machine calibration, None when the file has none."""
        return Calibration.of(self.environment)

    def entry(self, key: str) -> Entry | None:
        """The entry with this ``Entry.key`` (or name), None when the file does not have it."""
        for entry in self.entries:
            if key in (entry.key, entry.name):
                return entry
        return None

    @cached_property
    def model_facts(self) -> Mapping[str, ModelFacts]:
        """Each model of the file and its facts (``collect_model_facts``)."""
        return MappingProxyType(collect_model_facts(self.entries, self.gaps))


def model_facts_of(results: Iterable[ResultSet]) -> dict[str, ModelFacts]:
    """The models of several files and their facts, the first file's where they differ."""
    found: dict[str, ModelFacts] = {}
    for result in results:
        for name, facts in result.model_facts.items():
            found.setdefault(name, facts)
    return found


def load(path: str | Path, label: str | None = None) -> ResultSet:
    """Read one result file. The label defaults to its Python version, else the file stem; use
    ``load_all`` to get labels that are unique across several files."""
    path = Path(path)
    data = read_json(path)
    entries, environment = _parse_suite(str(path), data)
    gaps, interrupted, recorded = _parse_sidecar(str(path), data)
    entries = _attach_latency(str(path), data, entries)
    # The runner's record of the run (pyperf options as ``measurement``, for example) fills in
    # what the benchmarks' metadata lacks, and all of it for a file in which every cell failed.
    environment = {**(recorded or {}), **environment}
    if not entries and not gaps:
        raise ResultFileError(f"{path}: contains no benchmarks")
    return ResultSet(
        path=path,
        label=label if label is not None else file_labels.default_label(path, environment),
        environment=MappingProxyType(environment),
        entries=tuple(entries),
        gaps=tuple(gaps),
        interrupted=interrupted,
        recorded_environment=None if recorded is None else MappingProxyType(recorded),
    )


def load_all(paths: Sequence[str | Path], labels: Sequence[str] | None = None) -> list[ResultSet]:
    """Read several files and give each a short label unique among them: the Python version
    when those differ, else the file stem (numbered when stems repeat), or the labels given."""
    if labels is not None:
        if len(labels) != len(paths):
            raise ValueError(f"{len(labels)} labels given for {len(paths)} files")
        if len(set(labels)) != len(labels):
            raise ValueError("labels must be unique")
    loaded = [load(path) for path in paths]
    chosen = list(labels) if labels is not None else file_labels.unique_labels(loaded)
    return [replace(r, label=name) for r, name in zip(loaded, chosen, strict=True)]


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object of a pyperf file (plain or gzip), or a one-line ResultFileError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ResultFileError(f"{path}: is a directory, not a result file") from None
    except OSError as exc:
        raise ResultFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if raw.startswith(GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ResultFileError(f"{path}: truncated or corrupt gzip data ({exc})") from None
    if not raw.strip():
        raise ResultFileError(f"{path}: file is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ResultFileError(f"{path}: not a pyperf JSON file (not UTF-8 text)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # An unterminated string runs to the end of the text: the file was cut off there too.
        cut_off = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        problem = "truncated JSON" if cut_off else "invalid JSON"
        raise ResultFileError(
            f"{path}: {problem} (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise ResultFileError(f"{path}: invalid JSON (nested too deeply)") from None
    if not isinstance(data, dict) or "benchmarks" not in data or "version" not in data:
        raise ResultFileError(
            f"{path}: not a pyperf result file (expected a JSON object with "
            "'version' and 'benchmarks')"
        )
    if data["version"] not in PYPERF_VERSIONS:
        raise ResultFileError(
            f"{path}: unsupported pyperf file format version {data['version']!r} "
            "(supported: '1.0' and 6, pyperf 0.9.6 and later)"
        )
    return data


def _parse_suite(where: str, data: Mapping[str, Any]) -> tuple[list[Entry], dict[str, Any]]:
    """The benchmarks of a pyperf document and the environment they describe together."""
    file_metadata = data.get("metadata") or {}
    if not isinstance(file_metadata, dict):
        raise ResultFileError(f"{where}: 'metadata' must be a JSON object")
    benchmarks = data.get("benchmarks")
    if not isinstance(benchmarks, list):
        raise ResultFileError(f"{where}: 'benchmarks' must be a list")
    version = data.get("version", PYPERF_WRITTEN_VERSION)
    entries: list[Entry] = []
    shapes: list[tuple[int, int, int]] = []
    seen: set[str] = set()
    for index, bench in enumerate(benchmarks):
        entry, shape = _parse_benchmark(where, f"#{index + 1}", bench, file_metadata, version)
        if entry.key in seen:
            raise ResultFileError(f"{where}: benchmark {entry.key!r} appears twice")
        seen.add(entry.key)
        entries.append(entry)
        shapes.append(shape)
    environment = dict(file_metadata)
    environment.update(_common_metadata(entries, exclude=file_metadata))
    environment.update(_run_shape(shapes))
    return entries, environment


def _parse_benchmark(
    where: str, position: str, bench: object, file_metadata: Mapping[str, Any], version: object
) -> tuple[Entry, tuple[int, int, int]]:
    """A benchmark object (``position``: its place in the file, "#1") and its run shape."""
    unnamed = f"{where}: benchmark {position}".rstrip()
    if not isinstance(bench, dict):
        raise ResultFileError(f"{unnamed} is not a JSON object")
    own_metadata = bench.get("metadata") or {}
    if not isinstance(own_metadata, dict):
        raise ResultFileError(f"{unnamed}: 'metadata' must be a JSON object")
    metadata = {**file_metadata, **own_metadata}
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ResultFileError(f"{unnamed} has no name")
    where = f"{where}: benchmark {name!r}"
    inner_loops = metadata.get("inner_loops", 1)
    runs, shape = _parse_runs(where, bench.get("runs"), version, inner_loops)
    return _entry(name, metadata, runs, None), shape


def _parse_runs(
    where: str, raw_runs: object, version: object, inner_loops: object
) -> tuple[tuple[Run, ...], tuple[int, int, int]]:
    if not isinstance(raw_runs, list):
        raise ResultFileError(f"{where} has no list of runs")
    runs: list[Run] = []
    processes = values_per_process = warmups_per_process = 0
    for raw in raw_runs:
        if not isinstance(raw, dict):
            raise ResultFileError(f"{where}: a run is not a JSON object")
        values, warmups = raw.get("values", []), raw.get("warmups", [])
        if not isinstance(values, list) or not isinstance(warmups, list):
            raise ResultFileError(f"{where}: a run's values or warmups are not a list")
        for value in values:
            if not _is_number(value) or not math.isfinite(value):
                raise ResultFileError(f"{where}: value {value!r} is not a finite number")
        run_metadata = raw.get("metadata")
        runs.append(
            Run(
                tuple(float(value) for value in values),
                _frozen(run_metadata if isinstance(run_metadata, dict) else {}),
                _warmups(where, warmups, version, inner_loops),
            )
        )
        if values:
            processes += 1
            values_per_process = max(values_per_process, len(values))
            warmups_per_process = max(warmups_per_process, len(warmups))
    if not processes:
        raise ResultFileError(f"{where} has no values (only calibration runs or none)")
    return tuple(runs), (processes, values_per_process, warmups_per_process)


def _warmups(
    where: str, raw: list[Any], version: object, inner_loops: object
) -> tuple[tuple[int, float], ...]:
    """(loops, value per iteration) pairs; pyperf before format "1.0" stored raw values."""
    pairs = []
    for pair in raw:
        if not (isinstance(pair, list) and len(pair) == 2 and all(map(_finite, pair))):
            raise ResultFileError(f"{where}: warmup {pair!r} is not a [loops, value] pair")
        loops, value = int(pair[0]), float(pair[1])
        if version != PYPERF_WRITTEN_VERSION and loops > 0:
            value /= loops * (inner_loops if _positive_int(inner_loops) else 1)
        pairs.append((loops, value))
    return tuple(pairs)


def _run_shape(shapes: Iterable[tuple[int, int, int]]) -> dict[str, str]:
    """pyperf's -p/-n/-w as seen in the runs: one number, or a range when cells differ
    (memory cells run one value per fresh process, for example)."""
    columns = list(zip(*shapes, strict=True))
    shape = {}
    for key, column in zip(RUN_SHAPE_KEYS, columns, strict=False):
        low, high = min(column), max(column)
        shape[key] = str(low) if low == high else f"{low}-{high}"
    return shape


def _common_metadata(entries: Sequence[Entry], exclude: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata with the same value in every benchmark: pyperf keeps such keys per benchmark
    when it cannot hoist them (a file of one benchmark, for example, or a merged file). A
    cell's own keys (its name, its model and the model's facts) never describe the run."""
    if not entries:
        return {}
    first = entries[0].metadata
    skip = {"name", "workload", "params", "unit", "metric", "primitive", *MODEL_FACT_KEYS}
    return {
        key: value
        for key, value in first.items()
        if key not in exclude
        and key not in skip
        and all(entry.metadata.get(key) == value for entry in entries[1:])
    }


def _parse_sidecar(
    where: str, data: Mapping[str, Any]
) -> tuple[list[Gap], bool, dict[str, Any] | None]:
    sidecar = data.get(FORMAT_KEY)
    if sidecar is None:
        return [], False, None
    if not isinstance(sidecar, dict):
        raise ResultFileError(f"{where}: '{FORMAT_KEY}' must be a JSON object")
    version = sidecar.get("version", 1)
    if not _integer(version) or version not in READABLE_FORMAT_VERSIONS:
        raise ResultFileError(
            f"{where}: concbench format version {version!r} is not one this concbench reads "
            f"({', '.join(map(str, READABLE_FORMAT_VERSIONS))}); a newer concbench wrote it"
        )
    recorded = sidecar.get("environment")
    if recorded is not None and not isinstance(recorded, dict):
        raise ResultFileError(f"{where}: '{FORMAT_KEY}.environment' must be a JSON object")
    raw_gaps = sidecar.get("gaps", [])
    if not isinstance(raw_gaps, list):
        raise ResultFileError(f"{where}: '{FORMAT_KEY}.gaps' must be a list")
    gaps = [
        Gap.from_json(f"{where}: {FORMAT_KEY}.gaps[{i}]", raw) for i, raw in enumerate(raw_gaps)
    ]
    return gaps, bool(sidecar.get("interrupted", False)), recorded


def _attach_latency(where: str, data: Mapping[str, Any], entries: list[Entry]) -> list[Entry]:
    """Entries with their latency records: the sidecar's, else the metadata's percentiles."""
    section = _latency_section(where, data)
    attached = []
    for entry in entries:
        raw = section.get(entry.name, section.get(entry.key))
        record: LatencyRecord | None
        if raw is not None:
            record = LatencyRecord.from_json(f"{where}: latency of {entry.key!r}", raw)
        else:
            record = LatencyRecord.from_metadata(entry.metadata)
        attached.append(replace(entry, latency=record) if record is not None else entry)
    return attached


def _latency_section(where: str, data: Mapping[str, Any]) -> dict[str, Any]:
    sidecar = data.get(FORMAT_KEY)
    if not isinstance(sidecar, dict) or sidecar.get("latency") is None:
        return {}
    section = sidecar["latency"]
    if not isinstance(section, dict):
        raise ResultFileError(f"{where}: '{FORMAT_KEY}.latency' must be a JSON object")
    return section


# --- writing ----------------------------------------------------------------------------------


def document(
    entries: Sequence[Entry],
    gaps: Iterable[Gap] = (),
    environment: Mapping[str, Any] | None = None,
    interrupted: bool = False,
) -> dict[str, Any]:
    """The file's JSON: the benchmarks as pyperf writes them (metadata every benchmark shares
    in the file's ``metadata``, what a benchmark's runs share in its own), then the sidecar."""
    shared = _shared_metadata([entry.metadata for entry in entries])
    data: dict[str, Any] = {
        "version": PYPERF_WRITTEN_VERSION,
        "benchmarks": [entry.to_json(shared) for entry in entries],
    }
    if shared:
        data["metadata"] = shared
    sidecar: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "interrupted": interrupted,
        "gaps": [gap.to_json() for gap in gaps],
    }
    if environment is not None:
        sidecar["environment"] = dict(environment)
    latency = {
        entry.name: entry.latency.to_json()
        for entry in entries
        if entry.latency is not None and entry.latency.from_runs
    }
    if latency:
        sidecar["latency"] = latency
    data[FORMAT_KEY] = sidecar
    return data


# Stands for the latency section while the rest of the document is indented.
_LATENCY_PLACEHOLDER = "\x00latency\x00"


def dumps(data: Mapping[str, Any]) -> str:
    """The document as indented JSON, except that each latency record is one line: indented,
    its 111 quantiles and per-run summaries would take several lines per number and make the
    file three times larger."""
    latency = data.get(FORMAT_KEY, {}).get("latency")
    if not latency:
        return json.dumps(data, indent=4, sort_keys=True)
    sidecar = {**data[FORMAT_KEY], "latency": _LATENCY_PLACEHOLDER}
    text = json.dumps({**data, FORMAT_KEY: sidecar}, indent=4, sort_keys=True)
    records = ",\n".join(
        f"            {json.dumps(name)}: {json.dumps(latency[name], sort_keys=True)}"
        for name in sorted(latency)
    )
    section = "{\n" + records + "\n        }"
    placeholder = json.dumps(_LATENCY_PLACEHOLDER)
    if text.count(placeholder) != 1:
        raise AssertionError("the latency placeholder must occur exactly once")
    return text.replace(placeholder, section)


def default_output(results_dir: Path = RESULTS_DIR) -> Path:
    """``results/<python>-<host>-<timestamp>.json``, unique even within one second."""
    major, minor = sys.version_info[:2]
    python = f"{platform.python_implementation().lower()}{major}.{minor}"
    if getattr(sys, "_is_gil_enabled", lambda: True)() is False:
        python += "t"
    host = socket.gethostname().split(".")[0] or "host"
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    candidate = results_dir / f"{python}-{host}-{stamp}.json"
    counter = 1
    while candidate.exists():
        counter += 1
        candidate = results_dir / f"{python}-{host}-{stamp}-{counter}.json"
    return candidate


class ResultFile:
    """A result file this run owns: created once (refusing an existing path), then replaced
    atomically after every cell so an interruption keeps every finished cell."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._created = False

    def claim(self) -> None:
        """Create the file empty and exclusively, so no other run or user file is overwritten."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise ResultFileError(
                f"{self.path} already exists; choose another output file"
            ) from None
        except OSError as exc:
            raise ResultFileError(f"cannot create {self.path}: {exc.strerror}") from None
        os.close(fd)
        self._created = True

    def adopt(self) -> None:
        """Take over an existing file (``--append``): later writes replace it atomically."""
        if not self.path.is_file():
            raise ResultFileError(f"{self.path} does not exist; nothing to append to")
        self._created = True

    def write(
        self,
        entries: Sequence[Entry],
        gaps: Iterable[Gap] = (),
        environment: Mapping[str, Any] | None = None,
        interrupted: bool = False,
    ) -> None:
        if not self._created:
            raise ResultFileError(f"{self.path}: written before it was claimed")
        gaps = list(gaps)
        if not entries and not gaps:
            return
        text = dumps(document(entries, gaps, environment, interrupted))
        # Same directory, so the rename is atomic: a reader sees the old file or the new one.
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.write("\n")
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def discard_if_empty(self) -> None:
        """Remove the placeholder when no cell produced a result."""
        if self._created and self.path.exists() and self.path.stat().st_size == 0:
            self.path.unlink()


# --- values -----------------------------------------------------------------------------------


def _finite(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: object) -> TypeGuard[int]:
    return _integer(value) and value >= 1


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
