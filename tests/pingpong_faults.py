"""Partners that break the pingpong contract, for the models whose primitive carries the token.

Each fault hands back something other than the token received, in one round or in every round;
the model tests put it in the place of a model's partner and check that the run's count and
checksum fall short, so that ``run_cell`` fails the cell.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench.measure.cells import Cell, CellError, run_cell
from bench.measure.meters import Clock
from bench.registry import get_model
from bench.spec.workloads import PingPong
from tests.helpers import call_model

SPEC = PingPong(rounds=5)
FAULTY_ROUND = 2

# What a faulty partner hands back, from the token it received and the one it handed back last.
Fault = Callable[[int, object], object]


def repeats(token: int, previous: object) -> object:
    """Hands back the previous round's token again instead of this round's."""
    return previous if token == FAULTY_ROUND else token


def drops(token: int, previous: object) -> object:
    """Loses this round's token and hands back nothing."""
    return None if token == FAULTY_ROUND else token


def adds_one(token: int, previous: object) -> object:
    """The suite's partner before the contract: arithmetic instead of the token."""
    return token + 1


FAULTS: dict[str, Fault] = {"repeats": repeats, "drops": drops, "adds_one": adds_one}
# The coordinator stops at the first token that does not come back and counts the rounds before.
COUNTED = {"repeats": 2 * FAULTY_ROUND, "drops": 2 * FAULTY_ROUND, "adds_one": 0}


def assert_caught(model: str, fault: str) -> None:
    """The model, its partner replaced by ``fault``, counts only the rounds before the fault,
    and the cell fails."""
    outcome = call_model(model, SPEC, Clock())
    assert outcome.checksum != SPEC.reference()
    assert outcome == (COUNTED[fault], (COUNTED[fault],))
    counted = f"counted {COUNTED[fault]} operations, the spec performs {SPEC.ops}"
    with pytest.raises(CellError, match=counted):
        run_cell(Cell(get_model(model), SPEC), Clock())
