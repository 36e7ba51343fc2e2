"""Analysis of scaling sweeps: curves over task counts, where they stop scaling, fitted slopes.

A sweep measures one workload at several sizes (task counts) with every other parameter fixed.
This module is pure arithmetic on already measured numbers, shared by the runner's end-of-run
printout and the report:

- ``sweep_series`` groups measured cells (``Point``) and cells without a number (``Missing``)
  into curves (``Series``): one model, one workload, one set of fixed parameters, ascending sizes.
- ``scaling`` finds the best size of a curve and the first larger size whose value grows by more
  than a factor (2 by default) over the best: where the model stops scaling.
- ``fit_line`` fits ``y = intercept + slope * x`` by ordinary least squares, with a 95% Student t
  confidence interval of the slope. For ``memory`` it is fed (N, total bytes) per run, so the
  slope is the bytes each additional task costs, free of the fixed overhead a single ratio
  ``total / N`` would spread over the tasks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from bench.results.schema import Missing, Point
from bench.spec.workloads import workload_facts

# A model's per-task memory is the slope over its runs from this many sizes on: with two, the
# slope is one difference, which the noise of the smaller size can dominate.
MEMORY_SLOPE_MIN_SIZES = 3

# Two-sided 95% quantiles of Student's t distribution (the 0.975 quantile) for 1 to 30 degrees
# of freedom; beyond, the Cornish-Fisher expansion below is accurate to better than 1e-6.
_T975 = (
    12.706204736,
    4.302652730,
    3.182446305,
    2.776445105,
    2.570581836,
    2.446911851,
    2.364624252,
    2.306004135,
    2.262157163,
    2.228138852,
    2.200985160,
    2.178812830,
    2.160368656,
    2.144786688,
    2.131449546,
    2.119905299,
    2.109815578,
    2.100922040,
    2.093024054,
    2.085963447,
    2.079613845,
    2.073873068,
    2.068657610,
    2.063898562,
    2.059538553,
    2.055529439,
    2.051830516,
    2.048407142,
    2.045229642,
    2.042272456,
)
_Z975 = 1.959963984540054


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (inf for df < 1)."""
    if df < 1:
        return math.inf
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


@dataclass(frozen=True)
class Series:
    """One curve: a model over ascending sizes, every parameter but the size in ``fixed``
    (canonical order). ``unreached`` holds the sizes of the curve without a number and why."""

    workload: str
    fixed: str
    model: str
    sizes: tuple[int, ...]
    values: tuple[float, ...]
    unreached: tuple[tuple[int, str], ...]


def size_parameters(workload: str) -> tuple[str, ...]:
    """The parameters a sweep of ``workload`` varies together (``WorkloadFacts``): all at one
    size, so a producer_consumer cell with producers != consumers is no point of a curve. Empty
    for a workload that is not swept, or not the suite's."""
    facts = workload_facts(workload)
    return () if facts is None else facts.size_parameters


def split_params(workload: str, params: str) -> tuple[str, int] | None:
    """``(fixed, size)`` of a cell's params, or None when it is not a sweep point (a workload
    without sizes, a size parameter absent or not an integer, or sizes that differ)."""
    names = size_parameters(workload)
    if not names:
        return None
    fixed: list[str] = []
    sizes: dict[str, int] = {}
    for item in filter(None, params.split(",")):
        key, _, raw = item.partition("=")
        if key in names:
            try:
                sizes[key] = int(raw)
            except ValueError:
                return None
        else:
            fixed.append(item)
    if len(sizes) != len(names) or len(set(sizes.values())) != 1:
        return None
    return ",".join(fixed), next(iter(sizes.values()))


