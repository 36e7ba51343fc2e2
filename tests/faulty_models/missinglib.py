"""missinglib: a test-only model that needs a library no machine has.

The runner must list its cells as skipped, "unavailable", with the import error as the reason,
and run the other models. Found through CONCBENCH_MODEL_PATH.
"""

from __future__ import annotations

from bench.measure.meters import Meter, Outcome
from bench.spec.workloads import PingPong

REQUIRES: tuple[str, ...] = ("no_such_library_for_concbench",)
LIGHTWEIGHT = True
PRIMITIVES = {"pingpong": "a library that is not installed"}


def pingpong(spec: PingPong, meter: Meter) -> Outcome:
    raise AssertionError("unreachable: the model is unavailable")
