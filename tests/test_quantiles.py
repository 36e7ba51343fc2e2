"""The suite's one quantile rule (``bench.spec.quantiles``): linear interpolation between the
closest ranks, used by the latency pass's percentiles and the bootstrap's intervals alike."""

from __future__ import annotations

import math
import random

import pytest

from bench.analysis import stats
from bench.measure import latency
from bench.spec import quantiles
from bench.spec.quantiles import quantile


def test_quantile_of_uniform_ranks_interpolates_between_closest_ranks() -> None:
    values = [float(i) for i in range(1000)]
    assert quantile(values, 0.0) == 0.0
    assert quantile(values, 0.5) == pytest.approx(499.5)
    assert quantile(values, 0.9) == pytest.approx(899.1)
    assert quantile(values, 0.99) == pytest.approx(989.01)
    assert quantile(values, 0.999) == pytest.approx(998.001)
    assert quantile(values, 1.0) == 999.0


def test_quantile_of_an_exponential_sample_matches_the_analytic_quantiles() -> None:
    rng = random.Random(20240611)
    values = sorted(rng.expovariate(1.0) for _ in range(200_000))
    for q in (0.5, 0.9, 0.99, 0.999):
        assert quantile(values, q) == pytest.approx(-math.log(1.0 - q), rel=0.05)


def test_quantile_of_one_and_two_values() -> None:
    assert [quantile([7.0], q) for q in (0.0, 0.5, 0.999, 1.0)] == [7.0] * 4
    assert quantile([1.0, 3.0], 0.0) == 1.0
    assert quantile([1.0, 3.0], 0.25) == 1.5
    assert quantile([1.0, 3.0], 0.5) == 2.0
    assert quantile([1.0, 3.0], 1.0) == 3.0


def test_quantile_refuses_no_values_and_quantiles_outside_0_1() -> None:
    with pytest.raises(ValueError, match="no values"):
        quantile([], 0.5)
    with pytest.raises(ValueError, match="from 0 to 1"):
        quantile([1.0], 1.5)


def test_the_latency_pass_and_the_bootstrap_read_quantiles_through_the_one_rule() -> None:
    assert vars(latency)["quantile"] is quantiles.quantile
    assert vars(stats)["quantile"] is quantiles.quantile


def test_the_bootstrap_interval_is_the_quantiles_of_its_resampled_ratios() -> None:
    base, new = [1.0, 1.1, 0.9, 1.05], [1.2, 1.3, 1.25, 1.1]
    rng = random.Random(0)
    ratios = []
    for _ in range(200):
        base_mean = sum(rng.choices(base, k=len(base))) / len(base)
        ratios.append(sum(rng.choices(new, k=len(new))) / len(new) / base_mean)
    ratios.sort()
    low, high = quantile(ratios, 0.025), quantile(ratios, 0.975)
    assert stats.bootstrap_ratio_ci(base, new, resamples=200, seed=0) == pytest.approx(
        (low, high), rel=1e-12
    )
