"""tuned: a test-only model with variants, to prove that a variant is a model of its own.

Its workloads do their spec's work in a plain loop, with no hand-off and no task, and note the
variant parameters they were given in ``RECEIVED`` (the plain model is given none).

- pingpong: the coordinator's loop iterates ``spec.each_round()`` once per round (the latency
  pass stamps it) and counts two one-way switches per round.
- spawn: one function call per task, its result tallied.

Variants:

- ``tuned[lane=b]``: every workload, with a primitive of its own;
- ``tuned[lane=c]``: requires a library no machine has, so it is unavailable while its base runs;
- ``tuned[lane=d,pace=2]``: spawn only; ``pace`` is read as a number.

No producer, consumer or fan_out here: only the variants are under test. Found through
CONCBENCH_MODEL_PATH; never part of a real matrix.
"""

from __future__ import annotations

from bench.measure.meters import Meter, Outcome
from bench.spec.models import ModelRecord, Variant, VariantParameters
from bench.spec.workloads import PingPong, Spawn, tally

MODEL = ModelRecord(
    name="tuned",
    summary="a plain loop with variants, for the tests of variants",
    lightweight=True,
    order=2000,
    colour="#123456",
    task_noun="tuned loop",
    primitives={"pingpong": "a loop over the rounds", "spawn": "a call per task"},
    variants=(
        Variant(parameters={"lane": "b"}, primitives={"pingpong": "a loop in lane b"}),
        Variant(
            parameters={"lane": "c"},
            summary="needs a library no machine has",
            requires=("no_such_library_for_concbench",),
            libraries=("no_such_library_for_concbench",),
        ),
        Variant(parameters={"lane": "d", "pace": "2"}, workloads=("spawn",), colour="#abcdef"),
    ),
)

# The parameters each run was given, in the order of the runs.
RECEIVED: list[dict[str, str]] = []


def _note(variant: VariantParameters) -> None:
    received = {"lane": variant.get("lane", "a")}
    if "pace" in variant:
        received["pace"] = f"{variant.number('pace', 1.0):g}"
    RECEIVED.append(received)


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    _note(variant)
    meter.start()
    switches = 0
    for _ in spec.each_round():
        switches += 2
    meter.stop()
    return Outcome(switches, (switches,))


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    _note(variant)
    meter.start()
    results = [number + 1 for number in range(spec.tasks)]
    meter.stop()
    return Outcome(len(results), tally(results))
