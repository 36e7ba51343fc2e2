"""A cell is one model running one workload spec; this module plans cells and runs them.

Running a cell verifies the model's result on every run: the operation count it reports must
equal the spec's (that is what a per-operation value is divided by) and its checksum must equal
the spec's independent reference. A mismatch raises; it never becomes a number.

A fan_out cell's metadata also records its ideal makespan (``fan_out_bound``): the least time
any model that lets as many tasks wait at once could take, so that what the model adds per task,
(makespan - ideal) / N, can be told apart from the waiting the spec prescribes.
"""

from __future__ import annotations

import errno
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeGuard

from bench.measure.meters import Meter, Outcome
from bench.registry import Model
from bench.spec.workloads import DEFAULT_MATRIX, FanOut, Spec, SpecError

# The benchmark metadata of a fan_out cell's bound: the ideal makespan in seconds (absent for
# cpu work), the number of tasks it assumes wait at once, and the bound in words.
IDEAL_KEY = "fan_out_ideal"
IDEAL_WORKERS_KEY = "fan_out_ideal_workers"
BOUND_KEY = "fan_out_bound"

# Model order in tables: the baseline first, then from heaviest to lightest.
PREFERRED_ORDER = ("serial", "processes", "threads", "asyncio", "gevent", "greenlet", "generators")


class CellError(RuntimeError):
    """A run did not do the work its spec describes."""


class ResourceLimitError(RuntimeError):
    """The system refused the tasks a cell needs (threads, processes, memory, descriptors).

    Not a bug of the model: the runner records the cell as skipped with the system's error.
    """


# errno values meaning "the system has no room for this": a limit, not a bug. EADDRNOTAVAIL is
# a connect that found no free ephemeral port.
_LIMIT_ERRNOS = {
    errno.EAGAIN,
    errno.ENOMEM,
    errno.EMFILE,
    errno.ENFILE,
    errno.ENOSPC,
    errno.EADDRNOTAVAIL,
}


def resource_limit_reason(exc: BaseException) -> str | None:
    """The system's error when ``exc`` means a resource limit was hit, else None."""
    if isinstance(exc, MemoryError):
        return f"out of memory (MemoryError{': ' + str(exc) if str(exc) else ''})"
    if isinstance(exc, OSError) and exc.errno in _LIMIT_ERRNOS:
        return f"{exc.strerror or exc} ({errno.errorcode.get(exc.errno or 0, exc.errno)})"
    if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        return str(exc)
    return None


@dataclass(frozen=True)
class FanOutBound:
    """The fastest a fan-out can finish whatever the model: ``ideal`` seconds with ``workers``
    tasks waiting at once. cpu work has no model-independent bound: ``ideal`` and ``workers``
    are None and ``text`` says so."""

    ideal: float | None
    workers: int | None
    text: str

    def metadata(self) -> dict[str, str | int | float]:
        if self.ideal is None or self.workers is None:
            return {BOUND_KEY: self.text}
        return {IDEAL_KEY: self.ideal, IDEAL_WORKERS_KEY: self.workers, BOUND_KEY: self.text}


def fan_out_bound(spec: FanOut, concurrency: int) -> FanOutBound:
    """The ideal makespan of ``spec`` when ``concurrency`` tasks can wait at once: each task
    waits D (its sleep, or the server's delay for echo), so ceil(N / W) waves of D; that is D
    when all tasks wait at once and N x D when one does. The work around the waits (launching,
    switching, the I/O itself) is what a model adds, and is left out."""
    if spec.work == "cpu":
        return FanOutBound(None, None, "none: cpu work has no model-independent bound")
    tasks, workers = spec.tasks, max(1, min(concurrency, spec.tasks))
    waves = math.ceil(tasks / workers)
    wait = "sleep" if spec.sleeps else "server delay"
    delay = f"{spec.delay_ms:g} ms"
    total = f"{waves * spec.delay_ms:g} ms"
    if waves == 1:
        who = "the one task waits" if tasks == 1 else f"all {tasks} tasks wait at once"
        text = f"D = {delay} ({wait}): {who}"
    elif workers == 1:
        text = f"N x D = {tasks} x {delay} = {total} ({wait}): one task waits at a time"
    else:
        text = (
            f"ceil(N / W) x D = ceil({tasks} / {workers}) x {delay} = {total} ({wait}): "
            f"{workers} tasks wait at once"
        )
    return FanOutBound(waves * spec.delay, workers, text)


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
    if workload != "fan_out" or not isinstance(params, str) or not isinstance(text, str):
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
    if not _non_negative(ideal):
        return None
    workers = workers if isinstance(workers, int) and not isinstance(workers, bool) else None
    return RecordedBound(ideal / spec.tasks, workers, text, spec.tasks)


