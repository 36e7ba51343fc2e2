"""Interleaved rounds and the rule that stops them: pure functions of counts and numbers, no
clock of their own, so that tests drive them with synthetic samples.

A row is the cells of one workload with one set of parameters. The runner measures it in
rounds: in every round one pyperf worker process per cell still sampling, in an order that
changes from round to round (``round_order``), so that values measured side by side in time
exist for every pair of models and a drift of the machine falls on all of them alike.

The unit of sampling is the worker process, not the value: values of one process share its
hash seed, memory layout and warm caches, so they scatter less than processes do. A cell's
precision is therefore computed over the means of its runs (one per process): the half-width of
the 95% interval of the mean (Student's t) over the mean. The mean, not the median, because the
mean is the figure the summary, compare and pyperf report, and a t interval over a handful of
independent process means is well defined, where an interval of the median from order
statistics needs far more samples than a 5-minute run can afford.

A cell stops sampling when, after at least ``min_rounds`` rounds, its precision is within the
target (``reached``), or when its rounds have used its time budget or reached ``max_rounds``
(``budget``: it then reports the precision it did reach).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from bench.spec.precision import PRECISION_TARGET, run_mean_precision

T = TypeVar("T")
Stop = Literal["reached", "budget"]
# pyperf's own bound on loops (``pyperf._worker.MAX_LOOPS``).
MAX_LOOPS = 2**32


def round_order(cells: Sequence[T], round_number: int) -> list[T]:
    """The order of the cells in round ``round_number`` (1-based): the rows of a Williams
    design, a Latin square in which each cell also follows every other cell equally often
    (with an odd number of cells, the square and then its mirror image). Over a whole cycle
    each cell takes every place in the round, and what one model leaves behind (warm caches, a
    busy allocator, a CPU clocked up or down) falls on every other model alike."""
    count = len(cells)
    if count == 0:
        return []
    # 0, 1, n-1, 2, n-2, ...: the first row of the design.
    first = [0]
    low, high = 1, count - 1
    while len(first) < count:
        first.append(low)
        low += 1
        if len(first) < count:
            first.append(high)
            high -= 1
    cycle = 2 * count if count % 2 else count
    step = (round_number - 1) % cycle
    row = [cells[(index + step) % count] for index in first]
    return row[::-1] if step >= count else row


def loops_for(region_seconds: float, min_time: float) -> int:
    """pyperf's rule for the loops of one value, applied to a measured run time: the smallest
    power of two whose loops take at least ``min_time``."""
    if not region_seconds > 0:
        raise ValueError(f"a run of the cell took {region_seconds!r} s: cannot size its loops")
    loops = 1
    while loops * region_seconds < min_time and loops * 2 <= MAX_LOOPS:
        loops *= 2
    return loops


@dataclass(frozen=True)
class SamplingRule:
    """When a cell stops adding rounds. ``budget_seconds``: the wall time its rounds may use
    (worker start-up included: it is what the user waits for)."""

    target: float = PRECISION_TARGET
    min_rounds: int = 3
    max_rounds: int = 20
    budget_seconds: float = 4.0

    def __post_init__(self) -> None:
        if not 0 < self.target < 1:
            raise ValueError(f"the precision target must be between 0 and 1, got {self.target}")
        if not 1 <= self.min_rounds <= self.max_rounds:
            raise ValueError(
                f"rounds: need 1 <= minimum ({self.min_rounds}) <= maximum ({self.max_rounds})"
            )
        if not self.budget_seconds > 0:
            raise ValueError(f"the time budget must be positive, got {self.budget_seconds}")


@dataclass
class CellSampling:
    """What one cell of a row has gathered: the mean of each of its runs, the wall time its
    rounds took, and why it stopped (None while it samples)."""

    run_means: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped: Stop | None = None

    @property
    def rounds(self) -> int:
        return len(self.run_means)

    @property
    def precision(self) -> float | None:
        return run_mean_precision(self.run_means)

    def add(self, values: Sequence[float], seconds: float) -> None:
        """One round's run: its values (their mean is the round's sample) and its wall time."""
        if not values:
            raise ValueError("a round's run has no values")
        self.run_means.append(statistics.fmean(values))
        self.seconds += seconds

    def decide(self, rule: SamplingRule) -> Stop | None:
        """After a round: whether the cell stops, and why (also stored in ``stopped``)."""
        if self.stopped is None:
            self.stopped = stop_reason(self, rule)
        return self.stopped


def stop_reason(cell: CellSampling, rule: SamplingRule) -> Stop | None:
    if cell.rounds < rule.min_rounds:
        return None
    precision = cell.precision
    # One round (min_rounds=1, e.g. --debug-single-value) states no interval: nothing to reach.
    if precision is not None and precision <= rule.target:
        return "reached"
    if cell.rounds >= rule.max_rounds or cell.seconds >= rule.budget_seconds:
        return "budget"
    return None
