"""Test doubles for the subinterpreters model that run inside its task interpreters: faulty
pingpong partners, in the place of its ``_pingpong_partner``, and a spec whose consumer fails.

A subinterpreter imports them by name, and psutil's extension cannot load there, while
``tests.helpers`` and ``tests.pingpong_faults`` import it. So this module imports nothing of the
test suite: it restates those faults as rules of its own (``tests/test_model_subinterpreters.py``
checks that they hand back what those faults do) and ``FailingConsumption``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.spec.workloads import ProducerConsumer

FAULTY_ROUND = 2


def repeats(token: int, previous: object) -> object:
    return previous if token == FAULTY_ROUND else token


def drops(token: int, previous: object) -> object:
    return None if token == FAULTY_ROUND else token


def adds_one(token: int, previous: object) -> object:
    return token + 1


RULES: dict[str, Callable[[int, object], object]] = {
    "repeats": repeats,
    "drops": drops,
    "adds_one": adds_one,
}


def _faulty_partner(
    rule: Callable[[int, object], object], inbox: Any, outbox: Any, rounds: int, ready: int
) -> None:
    """The model's partner, handing back ``rule(token, what it handed back last)``."""
    os.write(ready, b"r")
    previous: object = -1
    for _ in range(rounds):
        token = inbox.get()
        if token is None:
            return
        previous = rule(token, previous)
        outbox.put(previous)


def repeating_partner(inbox: Any, outbox: Any, rounds: int, ready: int) -> None:
    _faulty_partner(repeats, inbox, outbox, rounds, ready)


def dropping_partner(inbox: Any, outbox: Any, rounds: int, ready: int) -> None:
    _faulty_partner(drops, inbox, outbox, rounds, ready)


def adding_partner(inbox: Any, outbox: Any, rounds: int, ready: int) -> None:
    _faulty_partner(adds_one, inbox, outbox, rounds, ready)


PARTNERS: dict[str, Callable[[Any, Any, int, int], None]] = {
    "repeats": repeating_partner,
    "drops": dropping_partner,
    "adds_one": adding_partner,
}


@dataclass(frozen=True)
class FailingConsumption(ProducerConsumer):
    """``tests.helpers.FailingConsumption``: the consumers fail on item 5, so the producers
    stay blocked on a full FIFO."""

    def consume(self, item: tuple[int, bytes]) -> int:
        if item[0] == 5:
            raise ArithmeticError("consumer failed")
        return super().consume(item)
