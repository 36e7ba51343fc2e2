"""The one quantile rule of the suite: the latency pass's percentiles and the bootstrap's
confidence intervals both read sorted values through ``quantile``."""

from __future__ import annotations

import math
from collections.abc import Sequence


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (q in [0, 1]) of sorted values, interpolating linearly between the two
    closest ranks: position q * (n - 1) of the 0-based sorted sample."""
    if not sorted_values:
        raise ValueError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be from 0 to 1, got {q!r}")
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    lower, upper = sorted_values[low], sorted_values[high]
    # Capped at the upper rank so that rounding cannot make a quantile exceed the next one.
    return min(upper, lower + (position - low) * (upper - lower))
