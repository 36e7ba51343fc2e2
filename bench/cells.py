"""A cell is one model running one workload spec; this module plans cells and runs them.

Running a cell verifies the model's result on every run: the operation count it reports must
equal the spec's (that is what a per-operation value is divided by) and its checksum must equal
the spec's independent reference. A mismatch raises; it never becomes a number.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from functools import lru_cache

from bench.meters import Meter, Outcome
from bench.registry import Model
from bench.workloads import DEFAULT_MATRIX, Spec

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
        }


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
