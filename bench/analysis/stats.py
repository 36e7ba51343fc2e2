"""Statistics for comparing two samples of benchmark values, written here because the suite
does not depend on scipy.

- ``mann_whitney_u``: the two-sided Mann-Whitney U test (Wilcoxon rank-sum), valid for unequal
  sample sizes and for any distribution shape (benchmark values are skewed: a few slow outliers).
  For small samples the p-value comes from the exact distribution of U (with ties: the exact
  distribution over all assignments of the tied ranks), for larger ones from the normal
  approximation with tie and continuity correction, which is too optimistic for tiny samples.
- ``min_p_value``: the smallest p-value the test can give for the sample sizes; when it exceeds
  the significance level no data could ever be called significant, and saying "not
  significant" would be misleading.
- ``bootstrap_ratio_ci``: a percentile bootstrap confidence interval of mean(new) / mean(base),
  seeded so the same files always give the same interval (the suite's one quantile rule,
  ``bench.spec.quantiles``).
- ``geometric_mean``: the mean of ratios that treats 2x and 0.5x symmetrically.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from bench.spec.quantiles import quantile

# The exact distribution is a polynomial of degree n1*n2; up to this size computing it takes
# milliseconds, beyond it the normal approximation is accurate anyway.
EXACT_MAX_PRODUCT = 2500
# With ties the exact distribution is counted over rank sums, O(n * n1 * n^2): kept for the
# small samples (memory cells: a few fresh processes) where the normal approximation is poor.
EXACT_TIES_MAX_TOTAL = 30

Method = Literal["exact", "normal"]


@dataclass(frozen=True)
class MannWhitneyResult:
    """``u`` is U of the first sample (the number of pairs in which it is the larger, ties
    counting one half); ``p_value`` is two-sided; ``method`` says how it was computed."""

    u: float
    p_value: float
    method: Method
    n1: int
    n2: int

    @property
    def min_p_value(self) -> float:
        return min_p_value(self.n1, self.n2)


def ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, tied values sharing the mean of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = (start + end) / 2 + 1
        for position in range(start, end + 1):
            result[order[position]] = shared
        start = end + 1
    return result


def mann_whitney_u(sample1: Sequence[float], sample2: Sequence[float]) -> MannWhitneyResult:
    """Two-sided Mann-Whitney U test of whether one sample tends to have larger values."""
    n1, n2 = len(sample1), len(sample2)
    if n1 < 1 or n2 < 1:
        raise ValueError("both samples need at least one value")
    combined = [*sample1, *sample2]
    rank_sum = sum(ranks(combined)[:n1])
    u1 = rank_sum - n1 * (n1 + 1) / 2
    tie_sizes = [count for count in Counter(combined).values() if count > 1]
    if not tie_sizes and n1 * n2 <= EXACT_MAX_PRODUCT:
        return MannWhitneyResult(u1, _exact_p_value(round(u1), n1, n2), "exact", n1, n2)
    if tie_sizes and n1 + n2 <= EXACT_TIES_MAX_TOTAL:
        p_value = _exact_tied_p_value(ranks(combined), n1, round(2 * rank_sum))
        return MannWhitneyResult(u1, p_value, "exact", n1, n2)
    return MannWhitneyResult(u1, _normal_p_value(u1, n1, n2, tie_sizes), "normal", n1, n2)


def min_p_value(n1: int, n2: int) -> float:
    """The smallest two-sided p-value any rank test can reach with samples of these sizes:
    complete separation is one of C(n1+n2, n1) equally likely orders, in each direction."""
    if n1 < 1 or n2 < 1:
        return 1.0
    return min(1.0, 2 / math.comb(n1 + n2, n1))


def u_distribution(n1: int, n2: int) -> list[int]:
    """How many of the C(n1+n2, n1) orderings without ties give U = 0, 1, ..., n1*n2.

    These counts are the coefficients of the Gaussian binomial coefficient [n1+n2 choose n1]
    in q, built one factor (1 - q^(n2+i)) / (1 - q^i) at a time; every partial product is a
    polynomial with integer coefficients, so the arithmetic is exact.
    """
    degree = n1 * n2
    counts = [1] + [0] * degree
    for i in range(1, n1 + 1):
        shift = n2 + i
        for power in range(degree, shift - 1, -1):
            counts[power] -= counts[power - shift]
        for power in range(i, degree + 1):
            counts[power] += counts[power - i]
    return counts


def _exact_p_value(u: int, n1: int, n2: int) -> float:
    counts = u_distribution(n1, n2)
    total = math.comb(n1 + n2, n1)
    lower = sum(counts[: u + 1])
    upper = sum(counts[u:])
    return float(min(Fraction(1), Fraction(2 * min(lower, upper), total)))


def rank_sum_distribution(all_ranks: Sequence[float], n1: int) -> list[int]:
    """How many ways of picking ``n1`` of the ranks give each doubled rank sum 0, 1, ...

    Doubled, because mid-ranks of ties are multiples of one half and integers count exactly.
    """
    doubled = [round(2 * rank) for rank in all_ranks]
    top = sum(sorted(doubled)[-n1:]) if n1 else 0
    # ways[k][s]: subsets of k of the ranks seen so far with doubled sum s
    ways = [[0] * (top + 1) for _ in range(n1 + 1)]
    ways[0][0] = 1
    for seen, rank in enumerate(doubled):
        for k in range(min(seen + 1, n1), 0, -1):
            below, row = ways[k - 1], ways[k]
            for total in range(top - rank, -1, -1):
                if below[total]:
                    row[total + rank] += below[total]
    return ways[n1]


def _exact_tied_p_value(all_ranks: Sequence[float], n1: int, doubled_rank_sum: int) -> float:
    counts = rank_sum_distribution(all_ranks, n1)
    lower = sum(counts[: doubled_rank_sum + 1])
    upper = sum(counts[doubled_rank_sum:])
    return float(min(Fraction(1), Fraction(2 * min(lower, upper), sum(counts))))


def _normal_p_value(u: float, n1: int, n2: int, tie_sizes: Sequence[int]) -> float:
    n = n1 + n2
    tie_term = sum(t**3 - t for t in tie_sizes) / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12 * ((n + 1) - tie_term)
    if variance <= 0:
        return 1.0  # every value is the same: nothing tells the samples apart
    distance = max(0.0, abs(u - n1 * n2 / 2) - 0.5)
    return min(1.0, math.erfc(distance / math.sqrt(variance) / math.sqrt(2)))


def bootstrap_ratio_ci(
    base: Sequence[float],
    new: Sequence[float],
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of mean(new) / mean(base), resampling each sample with
    replacement; None when it is undefined (an empty sample, or a resampled base mean <= 0)."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    if not base or not new or resamples < 1:
        return None
    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        base_mean = statistics.fmean(rng.choices(base, k=len(base)))
        if base_mean <= 0:
            return None
        ratios.append(statistics.fmean(rng.choices(new, k=len(new))) / base_mean)
    ratios.sort()
    tail = (1 - confidence) / 2
    return quantile(ratios, tail), quantile(ratios, 1 - tail)


def geometric_mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("geometric mean of no values")
    if any(value <= 0 or not math.isfinite(value) for value in values):
        raise ValueError("geometric mean needs positive finite values")
    return math.exp(math.fsum(math.log(value) for value in values) / len(values))
