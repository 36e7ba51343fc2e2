"""serial: the baseline, plain function calls with no concurrency (the "subroutine").

- pingpong: the two tasks are a caller and a callee; the round number is the call's argument
  and the callee returns it unchanged; one call plus its return is two one-way switches.
- producer_consumer: each producer's put is a direct call of a consumer (round-robin over the
  consumers); the call is the hand-off, so there is no buffer and no backpressure to apply.
  Sentinels are not needed: the calls simply end.
- fan_out: the coordinator runs the N tasks one after another; ``sleep`` uses ``time.sleep``;
  ``echo`` is a blocking socket's ``sendall`` and ``recv``, over a connection of the task's own
  (connect=each) or one connection opened before the region for all of them (connect=reuse).
  One task waits at a time (``fan_out_concurrency``), so a sleep or echo fan-out cannot finish
  before N x D.
- spawn: a task is a function call that returns.
- memory: exempt, there are no tasks to park.
"""

from __future__ import annotations

import itertools
import time

from bench.measure.echoserver import echo_address
from bench.measure.meters import Meter, Outcome
from bench.models._echo import connect, echo_each, exchange
from bench.spec.models import ModelRecord, VariantParameters
from bench.spec.workloads import FanOut, PingPong, ProducerConsumer, Spawn, merge_tallies, tally

MODEL = ModelRecord(
    name="serial",
    summary='plain calls, the "subroutine" baseline; fan-out runs tasks one after another',
    lightweight=False,
    order=0,
    colour="#1f77b4",
    task_noun="plain call",
    parallel="never",
    baseline=True,
    fan_out_concurrency=1,
    # On a free-threaded build: the reference of the GIL-on twins' speedups, and what turning
    # the GIL on costs one thread.
    gil_on=(
        "pingpong",
        "producer_consumer:capacity=64,producers=1,work=none",
        "fan_out:cpu_iterations=20000",
        "producer_consumer:cpu_iterations=20000",
    ),
    primitives={
        "pingpong": "function call with the token, returned unchanged",
        "producer_consumer": "direct call of the consumer, no buffer",
        "fan_out": "sequential calls; time.sleep; blocking sockets for echo",
        "spawn": "function call",
    },
)


def _pong(token: int) -> int:
    """The partner: returns the token it is called with, unchanged."""
    return token


def pingpong(spec: PingPong, meter: Meter, variant: VariantParameters) -> Outcome:
    pong = _pong
    number = back = -1
    meter.start()
    for number in spec.each_round():
        # Compared without a store, as the generators model does, for the same loop.
        if pong(number) != number:
            break
    else:
        back = number  # every token came back unchanged, the last one too
    meter.stop()
    switches = spec.switches(number, back)
    return Outcome(switches, (switches,))


class _Consumer:
    """Tallies each item as it arrives, as the other models' consumers do in their regions."""

    def __init__(self, spec: ProducerConsumer) -> None:
        self.consume = spec.consume
        self.count = self.total = self.squares = 0

    def put(self, item: tuple[int, bytes]) -> None:
        value = self.consume(item)
        self.count += 1
        self.total += value
        self.squares += value * value


def producer_consumer(spec: ProducerConsumer, meter: Meter, variant: VariantParameters) -> Outcome:
    from bench.spec.workloads import PAYLOAD

    consumers = [_Consumer(spec) for _ in range(spec.consumers)]
    targets = itertools.cycle([consumer.put for consumer in consumers])
    producers = [spec.items_of(p) for p in range(spec.producers)]
    meter.start()
    # Producers take turns item by item, as a fair scheduler would interleave them.
    for batch in itertools.zip_longest(*producers):
        for number in batch:
            if number is not None:
                next(targets)((number, PAYLOAD))
    meter.stop()
    checksum = merge_tallies((c.count, c.total, c.squares) for c in consumers)
    return Outcome(checksum[0], checksum)


def fan_out(spec: FanOut, meter: Meter, variant: VariantParameters) -> Outcome:
    if spec.echoes:
        return _fan_out_echo(spec, meter)
    result, sleeps, delay = spec.result, spec.sleeps, spec.delay

    def task(number: int) -> int:
        if sleeps:
            time.sleep(delay)
        return result(number)

    meter.start()
    results = [task(number) for number in range(spec.tasks)]
    meter.stop()
    return Outcome(len(results), tally(results))


def _fan_out_echo(spec: FanOut, meter: Meter) -> Outcome:
    address = echo_address()
    numbers = range(spec.tasks)
    if spec.connect == "each":
        meter.start()
        results = [echo_each(spec, address, number) for number in numbers]
        meter.stop()
    else:
        with connect(address) as sock:
            meter.start()
            results = [exchange(sock, spec, number) for number in numbers]
            meter.stop()
    return Outcome(len(results), tally(results))


def _trivial(number: int) -> int:
    return number + 1


def spawn(spec: Spawn, meter: Meter, variant: VariantParameters) -> Outcome:
    trivial = _trivial
    meter.start()
    results = [trivial(number) for number in range(spec.tasks)]
    meter.stop()
    return Outcome(len(results), tally(results))
