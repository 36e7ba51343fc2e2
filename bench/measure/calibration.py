"""The machine's calibration: nanoseconds per iteration of a fixed pure-Python reference loop.

Compare reads it to tell a change of machine from a change of code: the same loop 1.8x slower
says the whole machine (or interpreter build) is slower, and every raw value with it. The loop
does integer arithmetic and small dict and list reads and writes on one fixed table, no I/O and
no growing container, so it measures the interpreter's speed on this CPU and little else. The
runner measures it once, before the first cell, so it never overlaps a measured region.

``CALIBRATION_VERSION`` names the loop: change the loop (its work, ``ITERATIONS``) and bump it,
since readers never compare calibrations of different versions. ``CHECKSUM`` is what the loop
returns; a test holds it, so a changed loop cannot go unnoticed.
"""

from __future__ import annotations

import math
import statistics
import time

CALIBRATION_VERSION = 1
ITERATIONS = 40_000
# The median of this many repetitions, after one unmeasured warmup: about 0.1 s in all here.
REPETITIONS = 7
TABLE_SIZE = 64
CHECKSUM = 602_725


def reference_loop(iterations: int = ITERATIONS) -> int:
    """The fixed work; its result depends on every step, so no step can be skipped."""
    mask = TABLE_SIZE - 1
    table = {key: key * 3 for key in range(TABLE_SIZE)}
    ring = list(range(TABLE_SIZE))
    total = 0
    for step in range(iterations):
        slot = step & mask
        total = (total + table[slot] * 7 + ring[slot]) % 1_000_003
        ring[slot] = total & 0xFFFF
        table[slot] = ring[(slot + 1) & mask] ^ (step & 0xFF)
    return total


def calibrate(repetitions: int = REPETITIONS) -> float:
    """Nanoseconds per iteration of ``reference_loop``: the median over ``repetitions``."""
    reference_loop()
    timings = []
    for _ in range(repetitions):
        start = time.perf_counter_ns()
        reference_loop()
        timings.append(time.perf_counter_ns() - start)
    ns_per_iteration = statistics.median(timings) / ITERATIONS
    if not (math.isfinite(ns_per_iteration) and ns_per_iteration > 0):
        raise RuntimeError(f"the calibration loop measured {ns_per_iteration!r} ns per iteration")
    return ns_per_iteration
