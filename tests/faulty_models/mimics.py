"""mimics: a test-only model that measures correctly while its error output looks like failures.

Its pingpong writes, before each run, the lines a crash, a resource limit and a failed cell
would leave on stderr, then hands off exactly as the serial baseline does. The runner judges a
cell by the verdict the cell reports, so this cell is measured. Found through
CONCBENCH_MODEL_PATH.
"""

from __future__ import annotations

import sys

from bench.measure.meters import Meter, Outcome
from bench.models import serial
from bench.spec.models import ModelRecord, VariantParameters
from bench.spec.workloads import PingPong

MODEL = ModelRecord(
    name="mimics",
    summary="measures correctly, with error output that looks like failures",
    lightweight=True,
    primitives={"pingpong": "plain calls, with failure-like lines on stderr"},
)

LOOKALIKES = (
    "Traceback (most recent call last):",
    "ResourceLimitError: pingpong[rounds=5]/mimics: cannot start its tasks: out of memory",
    "ValueError: simulated crash in the pingpong loop",
    "concbench: cell failed: a pyperf worker exited with status 3",
)


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    print("\n".join(LOOKALIKES), file=sys.stderr, flush=True)
    return serial.pingpong(spec, meter, variant)
