"""exhausts: a test-only model that hits resource limits the way real models do.

pingpong cannot start a thread, spawn cannot fork (EAGAIN), memory runs out of memory. The
runner must record these cells as skipped with the system's error, not as crashes. Found
through CONCBENCH_MODEL_PATH.
"""

from __future__ import annotations

import errno
import os

from bench.measure.meters import Meter, Outcome
from bench.spec.models import ModelRecord, VariantParameters
from bench.spec.workloads import Memory, PingPong, Spawn

MODEL = ModelRecord(
    name="exhausts",
    summary="hits resource limits: threads, processes, memory",
    lightweight=True,
    primitives={"pingpong": "thread limit", "spawn": "process limit", "memory": "memory limit"},
)


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    raise RuntimeError("can't start new thread")


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))


def memory(spec: Memory, meter: Meter, variant: VariantParameters) -> Outcome:
    raise MemoryError
