"""The precision a cell's mean reached, and the target it is held to.

Precision is the half-width of the 95% confidence interval of the mean, as a fraction of the
mean: Student's t (two-sided, n - 1 degrees of freedom) times the standard error of the cell's
values. The mean because it is the number the summary and pyperf report for a cell. The values
of one pyperf worker are not fully independent of each other, so this is a lower bound of the
true uncertainty rather than an exact one.

The target lives here, below measuring and analysis alike, so that the summary that marks a
cell "unstable" and a sampling loop that stops once a cell is precise enough use one number.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

# A cell whose 95% interval is wider than ±2% of its mean is "unstable".
PRECISION_TARGET = 0.02
CONFIDENCE = 0.95

# Two-sided 95% quantiles of Student's t for 1 to 30 degrees of freedom.
_T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_Z_975 = 1.959964


def t_quantile_975(degrees: int) -> float:
    """Student's t at 0.975 for ``degrees`` degrees of freedom (1 or more): the table up to
    30, then the Cornish-Fisher expansion around the normal quantile (within 0.001 there)."""
    if degrees < 1:
        raise ValueError("Student's t needs at least one degree of freedom")
    if degrees <= len(_T_975):
        return _T_975[degrees - 1]
    z, nu = _Z_975, float(degrees)
    return (
        z
        + (z**3 + z) / (4 * nu)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * nu**3)
    )


def relative_precision(values: Sequence[float]) -> float | None:
    """The 95% interval's half-width over the mean; None for fewer than two values or a mean
    that is not positive (no interval can be stated relative to it)."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    if not mean > 0:
        return None
    half_width = t_quantile_975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return half_width / mean


def run_mean_precision(run_means: Sequence[float]) -> float | None:
    """The same over the means of a cell's runs, one per worker process: the precision of a
    cell measured in rounds (``bench.measure.sampling``), whose processes, not its values, are
    the independent samples."""
    return relative_precision(run_means)
