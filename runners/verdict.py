"""How a cell ended, as data: what a cell process writes on its result channel and the runner
reads, instead of guessing from the cell's error output.

- ``Measured``: the cell's benchmark, with its latency record when it has one.
- ``Failed``: the exception a measuring process raised (its type and message), or, with no
  type, what the harness found (a pyperf worker that died, a probe killed by a signal).
- ``Skipped``: the cell cannot run here (a resource limit), with the system's reason.

The measuring runs in processes below the cell process: pyperf's workers and the probes. One
that fails writes its own verdict to the file named by ``FAILURE_FILE_VARIABLE`` (the runner
creates it for every cell, and the cell process passes it on), so the cell process can report
the exception itself and not only that a worker exited. A cell process that dies without a
verdict, or is killed, is judged by the runner from what its supervisor saw. Error output is for
people: it is kept and shown, never parsed.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from bench.measure.cells import ResourceLimitError
from bench.results.schema import Entry, LatencyRecord, ResultFileError

FAILURE_FILE_VARIABLE = "CONCBENCH_FAILURE_FILE"
CHANNEL = "the cell's result"


class CellFailed(RuntimeError):
    """The harness found a cell's fault itself (no exception of the cell's own to report)."""


@dataclass(frozen=True)
class Measured:
    entry: Entry

    def to_json(self) -> dict[str, Any]:
        record = self.entry.latency
        return {
            "verdict": "measured",
            "benchmark": self.entry.to_json(),
            "latency": record.to_json() if record is not None and record.from_runs else None,
        }


@dataclass(frozen=True)
class Failed:
    message: str
    error: str | None = None  # the exception's type; None: the harness found the fault

    @property
    def reason(self) -> str:
        return f"{self.error}: {self.message}" if self.error else self.message

    def to_json(self) -> dict[str, Any]:
        return {"verdict": "failed", "error": self.error, "message": self.message}


@dataclass(frozen=True)
class Skipped:
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"verdict": "skipped", "reason": self.reason}


Verdict = Measured | Failed | Skipped


def verdict_of(exc: BaseException) -> Failed | Skipped:
    """What an exception raised while measuring means for the cell."""
    if isinstance(exc, ResourceLimitError):
        return Skipped(f"resource limit: {exc}")
    if isinstance(exc, CellFailed):
        return Failed(str(exc))
    return Failed(" ".join(str(exc).split()) or "(no message)", type(exc).__name__)


def parse(text: str) -> Verdict:
    """A verdict as ``to_json`` wrote it; ValueError (ResultFileError for the benchmark and its
    latency record) naming what is wrong."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    kind = data.get("verdict")
    if kind == "measured":
        entry = Entry.from_json(CHANNEL, data.get("benchmark"))
        raw = data.get("latency")
        if raw is not None:
            latency = LatencyRecord.from_json(f"{CHANNEL}: latency of {entry.name!r}", raw)
            entry = replace(entry, latency=latency)
        return Measured(entry)
    if kind == "failed":
        message, error = data.get("message"), data.get("error")
        if not isinstance(message, str) or not (error is None or isinstance(error, str)):
            raise ValueError("a failed verdict needs a message text and an error type or null")
        return Failed(message, error)
    if kind == "skipped":
        reason = data.get("reason")
        if not isinstance(reason, str):
            raise ValueError("a skipped verdict needs a reason text")
        return Skipped(reason)
    raise ValueError(f"unknown verdict {kind!r}")


@contextmanager
def failure_file() -> Iterator[str]:
    """An empty file for the measuring processes of one cell to leave their verdict in
    (``report_failure``), removed afterwards whatever became of them."""
    fd, path = tempfile.mkstemp(prefix="concbench-failure-", suffix=".json")
    os.close(fd)
    try:
        yield path
    finally:
        os.unlink(path)


def report_failure(exc: BaseException) -> None:
    """In a measuring process that failed: leave the verdict for the cell process, unless an
    earlier process of the cell already did (the first failure is the cause)."""
    path = os.environ.get(FAILURE_FILE_VARIABLE)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as stream:
            if stream.tell() == 0:
                stream.write(json.dumps(verdict_of(exc).to_json()))
    except OSError:
        return  # the verdict falls back to what the cell process sees


def reported_failure() -> Failed | Skipped | None:
    """The verdict a measuring process of this cell left (``report_failure``), if any."""
    path = os.environ.get(FAILURE_FILE_VARIABLE)
    return read_failure(path) if path else None


def read_failure(path: str) -> Failed | Skipped | None:
    """The verdict a measuring process left in the file at ``path``, if any."""
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
        found = parse(text) if text.strip() else None
    except (OSError, ValueError, ResultFileError):
        return None
    return found if isinstance(found, Failed | Skipped) else None


def exit_text(what: str, returncode: int) -> str:
    """How a process ended, in words: "<what> exited with status 3", "... was killed by
    SIGKILL"."""
    if returncode < 0:
        try:
            return f"{what} was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"{what} was killed by signal {-returncode}"
    return f"{what} exited with status {returncode}"
