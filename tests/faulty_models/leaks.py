"""leaks: a test-only model that does its work right and leaves a process running.

pingpong leaves one in a session of its own (out of the cell's process group: only the runner's
subreaper finds it); spawn leaves a forked child in the group. Each leaks once per process, as a
forgotten helper process would (pyperf calls a workload thousands of times per worker). The
runner must kill the strays and fail the cells. Found through CONCBENCH_MODEL_PATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.measure.meters import Meter, Outcome
from bench.spec.models import ModelRecord, VariantParameters
from bench.spec.workloads import PingPong, Spawn, tally

MODEL = ModelRecord(
    name="leaks",
    summary="does its work and leaves a process running",
    lightweight=True,
    primitives={"pingpong": "loop; leaks a setsid process", "spawn": "loop; leaks a forked child"},
)

STRAY_SECONDS = 300
_leaked: set[str] = set()


def _first_time(workload: str) -> bool:
    first = workload not in _leaked
    _leaked.add(workload)
    return first


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    if not _first_time("pingpong"):
        return _count(spec, meter)
    subprocess.Popen(
        [sys.executable, "-c", f"import time; time.sleep({STRAY_SECONDS})"],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return _count(spec, meter)


def _count(spec: PingPong, meter: Meter) -> Outcome:
    meter.start()
    token = 0
    for _ in spec.each_round():  # the hook the latency pass stamps, as in every real model
        token += 2
    meter.stop()
    return Outcome(spec.ops, (token,))


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    if _first_time("spawn") and os.fork() == 0:
        # Let go of the worker's pipes, so pyperf sees the worker finish and only the stray
        # process is left; one holding them would turn the leak into a hang.
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, 65536)
        time.sleep(STRAY_SECONDS)
        os._exit(0)
    meter.start()
    results = [i + 1 for i in range(spec.tasks)]
    meter.stop()
    return Outcome(len(results), tally(results))
