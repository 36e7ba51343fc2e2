"""Human units: durations, rates and sizes with three significant digits. The bottom of the
package: the latency pass, the summary, compare and the report all format with these."""

from __future__ import annotations

import math


def format_duration(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            return _three_digits(seconds / scale) + " " + unit
    raise AssertionError("unreachable")


def format_rate(per_second: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if per_second >= scale:
            return _three_digits(per_second / scale) + " " + unit
    return _three_digits(per_second)


def format_bytes(size: float) -> str:
    if abs(size) >= 1024 * 1024:
        return _three_digits(size / (1024 * 1024)) + " MiB"
    return _three_digits(size / 1024) + " KiB"


def _three_digits(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}"