def _non_negative(value: object) -> TypeGuard[int | float]:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


@dataclass(frozen=True)
class Cell:
    model: Model
    spec: Spec

    @property
    def name(self) -> str:
        return f"{self.spec.workload}[{self.spec.params}]/{self.model.name}"

    def metadata(self) -> dict[str, str | int | float]:
        return {
            "model": self.model.name,
            "workload": self.spec.workload,
            "params": self.spec.params,
            "metric": self.spec.metric,
            "primitive": self.model.primitive(self.spec.workload),
            "ops_per_run": self.spec.ops,
            **self.fan_out_bound_metadata(),
        }

    def fan_out_bound_metadata(self) -> dict[str, str | int | float]:
        """A fan_out cell's bound, computed where the cell runs (a pool sized by the usable
        CPUs sees the affinity of the process that measures), else nothing."""
        if not isinstance(self.spec, FanOut):
            return {}
        concurrency = self.model.fan_out_concurrency(self.spec.tasks)
        return fan_out_bound(self.spec, concurrency).metadata()


def order_models(models: list[Model]) -> list[Model]:
    rank = {name: index for index, name in enumerate(PREFERRED_ORDER)}
    return sorted(models, key=lambda model: (rank.get(model.name, len(rank)), model.name))


def plan(
    models: list[Model],
    workloads: list[str],
    matrix: tuple[tuple[Spec, str], ...] = DEFAULT_MATRIX,
) -> list[Cell]:
    """Cells of the matrix for these models and workloads, workload-major, in matrix order.

    A matrix entry's scope says which models run it: "all", only the models that declare
    themselves ``LIGHTWEIGHT``, or only the others ("heavyweight").
    """
    cells = []
    for spec, scope in matrix:
        if spec.workload not in workloads:
            continue
        for model in order_models(models):
            if not model.supports(spec.workload):
                continue
            if scope == "lightweight" and not model.lightweight:
                continue
            if scope == "heavyweight" and model.lightweight:
                continue
            cells.append(Cell(model, spec))
    return cells


@lru_cache(maxsize=128)
def reference(spec: Spec) -> tuple[int, ...]:
    """The spec's reference checksum, computed once per process (a cpu workload's takes ms)."""
    return spec.reference()


def run_cell(cell: Cell, meter: Meter) -> Outcome:
    """One run of the cell, measured by ``meter``, verified against the spec."""
    try:
        outcome = cell.model.function(cell.spec.workload)(cell.spec, meter)
    except Exception as exc:
        reason = resource_limit_reason(exc)
        if reason is None:
            raise
        raise ResourceLimitError(f"{cell.name}: cannot start its tasks: {reason}") from exc
    check = getattr(meter, "check_used", None)
    if check is not None:
        check()
    if outcome.ops != cell.spec.ops:
        raise CellError(
            f"{cell.name}: counted {outcome.ops} operations, the spec performs {cell.spec.ops}"
        )
    expected = reference(cell.spec)
    if tuple(outcome.checksum) != expected:
        raise CellError(f"{cell.name}: checksum {outcome.checksum} != reference {expected}")
    return outcome
