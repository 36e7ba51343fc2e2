"""How much the suite adds to a switch: its pingpong cell against the bare primitive.

    python -m runners.overhead [--rounds N] [--other-rounds N] [--repeat R]

For every model with a bare loop here, times in one process, alternately, (a) the bare
primitive, nothing but the switch and the loop (generators: a generator ``while True: yield``
driven by ``send(None)``; greenlet: two greenlets switching with no value; threads: a pair of
locks; asyncio: a fresh future per hand-off, resolved with no value; gevent: a pair of events),
and (b) the suite's pingpong cell of the default matrix through the time function pyperf calls
(``runners.cell_process.time_cell``: verified runs, measured regions only), which passes a token
and proves every turn. It prints the best of R of each per one-way switch and their ratio.

The ratio is gated for the models whose switch is cheap enough for the suite's token and checks
to show: generators at most 1.15, greenlet at most 1.10 (``LIMITS``). Above a limit the suite's
number would describe the harness more than the model: the command names the model on stderr
and exits 1. The other models (``--other-rounds``, 0 to skip them) are printed without a gate.
Bad input is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Generator

from bench.commands.cli import OneLineParser
from bench.measure.cells import Cell
from bench.registry import get_model
from bench.spec.workloads import DEFAULT_MATRIX, PingPong
from bench.units import format_duration
from runners.cell_process import time_cell

LIMITS = {"generators": 1.15, "greenlet": 1.10}

# Seconds per one-way switch over ``rounds`` round trips of a bare loop.
BareLoop = Callable[[int], float]


def _bare_generators(rounds: int) -> float:
    def partner() -> Generator[None, None, None]:
        while True:
            yield

    running = partner()
    next(running)
    send = running.send
    started = time.perf_counter()
    for _ in range(rounds):
        send(None)
    elapsed = time.perf_counter() - started
    running.close()
    return elapsed / (2 * rounds)


def _bare_greenlet(rounds: int) -> float:
    import greenlet

    to_main = greenlet.getcurrent().switch

    def partner() -> None:
        while True:
            to_main()

    running = greenlet.greenlet(partner)
    switch = running.switch
    switch()  # started: parked in its first switch
    started = time.perf_counter()
    for _ in range(rounds):
        switch()
    elapsed = time.perf_counter() - started
    running.throw()
    return elapsed / (2 * rounds)


def _bare_threads(rounds: int) -> float:
    to_partner, to_coordinator = threading.Lock(), threading.Lock()
    to_partner.acquire()
    to_coordinator.acquire()

    def partner() -> None:
        wait_turn, pass_turn = to_partner.acquire, to_coordinator.release
        pass_turn()
        for _ in range(rounds):
            wait_turn()
            pass_turn()

    thread = threading.Thread(target=partner)
    thread.start()
    pass_turn, wait_turn = to_partner.release, to_coordinator.acquire
    wait_turn()
    started = time.perf_counter()
    for _ in range(rounds):
        pass_turn()
        wait_turn()
    elapsed = time.perf_counter() - started
    thread.join()
    return elapsed / (2 * rounds)


def _bare_asyncio(rounds: int) -> float:
    import asyncio

    async def main() -> float:
        # A future resolves once: each side needs a fresh one per hand-off.
        new = asyncio.get_running_loop().create_future
        inboxes = [new(), new()]  # the partner's, the coordinator's

        async def partner() -> None:
            for _ in range(rounds):
                await inboxes[0]
                inboxes[0] = new()
                inboxes[1].set_result(None)

        task = asyncio.create_task(partner())
        await asyncio.sleep(0)
        started = time.perf_counter()
        for _ in range(rounds):
            inboxes[1] = reply = new()
            inboxes[0].set_result(None)
            await reply
        elapsed = time.perf_counter() - started
        await task
        return elapsed

    return asyncio.run(main()) / (2 * rounds)


def _bare_gevent(rounds: int) -> float:
    import gevent
    from gevent.event import Event

    to_partner, to_coordinator = Event(), Event()

    def partner() -> None:
        wait, clear, reply = to_partner.wait, to_partner.clear, to_coordinator.set
        for _ in range(rounds):
            wait()
            clear()
            reply()

    running = gevent.spawn(partner)
    gevent.sleep(0)
    wait, clear, send = to_coordinator.wait, to_coordinator.clear, to_partner.set
    started = time.perf_counter()
    for _ in range(rounds):
        send()
        wait()
        clear()
    elapsed = time.perf_counter() - started
    running.get()
    return elapsed / (2 * rounds)


BARE_LOOPS: dict[str, BareLoop] = {
    "generators": _bare_generators,
    "greenlet": _bare_greenlet,
    "threads": _bare_threads,
    "asyncio": _bare_asyncio,
    "gevent": _bare_gevent,
}


def suite_pingpong() -> PingPong:
    """The default matrix's pingpong spec: the cell whose numbers the suite publishes."""
    return next(spec for spec, _ in DEFAULT_MATRIX if isinstance(spec, PingPong))


def _suite(model: str, rounds: int) -> float:
    # As many runs of the cell as make ``rounds``, as pyperf's loops repeat it.
    spec = suite_pingpong()
    cell = Cell(get_model(model), spec)
    loops = max(1, rounds // spec.rounds)
    return time_cell(loops, cell) / (loops * spec.ops)


def measure(model: str, rounds: int, repeat: int) -> tuple[float, float]:
    """The best of ``repeat`` of the bare loop and of the suite's cell, alternately, in seconds
    per one-way switch."""
    bare_loop = BARE_LOOPS[model]
    bare, suite = [], []
    for _ in range(repeat):
        bare.append(bare_loop(rounds))
        suite.append(_suite(model, rounds))
    return min(bare), min(suite)


def _count(low: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer from {low:,}, got {text!r}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    one_run = suite_pingpong().rounds
    parser = OneLineParser(prog="python -m runners.overhead", description=__doc__)
    parser.add_argument(
        "--rounds",
        type=_count(one_run),
        default=500_000,
        help="round trips per measurement of generators and greenlet (default 500,000)",
    )
    parser.add_argument(
        "--other-rounds",
        type=_count(0),
        default=20_000,
        help="round trips per measurement of the other models, 0 to skip them (default 20,000)",
    )
    parser.add_argument("--repeat", type=_count(1), default=7, help="measurements (default 7)")
    args = parser.parse_args(argv)
    above = []
    for model in BARE_LOOPS:
        limit = LIMITS.get(model)
        rounds = args.rounds if limit is not None else args.other_rounds
        if rounds == 0:
            continue
        reason = get_model(model).unavailable_reason()
        if reason is not None:
            print(f"{model:<11} unavailable: {reason}")
            continue
        # At least one run of the suite's cell.
        rounds = max(rounds, one_run)
        bare, suite = measure(model, rounds, args.repeat)
        ratio = suite / bare
        verdict = "no limit" if limit is None else f"limit {limit:.2f}"
        if limit is not None and ratio > limit:
            above.append(
                f"{model}: the suite's switch is {ratio:.2f}x the bare one, above {limit:.2f}"
            )
            verdict += ", ABOVE"
        print(
            f"{model:<11} bare {format_duration(bare):>9}/switch   "
            f"suite {format_duration(suite):>9}/switch   ratio {ratio:.2f} ({verdict}; "
            f"best of {args.repeat} x {rounds:,} rounds)"
        )
    for line in above:
        print(f"overhead: {line}", file=sys.stderr)
    return 1 if above else 0


if __name__ == "__main__":
    sys.exit(main())
