"""Contract: a pingpong switch means one thing in every model (issue 10, item 3).

Every model in the registry: the coordinator passes each token ``each_round()`` yields through the
model's primitive, the partner hands it back, and the model counts the switches from the last
token that came back (``PingPong.switches``). The faults that each model's proof must catch (a
partner that hands back another token, a wait that returns without waiting) are injected in the
model's own tests, where its primitive can be replaced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from bench.measure.cells import Cell, run_cell
from bench.measure.meters import Clock
from bench.registry import all_models, get_model
from bench.spec.workloads import PingPong

MODELS = [model.name for model in all_models() if model.unavailable_reason() is None]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("rounds", [1, 2, 7])
def test_every_model_counts_two_switches_per_round(model: str, rounds: int) -> None:
    spec = PingPong(rounds=rounds)
    outcome = run_cell(Cell(get_model(model), spec), Clock())
    assert outcome == (2 * rounds, (2 * rounds,)) == (spec.ops, spec.reference())


@dataclass(frozen=True)
class _TokensThatSkip(PingPong):
    """Tokens other than the round numbers: a count that follows them was read from them."""

    def each_round(self) -> Iterable[int]:
        return (0, 1, 2, 10)


@pytest.mark.parametrize("model", MODELS)
def test_every_model_counts_from_the_tokens_that_crossed_its_primitive(model: str) -> None:
    spec = _TokensThatSkip(rounds=4)
    outcome = get_model(model).function("pingpong")(spec, Clock())
    # 2 x (10 + 1): a model counting its own rounds would report 8.
    assert outcome == (22, (22,))


@pytest.mark.parametrize(
    ("sent", "back", "switches"),
    [
        (-1, -1, 0),  # no round
        (4, 4, 10),  # the last of 5 rounds came back
        (2, 1, 4),  # round 2's token did not come back: rounds 0 and 1 count
        (0, 1, 0),  # the first token came back changed
    ],
)
def test_switches_count_the_rounds_whose_token_came_back(
    sent: int, back: int, switches: int
) -> None:
    assert PingPong(rounds=5).switches(sent, back) == switches
