"""Human units: durations, rates and sizes with three significant digits, and the unit a value
(or an axis of values) is shown in. The bottom of the package and the suite's one formatter:
the latency pass, the summary, findings, compare, the report and the charts all format with
these."""

from __future__ import annotations

import math

_DURATIONS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))
_MULTIPLES = (("G", 1e9), ("M", 1e6), ("k", 1e3))
KIB = 1024.0
MIB = 1024.0 * 1024.0


def duration_unit(seconds: float) -> tuple[str, float]:
    """The unit a duration is shown in, and its size in seconds: the largest of s, ms, µs
    that the duration reaches, else ns."""
    for unit, scale in _DURATIONS:
        if seconds >= scale:
            return unit, scale
    return _DURATIONS[-1]


def bytes_unit(size: float) -> tuple[str, float]:
    """The unit a size is shown in, and its size in bytes: MiB from 1 MiB on, else KiB."""
    return ("MiB", MIB) if abs(size) >= MIB else ("KiB", KIB)


def multiple(value: float) -> tuple[str, float]:
    """The decimal multiple a count or rate is shown in: "G", "M", "k", or "" for none."""
    for suffix, scale in _MULTIPLES:
        if value >= scale:
            return suffix, scale
    return "", 1.0


def format_duration(seconds: float) -> str:
    unit, scale = duration_unit(_rounded(seconds))
    return _three_digits(seconds / scale) + " " + unit


def format_rate(per_second: float) -> str:
    suffix, scale = multiple(_rounded(per_second))
    return _three_digits(per_second / scale) + (" " + suffix if suffix else "")


def format_bytes(size: float) -> str:
    # Binary units: a size just under 1 MiB stays in KiB ("1020 KiB"), never "0.997 MiB".
    unit, scale = bytes_unit(size)
    return _three_digits(size / scale) + " " + unit


def format_count(value: float) -> str:
    """A count as a tick of a log axis shows it: 0.01, 1, 100, 10k, 1M."""
    suffix, scale = multiple(value)
    return f"{value / scale:g}{suffix}"


def _rounded(value: float) -> float:
    """The value at three significant digits: what is shown, so what its unit and decimals are
    chosen by (999.96 µs is "1.00 ms", not "1000 µs"; 0.99996 is "1.00", not "1.000")."""
    return float(f"{value:.2e}") if math.isfinite(value) else value


def _three_digits(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    digits = max(0, 2 - math.floor(math.log10(abs(_rounded(value)))))
    return f"{value:.{digits}f}"
