"""When a latency sample is below what the timer resolves.

A time stamp costs 100-300 ns and its jitter is of the same order, so an interval of a few
hundred nanoseconds is mostly timer. A cell of the latency pass is *resolved* when k (its
operations per stamp) x its median sample is at least ``RESOLUTION`` times the timer's cost; an
unresolved cell reports no percentile. The latency pass applies the rule; tables and reports
say it.
"""

from __future__ import annotations

# A cell is resolved when k x its median sample is at least this many times the timer's cost.
RESOLUTION = 20.0
# What a table shows where the timer cannot resolve a cell's samples.
BELOW_RESOLUTION = "below timer resolution"


def is_resolved(median: float, cost: float, batch: int = 1, resolution: float = RESOLUTION) -> bool:
    """Whether ``batch`` x a median sample (seconds per operation) stands ``resolution`` times
    above the timer's cost; a median at or below zero never does."""
    return median > 0 and batch * median >= resolution * cost
