"""What the tests of the structured-concurrency models (trio, anyio) share: broken events for
pingpong, FIFOs that break the suite's capacity, and a recorder of what passes through a FIFO.
Each takes the library's own objects, so one fake serves both libraries (and both backends)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bench.models import _structured
from bench.models._structured import Fifo, Item, Receiver, Semaphore, Sender
from tests.capacity_trace import THREAD_SWITCHES

# The name of the coordinator's task: the root task of the run, which runs the shared pingpong.
COORDINATOR = f"{_structured.pingpong.__module__}.{_structured.pingpong.__qualname__}"

needs_thread_switches = pytest.mark.skipif(
    not THREAD_SWITCHES, reason="needs per-thread context switch counts (Linux)"
)


def size_id(size: tuple[int, int]) -> str:
    return f"Q={size[0]},M={size[1]}"


def events_that_do_not_wait(
    real_event: Callable[[], Any], current_task_name: Callable[[], str]
) -> tuple[type[Any], type[Any]]:
    """Two broken events over ``real_event``: one whose wait returns at once in every task, set
    or not, and one whose wait does so in the coordinator only."""

    class EventThatDoesNotWait:
        def __init__(self) -> None:
            self.event = real_event()

        def set(self) -> None:
            self.event.set()

        def statistics(self) -> Any:
            return self.event.statistics()

        def broken(self) -> bool:
            return True

        async def wait(self) -> None:
            if not self.broken():
                await self.event.wait()

    class EventThatDoesNotWaitForTheCoordinator(EventThatDoesNotWait):
        def broken(self) -> bool:
            return current_task_name().endswith(COORDINATOR)

    return EventThatDoesNotWait, EventThatDoesNotWaitForTheCoordinator


def channel_alone(sender: Any, receiver: Any, would_block: type[Exception]) -> Fifo:
    """The library's channel alone, with the model's *_nowait first: a send hands its item
    straight to a waiting receiver, outside the Q buffer places."""

    async def put(item: Item) -> None:
        try:
            sender.send_nowait(item)
        except would_block:
            await sender.send(item)

    async def get() -> Item:
        try:
            item: Item = receiver.receive_nowait()
        except would_block:
            item = await receiver.receive()
        return item

    return put, get


def always_awaiting(slots: Semaphore, sender: Sender, receiver: Receiver) -> Fifo:
    """The model's FIFO with plain awaits: every put and get a schedule point."""

    async def put(item: Item) -> None:
        await slots.acquire()
        sender.send_nowait(item)

    async def get() -> Item:
        item = await receiver.receive()
        slots.release()
        return item

    return put, get


class FifoRecorder:
    """What went through a FIFO: every item put, in order, puts that found Q items in flight,
    and the most items ever in flight."""

    def __init__(self, capacity: int) -> None:
        self.maxsize = capacity
        self.puts: list[object] = []
        self.blocked_puts = 0
        self.in_flight = 0
        self.peak = 0

    def recording(
        self, put: Callable[[Item], Awaitable[None]], get: Callable[[], Awaitable[Item]]
    ) -> Fifo:
        """``put`` and ``get``, recorded."""

        async def recorded_put(item: Item) -> None:
            self.blocked_puts += self.in_flight == self.maxsize
            await put(item)
            self.puts.append(item)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

        async def recorded_get() -> Item:
            item = await get()
            self.in_flight -= 1
            return item

        return recorded_put, recorded_get
