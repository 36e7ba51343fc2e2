"""Statistics against values computed by hand or by brute-force enumeration."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from bench.analysis import stats


def enumerated_p_value(sample1: list[float], sample2: list[float]) -> float:
    """Two-sided p-value by listing every way to split the pooled ranks: the definition."""
    pooled = stats.ranks([*sample1, *sample2])
    n1 = len(sample1)
    observed = sum(pooled[:n1])
    sums = [
        sum(pooled[i] for i in chosen) for chosen in itertools.combinations(range(len(pooled)), n1)
    ]
    lower = sum(1 for total in sums if total <= observed + 1e-9)
    upper = sum(1 for total in sums if total >= observed - 1e-9)
    return min(1.0, 2 * min(lower, upper) / len(sums))


def test_ranks_share_the_mean_rank_of_ties() -> None:
    assert stats.ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4]
    assert stats.ranks([3, 1, 2]) == [3, 1, 2]
    assert stats.ranks([5, 5, 5]) == [2, 2, 2]


@pytest.mark.parametrize(
    ("n1", "n2", "counts"),
    [
        (1, 1, [1, 1]),
        (2, 2, [1, 1, 2, 1, 1]),
        (3, 3, [1, 1, 2, 3, 3, 3, 3, 2, 1, 1]),
        (2, 3, [1, 1, 2, 2, 2, 1, 1]),
    ],
)
def test_u_distribution_small_sizes(n1: int, n2: int, counts: list[int]) -> None:
    assert stats.u_distribution(n1, n2) == counts
    assert sum(counts) == math.comb(n1 + n2, n1)


def test_u_distribution_matches_enumeration() -> None:
    for n1, n2 in itertools.product(range(1, 7), repeat=2):
        counts = [0] * (n1 * n2 + 1)
        for chosen in itertools.combinations(range(n1 + n2), n1):
            counts[sum(chosen) - n1 * (n1 - 1) // 2] += 1
        assert stats.u_distribution(n1, n2) == counts, (n1, n2)


def test_complete_separation_of_three_against_three_is_p_one_tenth() -> None:
    result = stats.mann_whitney_u([1, 2, 3], [4, 5, 6])
    assert result.u == 0
    assert result.method == "exact"
    assert result.p_value == pytest.approx(0.1)  # 2 of the 20 orders are this extreme


def test_unequal_sizes_exact() -> None:
    result = stats.mann_whitney_u([1, 2, 3, 4], [5, 6, 7, 8, 9])
    assert (result.u, result.n1, result.n2) == (0, 4, 5)
    assert result.p_value == pytest.approx(2 / 126)


def test_exact_p_value_of_an_interior_u() -> None:
    # U = 1 for sizes 3 and 3: P(U <= 1) = 2/20, two-sided 4/20.
    result = stats.mann_whitney_u([1, 2, 4], [3, 5, 6])
    assert result.u == 1
    assert result.p_value == pytest.approx(0.2)


def test_symmetric_in_the_samples() -> None:
    first, second = [1.0, 3.5, 2.2, 8.1], [2.9, 4.4, 6.0, 7.7, 9.3, 0.5]
    forward = stats.mann_whitney_u(first, second)
    backward = stats.mann_whitney_u(second, first)
    assert forward.p_value == pytest.approx(backward.p_value)
    assert forward.u + backward.u == len(first) * len(second)


def test_identical_samples_give_p_one() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert stats.mann_whitney_u(values, values).p_value == 1.0
    assert stats.mann_whitney_u([7.0] * 5, [7.0] * 3).p_value == 1.0


def test_exact_with_ties_matches_enumeration() -> None:
    cases: list[tuple[list[float], list[float]]] = [
        ([1, 1, 1], [2, 2, 2]),
        ([1, 2, 2, 3], [2, 4, 5, 6]),
        ([5, 5, 6, 7, 7], [5, 6, 6, 8]),
        ([0.5, 0.5], [0.5, 1.5, 1.5]),
    ]
    for first, second in cases:
        result = stats.mann_whitney_u(first, second)
        assert result.method == "exact"
        assert result.p_value == pytest.approx(enumerated_p_value(first, second)), (first, second)


def test_tied_separation_is_p_one_tenth_not_the_normal_approximation() -> None:
    # The normal approximation would say p = 0.046 and call it significant.
    assert stats.mann_whitney_u([1, 1, 1], [2, 2, 2]).p_value == pytest.approx(0.1)


def test_normal_approximation_with_ties_by_hand() -> None:
    first = [1.0] * 10 + [2.0] * 10
    second = [2.0] * 10 + [3.0] * 10
    # Ranks: ten 1s share 5.5, twenty 2s share 20.5, ten 3s share 35.5.
    # R1 = 10*5.5 + 10*20.5 = 260, U1 = 260 - 20*21/2 = 50, mean 200.
    # Tie term: ((10^3-10) * 2 + (20^3-20)) / (40*39) = 9960/1560.
    variance = 20 * 20 / 12 * (41 - 9960 / 1560)
    expected = math.erfc((150 - 0.5) / math.sqrt(variance) / math.sqrt(2))
    result = stats.mann_whitney_u(first, second)
    assert result.method == "normal"
    assert result.u == 50
    assert result.p_value == pytest.approx(expected)


def test_normal_approximation_without_ties_for_large_samples() -> None:
    first = [float(i) for i in range(60)]
    second = [i + 10.5 for i in range(60)]
    result = stats.mann_whitney_u(first, second)
    assert result.method == "normal"
    # Every second value is above the first unless it is within the 50 overlapping values.
    u = sum(1 for a in first for b in second if a > b)
    assert result.u == u
    z = (abs(u - 1800) - 0.5) / math.sqrt(3600 * 121 / 12)
    assert result.p_value == pytest.approx(math.erfc(z / math.sqrt(2)))


def test_min_p_value() -> None:
    assert stats.min_p_value(3, 3) == pytest.approx(0.1)
    assert stats.min_p_value(2, 2) == pytest.approx(1 / 3)
    assert stats.min_p_value(1, 5) == pytest.approx(1 / 3)
    assert stats.min_p_value(1, 1) == 1.0
    assert stats.min_p_value(9, 9) == pytest.approx(float(Fraction(2, math.comb(18, 9))))
    assert stats.mann_whitney_u([1, 2, 3], [4, 5, 6]).min_p_value == pytest.approx(0.1)


def test_empty_sample_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        stats.mann_whitney_u([], [1.0])


def test_bootstrap_is_deterministic_and_brackets_the_ratio() -> None:
    base = [1.0, 1.1, 0.9, 1.05, 0.95, 1.02]
    new = [1.3, 1.4, 1.2, 1.35, 1.25, 1.31]
    interval = stats.bootstrap_ratio_ci(base, new, seed=7)
    assert interval == stats.bootstrap_ratio_ci(base, new, seed=7)
    assert interval is not None
    low, high = interval
    ratio = (sum(new) / len(new)) / (sum(base) / len(base))
    assert low < ratio < high
    assert low > 1.0


def test_bootstrap_of_constant_samples_is_a_point() -> None:
    assert stats.bootstrap_ratio_ci([2.0] * 4, [3.0] * 5) == (1.5, 1.5)


def test_bootstrap_undefined_cases() -> None:
    assert stats.bootstrap_ratio_ci([0.0, 0.0], [1.0, 2.0]) is None
    assert stats.bootstrap_ratio_ci([], [1.0]) is None
    assert stats.bootstrap_ratio_ci([1.0], [1.0], resamples=0) is None
    with pytest.raises(ValueError, match="confidence"):
        stats.bootstrap_ratio_ci([1.0], [1.0], confidence=1.5)


def test_geometric_mean() -> None:
    assert stats.geometric_mean([2.0, 0.5]) == pytest.approx(1.0)
    assert stats.geometric_mean([1.0, 4.0, 16.0]) == pytest.approx(4.0)
    assert stats.geometric_mean([1.3]) == pytest.approx(1.3)
    for bad in ([], [1.0, 0.0], [-1.0], [math.inf]):
        with pytest.raises(ValueError, match="geometric mean"):
            stats.geometric_mean(bad)
