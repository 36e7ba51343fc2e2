"""missinglib: a test-only model that needs a library no machine has.

The runner must list its cells as skipped, "unavailable", with the import error as the reason,
and run the other models. Found through CONCBENCH_MODEL_PATH.
"""

from __future__ import annotations

from bench.measure.meters import Meter, Outcome
from bench.spec.models import ModelRecord, VariantParameters
from bench.spec.workloads import PingPong

MODEL = ModelRecord(
    name="missinglib",
    summary="needs a library no machine has",
    requires=("no_such_library_for_concbench",),
    lightweight=True,
    primitives={"pingpong": "a library that is not installed"},
)


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    raise AssertionError("unreachable: the model is unavailable")
