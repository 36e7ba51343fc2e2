"""A cell is one model running one workload spec; this module runs cells (``bench.planning``
plans them).

Running a cell verifies the model's result on every run: the operation count it reports must
equal the spec's (that is what a per-operation value is divided by) and its checksum must equal
the spec's independent reference; a variant's model must have read every parameter of the
variant. A mismatch raises; it never becomes a number.

A fan_out cell also has an ideal makespan (``Cell.fan_out_bound``): the least time any model
that lets as many tasks wait at once could take, so that what the model adds per task,
(makespan - ideal) / N, can be told apart from the waiting the spec prescribes. The runner
records it with the cell's result (``bench.results.schema.bound_metadata``).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from functools import lru_cache

from bench.measure.meters import Meter, Outcome
from bench.spec.cellnames import cell_name
from bench.spec.models import Model
from bench.spec.workloads import FanOut, FanOutBound, Spec


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
        return cell_name(self.spec.workload, self.spec.params, self.model.name)

    def metadata(self) -> dict[str, str | int | float]:
        return {
            "model": self.model.name,
            "workload": self.spec.workload,
            "params": self.spec.params,
            "metric": self.spec.metric,
            "primitive": self.model.primitive(self.spec.workload),
            "ops_per_run": self.spec.ops,
        }

    def fan_out_bound(self) -> FanOutBound | None:
        """A fan_out cell's bound (``FanOut.bound``), computed where the cell runs (a pool sized
        by the usable CPUs sees the affinity of the process that measures); None for other
        workloads."""
        if not isinstance(self.spec, FanOut):
            return None
        return self.spec.bound(self.model.fan_out_concurrency(self.spec.tasks))


@lru_cache(maxsize=128)
def reference(spec: Spec) -> tuple[int, ...]:
    """The spec's reference checksum, computed once per process (a cpu workload's takes ms)."""
    return spec.reference()


def run_cell(cell: Cell, meter: Meter) -> Outcome:
    """One run of the cell, measured by ``meter``, verified against the spec."""
    missing = cell.model.missing_environ()
    if missing:
        # Only the interpreter's start applies these (PYTHON_GIL): the runner sets them.
        raise CellError(f"{cell.name}: its process must start with {' '.join(missing)}")
    variant = cell.model.parameters()
    try:
        outcome = cell.model.function(cell.spec.workload)(cell.spec, meter, variant)
    except Exception as exc:
        reason = resource_limit_reason(exc)
        if reason is None:
            raise
        raise ResourceLimitError(f"{cell.name}: cannot start its tasks: {reason}") from exc
    check = getattr(meter, "check_used", None)
    if check is not None:
        check()
    if not isinstance(outcome, Outcome):
        raise CellError(f"{cell.name}: returned {outcome!r}, not an Outcome")
    unread = variant.unread()
    if unread:
        raise CellError(
            f"{cell.name}: the model never read the variant's {', '.join(unread)}: the cell "
            f"would measure the plain model under the variant's name"
        )
    if outcome.ops != cell.spec.ops:
        raise CellError(
            f"{cell.name}: counted {outcome.ops} operations, the spec performs {cell.spec.ops}"
        )
    expected = reference(cell.spec)
    if tuple(outcome.checksum) != expected:
        raise CellError(f"{cell.name}: checksum {outcome.checksum} != reference {expected}")
    return outcome
