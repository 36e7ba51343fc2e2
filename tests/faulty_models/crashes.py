"""crashes: a test-only model whose workloads fail the three ways a worker can.

pingpong raises, spawn exits with a non-zero status, fan_out is killed by a signal. Found
through CONCBENCH_MODEL_PATH; never part of a real matrix.
"""

from __future__ import annotations

import os
import signal

from bench.measure.meters import Meter, Outcome
from bench.spec.models import ModelRecord, VariantParameters
from bench.spec.workloads import FanOut, PingPong, Spawn

MODEL = ModelRecord(
    name="crashes",
    summary="fails the three ways a worker can: raises, exits, is killed",
    lightweight=True,
    primitives={"pingpong": "raise", "spawn": "os._exit(3)", "fan_out": "SIGKILL to itself"},
)


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    raise ValueError("simulated crash in the pingpong loop")


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    os._exit(3)


def fan_out(spec: FanOut, meter: Meter, variant: VariantParameters) -> Outcome:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: the process is killed")
