"""Reading result files for comparison and reports: pyperf JSON, ours or anyone's, plain or gzip.

pyperf's own loader raises assorted exceptions on bad input and refuses a file without benchmarks,
which the runner writes when every cell failed. This module parses the format itself (pyperf JSON
format versions 6 and "1.0") so that every problem becomes one ``ResultFileError`` whose message
names the file and what is wrong with it, and so that the suite's ``concbench`` key (failed and
skipped cells, and the latency pass's records) is read too.

A latency record that is not in the documented shape is an error naming the file and the cell,
like a malformed gap record, rather than being dropped: a record the report silently left out
would read as "not measured", and a p99 gate would pass on it unseen. A record for a cell the
file has no benchmark for is ignored (there is nothing to attach it to). Files without records,
older ones and foreign pyperf files, load as before; a benchmark whose metadata has the latency
percentiles but whose file has no record gets a record of those percentiles without runs. A
record written before batching (no ``batch``, no ``resolved``) reads as batch 1, resolved. A
record the timer could not resolve keeps its reason and median and reads as having no
percentile at all, whatever else it holds: a reader can never show one.

Values are those pyperf stores: per loop iteration, warmups excluded, every value of every run
in file order.
"""

from __future__ import annotations

import gzip
import json
import math
import statistics
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeGuard

SUPPORTED_FORMAT_VERSIONS = ("1.0", 6)
GZIP_MAGIC = b"\x1f\x8b"
# The runner's sidecar key with failed and skipped cells; pyperf ignores unknown top-level keys.
CONCBENCH_KEY = "concbench"
GAP_STATUSES = ("failed", "skipped")

LATENCY_KEY = "latency"
# A run's percentiles as the latency pass stores them, and the fields they become.
LATENCY_RUN_FIELDS = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99.9", "p999"))
LATENCY_METADATA = (
    ("latency_p50", "p50"),
    ("latency_p90", "p90"),
    ("latency_p99", "p99"),
    ("latency_p999", "p999"),
)

# Environment keys derived from the runs (pyperf's -p/-n/-w options), not stored as metadata.
RUN_SHAPE_KEYS = ("processes", "values_per_process", "warmups_per_process")


class ResultFileError(Exception):
    """A result file cannot be used; the message is one line naming the file and the problem."""


@dataclass(frozen=True)
class GapRecord:
    """A cell the runner could not measure (failed) or did not run (skipped), with why."""

    name: str
    workload: str | None
    params: str | None
    model: str | None
    status: Literal["failed", "skipped"]
    reason: str

    @property
    def key(self) -> str:
        """Matches ``Entry.key`` of the cell's benchmark in other files."""
        if self.workload is not None and self.params is not None and self.model is not None:
            return f"{self.workload}[{self.params}]/{self.model}"
        return self.name


@dataclass(frozen=True)
class LatencyRun:
    """One run of the latency pass: its sample count and percentiles (seconds)."""

    count: int
    p50: float
    p90: float
    p99: float
    p999: float
    maximum: float


@dataclass(frozen=True)
class LatencyRecord:
    """A cell's latency pass. ``p50`` .. ``p999`` are medians over the runs of each run's
    percentile (the benchmark metadata's ``latency_p*``), per operation averaged over batches
    of ``batch`` operations (pingpong rounds; 1 for every other cell); ``quantiles`` are
    (q, value) pairs pooled over all runs, q ascending from 0 to 1; both tuples are empty when
    the file only has the metadata's percentiles.

    ``unresolved`` is the reason when ``batch`` x the ``median`` sample is below the timer's
    resolution: then the percentiles are None and the tuples empty."""

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

    @property
    def resolved(self) -> bool:
        return self.unresolved is None

    def percentile(self, name: str) -> float | None:
        """``p50``, ``p90``, ``p99`` or ``p999``; None when the timer cannot resolve them."""
        value: float | None = getattr(self, name)
        return value

    def per_run(self, name: str) -> tuple[float, ...]:
        """Every run's value of one percentile (``p50`` .. ``p999``, ``maximum``)."""
        return tuple(float(getattr(run, name)) for run in self.runs)

    @property
    def samples(self) -> int:
        """Samples per run (the smallest run's count)."""
        return min((run.count for run in self.runs), default=0)


