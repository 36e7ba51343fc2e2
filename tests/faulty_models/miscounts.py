"""miscounts: a test-only model whose pingpong does one hand-off too many.

Its operation count is right and its checksum is not: the runner must fail the cell, name both
checksums and store no number. Found through CONCBENCH_MODEL_PATH.
"""

from __future__ import annotations

from bench.measure.meters import Meter, Outcome
from bench.spec.models import ModelRecord, VariantParameters
from bench.spec.workloads import PingPong

MODEL = ModelRecord(
    name="miscounts",
    summary="returns a wrong pingpong checksum",
    lightweight=True,
    primitives={"pingpong": "a loop with an off-by-one token"},
)


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    meter.start()
    token = 0
    for _ in range(spec.rounds):
        token += 2
    meter.stop()
    return Outcome(spec.ops, (token + 1,))
