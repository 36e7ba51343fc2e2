"""A list of CPUs as pyperf's ``--affinity`` writes it (``0,2-3``): the runner reads it to pin
its processes, and the analysis to count the CPUs a run was given."""

from __future__ import annotations


def parse_cpu_list(text: str) -> set[int]:
    """``0,2-3`` -> {0, 2, 3}; ValueError when malformed or a range is empty."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(f"{text!r} is not a list of CPUs such as 0,2-3")
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            raise ValueError(f"{text!r}: the range {part.strip()} is empty")
        cpus.update(range(low, high + 1))
    return cpus
