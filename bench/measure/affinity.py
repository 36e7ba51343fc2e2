"""The CPUs a measuring process may use, and where ``placement=same|spread`` pins pingpong's two
partners (threads or processes) among them.

Light on purpose: the processes model imports it, and so does every spawn or forkserver child
of it.
"""

from __future__ import annotations

import os

from bench.spec.models import DeclarationError, VariantParameters

PLACEMENTS = ("same", "spread")


def usable_cpus() -> int:
    """CPUs this process may run on: a pool larger than that would only oversubscribe them (the
    process pool's and the interpreter pool's size)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def placement_cpus(model: str, variant: VariantParameters) -> tuple[int, int] | None:
    """The CPUs (coordinator's, partner's) of the variant's ``placement``, from those this
    process may use: the first for both (same), the first and the second (spread); None without
    the parameter. ResourceLimitError where the placement cannot be had, so that the cell is
    skipped rather than measuring another placement."""
    placement = variant.get("placement")
    if placement is None:
        return None
    if placement not in PLACEMENTS:
        valid = ", ".join(PLACEMENTS)
        raise DeclarationError(f"{model}: no placement named {placement!r}; valid: {valid}")
    # Imported here: bench.measure.cells pulls in psutil, which a spawn or forkserver child of
    # the processes model would otherwise pay for on import.
    from bench.measure.cells import ResourceLimitError

    if not hasattr(os, "sched_setaffinity"):
        raise ResourceLimitError(
            f"placement={placement} needs os.sched_setaffinity, which this platform does not have"
        )
    cpus = sorted(os.sched_getaffinity(0))
    if placement == "same":
        return cpus[0], cpus[0]
    if len(cpus) < 2:
        raise ResourceLimitError(
            f"placement=spread needs two CPUs this process may use; it may use only CPU {cpus[0]}"
        )
    return cpus[0], cpus[1]
