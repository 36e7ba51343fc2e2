"""The serial model's pingpong: a call with the token and its return are the hand-off."""

from __future__ import annotations

from typing import Any

import pytest

from bench.measure.meters import Clock
from bench.models import serial
from bench.spec.workloads import PingPong
from tests.helpers import call_model
from tests.pingpong_faults import FAULTS, Fault, assert_caught


def test_pingpong_calls_the_partner_with_each_round_and_counts_what_came_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []

    def recording_pong(token: int) -> int:
        calls.append(token)
        return token

    monkeypatch.setattr(serial, "_pong", recording_pong)
    assert call_model("serial", PingPong(rounds=4), Clock()) == (8, (8,))
    assert calls == [0, 1, 2, 3]


def _faulty_pong(fault: Fault) -> Any:
    previous: object = -1

    def pong(token: int) -> object:
        nonlocal previous
        previous = fault(token, previous)
        return previous

    return pong


@pytest.mark.parametrize("fault", FAULTS)
def test_pingpong_fails_when_the_partner_does_not_return_its_token(
    monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    monkeypatch.setattr(serial, "_pong", _faulty_pong(FAULTS[fault]))
    assert_caught("serial", fault)
