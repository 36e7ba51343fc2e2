"""Result files: pyperf JSON, written atomically, never over a file the user already has.

Besides pyperf's keys a file carries one of its own, which pyperf ignores when it reads the file:

    "concbench": {"version": 1, "interrupted": bool, "environment": {...},
                  "gaps": [{"name", "workload", "params", "model", "status", "reason",
                            "output": [last lines of error output]}, ...],
                  "latency": {cell name: {"what": text, "unit": "second",
                                          "timer_cost": seconds, "batch": k,
                                          "batch_cost": seconds, "resolved": true,
                                          "runs": [{"count", "p50", "p90", "p99", "p99.9",
                                                    "max"}, ...],
                                          "quantiles": [[q, seconds], ...]}
                              or {"what", "unit", "timer_cost", "batch", "batch_cost",
                                  "resolved": false, "reason": text, "median": seconds,
                                  "runs": [{"count"}, ...]}, ...}}

``gaps`` are the cells that have no number and why ("failed": a crash, a hang, a wrong
checksum, a leaked process; "skipped": an unavailable model or a resource limit).
``environment`` is what a resumed run must match. ``latency`` holds the latency pass of each
cell that has one (``bench.measure.latency``): what a sample is, the timer's cost, the rounds per
stamp
``batch`` (1 but for a batched pingpong) and the cost subtracted from each stamped interval
``batch_cost``, then one summary per run and the pooled distribution as quantiles, in seconds
per operation averaged over the batch. A cell whose ``batch`` x median sample is below 20 x the
timer's cost is not ``resolved``: its record has the ``reason``, the ``median`` and each run's
count, and no percentile. Records written before batching have neither ``batch`` nor
``resolved``: they read as batch 1, resolved. The key is absent when no cell has a record.
A run in which every cell failed still writes its gaps, with an empty benchmark list (which
pyperf itself refuses to load).
"""

from __future__ import annotations

import datetime
import io
import json
import os
import platform
import socket
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyperf

from bench.results.resultfiles import ResultFileError, read_json

RESULTS_DIR = Path(__file__).resolve().parents[2] / "results"


FORMAT_KEY = "concbench"
FORMAT_VERSION = 1
GapStatus = Literal["failed", "skipped"]


class StorageError(RuntimeError):
    pass


@dataclass(frozen=True)
class CellGap:
    """A cell of the run with no number, and why."""

    name: str
    workload: str
    params: str
    model: str
    status: GapStatus
    reason: str
    # The last lines of the cell's error output, for a failed cell (a traceback's end).
    output: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CellGap:
        values = {key: data[key] for key in ("name", "workload", "params", "model", "reason")}
        output = data.get("output", [])
        if (
            data["status"] not in ("failed", "skipped")
            or not all(isinstance(value, str) for value in values.values())
            or not isinstance(output, list)
            or not all(isinstance(line, str) for line in output)
        ):
            raise ValueError(f"malformed gap entry {dict(data)!r}")
        return cls(status=data["status"], output=tuple(output), **values)


@dataclass
class StoredResults:
    """What a result file holds."""

    benchmarks: list[pyperf.Benchmark]
    gaps: list[CellGap] = field(default_factory=list)
    environment: dict[str, Any] | None = None
    interrupted: bool = False
    # Cell name -> the cell's latency record, as the cell process produced it.
    latency: dict[str, dict[str, Any]] = field(default_factory=dict)


def read_results(path: Path) -> StoredResults:
    """Read a result file (ours or any pyperf file), or raise StorageError in one line."""
    try:
        data = read_json(path)
    except ResultFileError as exc:
        raise StorageError(str(exc)) from None
    if not isinstance(data["benchmarks"], list):
        raise StorageError(f"{path}: not a pyperf result file (no benchmark list)")
    try:
        benchmarks = list(pyperf.BenchmarkSuite.load(str(path))) if data["benchmarks"] else []
        extra = data.get(FORMAT_KEY) or {}
        gaps = [CellGap.from_json(item) for item in extra.get("gaps", [])]
        environment = extra.get("environment")
        interrupted = bool(extra.get("interrupted", False))
        latency = _latency_records(extra.get("latency") or {})
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StorageError(f"{path}: not a pyperf result file ({exc})") from None
    return StoredResults(benchmarks, gaps, environment, interrupted, latency)


def _latency_records(section: object) -> dict[str, dict[str, Any]]:
    """The latency section, checked for its shape only (bench.results.resultfiles checks the
    values)."""
    if not isinstance(section, dict) or not all(
        isinstance(name, str) and isinstance(record, dict) for name, record in section.items()
    ):
        raise ValueError("its latency section is not an object of records by cell name")
    return {name: dict(record) for name, record in section.items()}


def _document(
    benchmarks: list[pyperf.Benchmark],
    gaps: Iterable[CellGap],
    environment: Mapping[str, Any] | None,
    interrupted: bool,
    latency: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    if benchmarks:
        text = io.StringIO()
        pyperf.BenchmarkSuite(benchmarks).dump(text, compact=False)
        data: dict[str, Any] = json.loads(text.getvalue())
    else:
        data = {"version": "1.0", "benchmarks": []}
    extra: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "interrupted": interrupted,
        "gaps": [asdict(gap) for gap in gaps],
    }
    if environment is not None:
        extra["environment"] = dict(environment)
    if latency:
        extra["latency"] = {name: dict(record) for name, record in latency.items()}
    data[FORMAT_KEY] = extra
    return data


# Stands for the latency section while the rest of the document is indented.
_LATENCY_PLACEHOLDER = "\x00latency\x00"


def _dumps(data: dict[str, Any]) -> str:
    """The document as indented JSON, except that each latency record is one line: indented,
    its 111 quantiles and per-run summaries would take several lines per number and make the
    file three times larger."""
    latency = data.get(FORMAT_KEY, {}).get("latency")
    if not latency:
        return json.dumps(data, indent=4, sort_keys=True)
    extra = {**data[FORMAT_KEY], "latency": _LATENCY_PLACEHOLDER}
    text = json.dumps({**data, FORMAT_KEY: extra}, indent=4, sort_keys=True)
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
            raise StorageError(f"{self.path} already exists; choose another output file") from None
        except OSError as exc:
            raise StorageError(f"cannot create {self.path}: {exc.strerror}") from None
        os.close(fd)
        self._created = True

    def adopt(self) -> None:
        """Take over an existing file (``--append``): later writes replace it atomically."""
        if not self.path.is_file():
            raise StorageError(f"{self.path} does not exist; nothing to append to")
        self._created = True

    def write(
        self,
        benchmarks: list[pyperf.Benchmark],
        gaps: Iterable[CellGap] = (),
        environment: Mapping[str, Any] | None = None,
        interrupted: bool = False,
        latency: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        if not self._created:
            raise StorageError("result file written before it was claimed")
        gaps = list(gaps)
        if not benchmarks and not gaps:
            return
        data = _document(benchmarks, gaps, environment, interrupted, latency)
        # Same directory, so the rename is atomic: a reader sees the old file or the new one.
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(_dumps(data))
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
