"""How much the harness adds to a switch: the suite's pingpong against a hand-written loop.

    python -m runners.overhead [--switches N] [--repeat R]

For generators and greenlet, times in one process, alternately, (a) a tight hand-written
ping-pong loop and (b) the suite's pingpong cell through the same time function pyperf calls
(``runners.manager.time_cell``: verified runs, measured region only), and prints both per
one-way switch with their ratio. Exits 1 if a ratio exceeds 1.2: the suite's number would then
describe the harness more than the model.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Generator

from bench.cells import Cell
from bench.registry import get_model
from bench.workloads import DEFAULT_MATRIX
from runners.cellproc import time_cell

LIMIT = 1.2


def _time_round_trips(send: Callable[[int], int], switches: int) -> float:
    """The hand-written loop: each round trip through ``send`` is two one-way switches."""
    token = 0
    started = time.perf_counter()
    for _ in range(switches // 2):
        token = send(token + 1)
    elapsed = time.perf_counter() - started
    assert token == switches
    return elapsed / switches


def _hand_generators(switches: int) -> float:
    def ponger() -> Generator[int, int, None]:
        token = yield 0
        while True:
            token = yield token + 1

    partner = ponger()
    next(partner)
    try:
        return _time_round_trips(partner.send, switches)
    finally:
        partner.close()


def _hand_greenlet(switches: int) -> float:
    import greenlet

    main = greenlet.getcurrent()

    def pong(token: int) -> None:
        while True:
            token = main.switch(token + 1)

    partner = greenlet.greenlet(pong)
    try:
        return _time_round_trips(partner.switch, switches)
    finally:
        partner.throw(greenlet.GreenletExit)


def _suite(model: str, switches: int) -> float:
    # The default matrix's cell, repeated as pyperf's loops repeat it.
    spec = next(spec for spec, _ in DEFAULT_MATRIX if spec.workload == "pingpong")
    cell = Cell(get_model(model), spec)
    loops = max(1, switches // spec.ops)
    return time_cell(loops, cell) / (loops * spec.ops)


HAND_LOOPS: dict[str, Callable[[int], float]] = {
    "generators": _hand_generators,
    "greenlet": _hand_greenlet,
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.overhead", description=__doc__)
    parser.add_argument("--switches", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if args.switches < 4000 or args.repeat < 1:
        print("error: --switches must be at least 4000 and --repeat at least 1", file=sys.stderr)
        return 2
    worst = 0.0
    for model, hand_loop in HAND_LOOPS.items():
        if get_model(model).unavailable_reason() is not None:
            print(f"{model}: unavailable: {get_model(model).unavailable_reason()}")
            continue
        hand, suite = [], []
        for _ in range(args.repeat):
            hand.append(hand_loop(args.switches))
            suite.append(_suite(model, args.switches))
        ratio = min(suite) / min(hand)
        worst = max(worst, ratio)
        print(
            f"{model:<11} hand-written {min(hand) * 1e9:7.1f} ns/switch   "
            f"suite {min(suite) * 1e9:7.1f} ns/switch   ratio {ratio:.2f} "
            f"(best of {args.repeat} x {args.switches:,} switches)"
        )
    return 1 if worst > LIMIT else 0


if __name__ == "__main__":
    sys.exit(main())
