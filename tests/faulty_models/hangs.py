"""hangs: a test-only model whose pingpong deadlocks, and ignores SIGTERM while it does.

The runner must stop it at --cell-timeout, escalate to SIGKILL, record the cell as failed and
go on. Found through CONCBENCH_MODEL_PATH; never part of a real matrix.
"""

from __future__ import annotations

import signal
import threading

from bench.measure.meters import Meter, Outcome
from bench.spec.models import ModelRecord, VariantParameters
from bench.spec.workloads import PingPong

MODEL = ModelRecord(
    name="hangs",
    summary="deadlocks its pingpong and ignores SIGTERM",
    lightweight=True,
    primitives={"pingpong": "a lock acquired twice (deadlock)"},
)


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    lock = threading.Lock()
    lock.acquire()
    meter.start()
    lock.acquire()
    raise AssertionError("unreachable: the lock is never released")