def sweep_series(points: Iterable[Point], missing: Iterable[Missing] = ()) -> list[Series]:
    """The curves the cells form, sorted by workload, fixed parameters and model.

    A curve needs at least one measured size and at least two distinct sizes counting the
    unreached ones: a single cell is no curve. Several points of one size (should a file hold
    them) are averaged; a gap at a size that also has a number is dropped.
    """
    measured: dict[tuple[str, str, str], dict[int, list[float]]] = {}
    for point in points:
        split = split_params(point.workload, point.params)
        if split is not None:
            key = (point.workload, split[0], point.model)
            measured.setdefault(key, {}).setdefault(split[1], []).append(point.value)
    gaps: dict[tuple[str, str, str], dict[int, str]] = {}
    for gap in missing:
        split = split_params(gap.workload, gap.params)
        if split is not None:
            gaps.setdefault((gap.workload, split[0], gap.model), {}).setdefault(
                split[1], gap.reason
            )
    result: list[Series] = []
    for key in sorted(measured):
        by_size = measured[key]
        unreached = tuple(
            (size, reason)
            for size, reason in sorted(gaps.get(key, {}).items())
            if size not in by_size
        )
        if len(by_size) + len(unreached) < 2:
            continue
        sizes = tuple(sorted(by_size))
        values = tuple(math.fsum(by_size[size]) / len(by_size[size]) for size in sizes)
        result.append(Series(key[0], key[1], key[2], sizes, values, unreached))
    return result


@dataclass(frozen=True)
class Scaling:
    """Where a curve is best, and the first larger size whose value exceeds ``factor`` times
    the best (None: it never does over the measured sizes)."""

    best_size: int
    best_value: float
    stops_at: int | None
    ratio_at_stop: float | None
    unreached: tuple[tuple[int, str], ...]


def scaling(series: Series, factor: float = 2.0) -> Scaling:
    """Where ``series`` stops scaling: the best (smallest) value per operation, and the first
    size above the best one whose value is more than ``factor`` times it."""
    if not series.sizes:
        raise ValueError(f"{series.model} {series.workload}: the series has no measured size")
    if not factor > 1:
        raise ValueError(f"factor must be above 1, got {factor!r}")
    best = min(range(len(series.sizes)), key=series.values.__getitem__)
    best_value = series.values[best]
    for size, value in zip(series.sizes[best + 1 :], series.values[best + 1 :], strict=True):
        if value > factor * best_value:
            ratio = value / best_value if best_value > 0 else math.inf
            return Scaling(series.sizes[best], best_value, size, ratio, series.unreached)
    return Scaling(series.sizes[best], best_value, None, None, series.unreached)


@dataclass(frozen=True)
class SlopeFit:
    """``y = intercept + slope * x`` by least squares; ``slope_low``..``slope_high`` is the 95%
    confidence interval of the slope (infinite with only two points: no residual to estimate
    the scatter from); ``sizes`` are the distinct x values."""

    slope: float
    intercept: float
    slope_low: float
    slope_high: float
    r_squared: float
    points: int
    sizes: tuple[int, ...]


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> SlopeFit:
    """Ordinary least squares fit of ``ys`` on ``xs``.

    The sums are computed in exact rational arithmetic (a sweep has tens of points, and memory
    totals reach 1e11 bytes, where float cancellation in the sums of squares would show), so
    data on an exact line gives R² = 1 and an interval of zero width.
    """
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} x values but {len(ys)} y values")
    for value in (*xs, *ys):
        if not math.isfinite(value):
            raise ValueError(f"cannot fit a line through a non-finite value ({value!r})")
    if len(set(xs)) < 2:
        raise ValueError(
            f"a line needs at least 2 distinct sizes, got {len(set(xs))} "
            f"({len(xs)} point{'s' if len(xs) != 1 else ''})"
        )
    n = len(xs)
    fx = [Fraction(x) for x in xs]
    fy = [Fraction(y) for y in ys]
    mean_x = sum(fx, Fraction(0)) / n
    mean_y = sum(fy, Fraction(0)) / n
    sxx = sum(((x - mean_x) ** 2 for x in fx), Fraction(0))
    sxy = sum(((x - mean_x) * (y - mean_y) for x, y in zip(fx, fy, strict=True)), Fraction(0))
    syy = sum(((y - mean_y) ** 2 for y in fy), Fraction(0))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    sse = sum(((y - intercept - slope * x) ** 2 for x, y in zip(fx, fy, strict=True)), Fraction(0))
    r_squared = 1.0 if syy == 0 else float(1 - sse / syy)
    df = n - 2
    spread = math.sqrt(float(sse / df / sxx)) if df >= 1 else math.inf
    half_width = t_quantile_975(df) * spread
    return SlopeFit(
        slope=float(slope),
        intercept=float(intercept),
        slope_low=float(slope) - half_width,
        slope_high=float(slope) + half_width,
        r_squared=r_squared,
        points=n,
        sizes=tuple(sorted({round(x) for x in xs})),
    )