@dataclass(frozen=True)
class Run:
    """One pyperf run of a benchmark: its values (warmups excluded) and its own metadata
    (``memory_delta`` of a memory cell: the run's total bytes)."""

    values: tuple[float, ...]
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Entry:
    """One benchmark of one file.

    ``workload``/``params``/``model`` are set for the suite's benchmarks and None for foreign
    ones. ``metadata`` merges the file's and the benchmark's metadata (the benchmark wins).
    """

    name: str
    workload: str | None
    params: str | None
    model: str | None
    unit: str
    values: tuple[float, ...]
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
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
            return f"{self.workload}[{self.params}]/{self.model}"
        return self.name

    @property
    def is_suite_benchmark(self) -> bool:
        return self.workload is not None and self.params is not None and self.model is not None


@dataclass(frozen=True)
class ResultSet:
    """One loaded result file."""

    path: Path
    label: str
    environment: Mapping[str, Any]
    entries: tuple[Entry, ...]
    gaps: tuple[GapRecord, ...] = ()
    interrupted: bool = False

    def entry(self, key: str) -> Entry | None:
        """The entry with this ``Entry.key`` (or name), None when the file does not have it."""
        for entry in self.entries:
            if key in (entry.key, entry.name):
                return entry
        return None


def load(path: str | Path, label: str | None = None) -> ResultSet:
    """Read one result file. The label defaults to its Python version, else the file stem; use
    ``load_all`` to get labels that are unique across several files."""
    path = Path(path)
    data = read_json(path)
    entries, environment = _parse_benchmarks(path, data)
    gaps, interrupted, run_environment = _parse_sidecar(path, data)
    entries = _attach_latency(path, data, entries)
    # The runner's record of the run (pyperf options as ``measurement``, for example) fills in
    # what the benchmarks' metadata lacks, and all of it for a file in which every cell failed.
    environment = {**run_environment, **environment}
    if not entries and not gaps:
        raise ResultFileError(f"{path}: contains no benchmarks")
    return ResultSet(
        path=path,
        label=label if label is not None else default_label(path, environment),
        environment=MappingProxyType(environment),
        entries=tuple(entries),
        gaps=tuple(gaps),
        interrupted=interrupted,
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
    names = list(labels) if labels is not None else unique_labels(loaded)
    return [
        ResultSet(r.path, name, r.environment, r.entries, r.gaps, r.interrupted)
        for r, name in zip(loaded, names, strict=True)
    ]


def default_label(path: Path, environment: Mapping[str, Any]) -> str:
    """The Python version; for a free-threaded build also its "t" and the GIL state it measured
    with ("3.13.15t GIL off"), so that files that differ only in build or GIL are told apart by
    what differs, not by their names."""
    version = environment.get("python_version")
    if isinstance(version, str) and version.strip():
        return version.split()[0] + _build_suffix(environment)
    return _stem(path)


def _build_suffix(environment: Mapping[str, Any]) -> str:
    build = environment.get("python_build")
    if not isinstance(build, str) or "free-threading" not in build:
        return ""
    # What the workers read after their runs wins over what the interpreter was started with.
    for key in ("python_gil_measured", "python_gil"):
        state = environment.get(key)
        if state in ("enabled", "disabled"):
            return f"t GIL {'on' if state == 'enabled' else 'off'}"
    return "t"


def unique_labels(results: Sequence[ResultSet]) -> list[str]:
    for candidates in (
        [r.label for r in results],
        [_python_and_host(r) for r in results],
        [_stem(r.path) for r in results],
    ):
        if all(candidates) and len(set(candidates)) == len(candidates):
            return candidates
    stems = [_stem(r.path) for r in results]
    seen: Counter[str] = Counter()
    numbered = []
    for stem in stems:
        seen[stem] += 1
        numbered.append(stem if seen[stem] == 1 else f"{stem}#{seen[stem]}")
    return numbered


def _python_and_host(result: ResultSet) -> str:
    version = result.environment.get("python_version")
    host = result.environment.get("hostname")
    if not isinstance(version, str) or not isinstance(host, str):
        return ""
    return f"{version.split()[0]}{_build_suffix(result.environment)}@{host}"


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".json.gz", ".gz", ".json"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


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
    if data["version"] not in SUPPORTED_FORMAT_VERSIONS:
        raise ResultFileError(
            f"{path}: unsupported pyperf file format version {data['version']!r} "
            "(supported: '1.0' and 6, pyperf 0.9.6 and later)"
        )
    return data


def _parse_benchmarks(path: Path, data: Mapping[str, Any]) -> tuple[list[Entry], dict[str, Any]]:
    file_metadata = data.get("metadata") or {}
    if not isinstance(file_metadata, dict):
        raise ResultFileError(f"{path}: 'metadata' must be a JSON object")
    benchmarks = data["benchmarks"]
    if not isinstance(benchmarks, list):
        raise ResultFileError(f"{path}: 'benchmarks' must be a list")
    entries: list[Entry] = []
    shapes: list[tuple[int, int, int]] = []
    seen: set[str] = set()
    for index, bench in enumerate(benchmarks):
        where = f"{path}: benchmark #{index + 1}"
        if not isinstance(bench, dict):
            raise ResultFileError(f"{where} is not a JSON object")
        own_metadata = bench.get("metadata") or {}
        if not isinstance(own_metadata, dict):
            raise ResultFileError(f"{where}: 'metadata' must be a JSON object")
        metadata = {**file_metadata, **own_metadata}
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            raise ResultFileError(f"{where} has no name")
        where = f"{path}: benchmark {name!r}"
        values, shape, runs = _parse_runs(where, bench.get("runs"))
        entry = Entry(
            name=name,
            workload=_text_or_none(metadata.get("workload")),
            params=_text_or_none(metadata.get("params")),
            model=_text_or_none(metadata.get("model")),
            unit=str(metadata.get("unit", "second")),
            values=values,
            metadata=MappingProxyType(metadata),
            runs=runs,
        )
        if entry.key in seen:
            raise ResultFileError(f"{path}: benchmark {entry.key!r} appears twice")
        seen.add(entry.key)
        entries.append(entry)
        shapes.append(shape)
    environment = dict(file_metadata)
    environment.update(_common_metadata(entries, exclude=file_metadata))
    environment.update(_run_shape(shapes))
    return entries, environment


def _parse_runs(
    where: str, runs: object
) -> tuple[tuple[float, ...], tuple[int, int, int], tuple[Run, ...]]:
    if not isinstance(runs, list):
        raise ResultFileError(f"{where} has no list of runs")
    values: list[float] = []
    kept: list[Run] = []
    processes = values_per_process = warmups_per_process = 0
    for run in runs:
        if not isinstance(run, dict):
            raise ResultFileError(f"{where}: a run is not a JSON object")
        run_values = run.get("values", [])
        warmups = run.get("warmups", [])
        if not isinstance(run_values, list) or not isinstance(warmups, list):
            raise ResultFileError(f"{where}: a run's values or warmups are not a list")
        for value in run_values:
            if not _is_number(value) or not math.isfinite(value):
                raise ResultFileError(f"{where}: value {value!r} is not a finite number")
            values.append(float(value))
        if run_values:
            run_metadata = run.get("metadata")
            kept.append(
                Run(
                    tuple(float(value) for value in run_values),
                    MappingProxyType(dict(run_metadata) if isinstance(run_metadata, dict) else {}),
                )
            )
            processes += 1
            values_per_process = max(values_per_process, len(run_values))
            warmups_per_process = max(warmups_per_process, len(warmups))
    if not values:
        raise ResultFileError(f"{where} has no values (only calibration runs or none)")
    return tuple(values), (processes, values_per_process, warmups_per_process), tuple(kept)


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
    when it cannot hoist them (a file of one benchmark, for example, or a merged file)."""
    if not entries:
        return {}
    first = entries[0].metadata
    skip = {"name", "workload", "params", "model", "unit", "metric", "primitive"}
    return {
        key: value
        for key, value in first.items()
        if key not in exclude
        and key not in skip
        and all(entry.metadata.get(key) == value for entry in entries[1:])
    }


def _parse_sidecar(
    path: Path, data: Mapping[str, Any]
) -> tuple[list[GapRecord], bool, dict[str, Any]]:
    sidecar = data.get(CONCBENCH_KEY)
    if sidecar is None:
        return [], False, {}
    if not isinstance(sidecar, dict):
        raise ResultFileError(f"{path}: '{CONCBENCH_KEY}' must be a JSON object")
    run_environment = sidecar.get("environment") or {}
    if not isinstance(run_environment, dict):
        raise ResultFileError(f"{path}: '{CONCBENCH_KEY}.environment' must be a JSON object")
    raw_gaps = sidecar.get("gaps", [])
    if not isinstance(raw_gaps, list):
        raise ResultFileError(f"{path}: '{CONCBENCH_KEY}.gaps' must be a list")
    gaps = []
    for index, raw in enumerate(raw_gaps):
        where = f"{path}: {CONCBENCH_KEY}.gaps[{index}]"
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
        gaps.append(
            GapRecord(
                name=name,
                workload=_text_or_none(raw.get("workload")),
                params=_text_or_none(raw.get("params")),
                model=_text_or_none(raw.get("model")),
                status=status,
                reason=" ".join(str(raw.get("reason", "")).split()) or "no reason given",
            )
        )
    return gaps, bool(sidecar.get("interrupted", False)), run_environment


def _attach_latency(path: Path, data: Mapping[str, Any], entries: list[Entry]) -> list[Entry]:
    """Entries with their latency records: the sidecar's, else the metadata's percentiles."""
    raw_records = _latency_section(path, data)
    attached = []
    for entry in entries:
        raw = raw_records.get(entry.name, raw_records.get(entry.key))
        if raw is not None:
            record: LatencyRecord | None = _parse_latency(f"{path}: latency of {entry.key!r}", raw)
        else:
            record = _latency_from_metadata(entry.metadata)
        attached.append(replace(entry, latency=record) if record is not None else entry)
    return attached


def _latency_section(path: Path, data: Mapping[str, Any]) -> dict[str, Any]:
    sidecar = data.get(CONCBENCH_KEY)
    if not isinstance(sidecar, dict) or sidecar.get(LATENCY_KEY) is None:
        return {}
    section = sidecar[LATENCY_KEY]
    if not isinstance(section, dict):
        raise ResultFileError(f"{path}: '{CONCBENCH_KEY}.{LATENCY_KEY}' must be a JSON object")
    return section


def _parse_latency(where: str, raw: object) -> LatencyRecord:
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
        return _parse_unresolved(where, raw, raw_runs, common)
    runs = [_parse_latency_run(f"{where}: runs[{i}]", run) for i, run in enumerate(raw_runs)]
    quantiles = _parse_quantiles(where, raw.get("quantiles", []))
    return LatencyRecord(
        p50=statistics.median(run.p50 for run in runs),
        p90=statistics.median(run.p90 for run in runs),
        p99=statistics.median(run.p99 for run in runs),
        p999=statistics.median(run.p999 for run in runs),
        runs=tuple(runs),
        quantiles=quantiles,
        **common,
    )


def _parse_unresolved(
    where: str, raw: Mapping[str, Any], raw_runs: list[Any], common: dict[str, Any]
) -> LatencyRecord:
    """A record the timer could not resolve: its reason and median; any percentile it holds
    is dropped unread."""
    reason, median = raw.get("reason"), raw.get("median")
    if not isinstance(reason, str) or not reason.strip():
        raise ResultFileError(f"{where}: an unresolved record needs a 'reason' text")
    if not _finite(median):
        raise ResultFileError(f"{where}: 'median' {median!r} is not a finite number")
    for index, run in enumerate(raw_runs):
        count = run.get("count") if isinstance(run, dict) else None
        if not _positive_int(count):
            raise ResultFileError(
                f"{where}: runs[{index}]: 'count' {count!r} is not a positive integer"
            )
    return _unresolved_record(reason, float(median), common)


def _unresolved_record(reason: str, median: float | None, common: dict[str, Any]) -> LatencyRecord:
    """A record with no percentile: the timer could not resolve its samples."""
    return LatencyRecord(
        p50=None,
        p90=None,
        p99=None,
        p999=None,
        unresolved=" ".join(reason.split()),
        median=median,
        **common,
    )


def _parse_latency_run(where: str, raw: object) -> LatencyRun:
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
    return LatencyRun(count=count, **numbers)


def _parse_quantiles(where: str, raw: object) -> tuple[tuple[float, float], ...]:
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


def _latency_from_metadata(metadata: Mapping[str, Any]) -> LatencyRecord | None:
    """The percentiles the benchmark's metadata carries (a file whose sidecar was lost, or a
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
        return _unresolved_record(reason, float(median) if _finite(median) else None, common)
    values = []
    for key, _name in LATENCY_METADATA:
        value = metadata.get(key)
        if not _finite(value):
            return None
        values.append(float(value))
    p50, p90, p99, p999 = values
    return LatencyRecord(p50=p50, p90=p90, p99=p99, p999=p999, **common)


def _finite(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
