"""A small hub for greenlet tasks: the runtime of the greenlet model's multi-task workloads.

The hub is a greenlet running a loop over a ready queue of ``(greenlet, value)`` pairs (a new
task's value is its arguments) and a timer heap. Task greenlets are children of the hub, so a
task that returns lands back in the loop, which records its result. A task (or any greenlet but
the hub) blocks by recording itself where the wake-up will come from (a FIFO's getter or putter
list, an event, a task's joiners, the timer heap) and switching to the hub with ``park()``;
whoever completes the wait appends the greenlet and its value to the ready queue, and the hub
switches back into it. Operations that need not wait do not switch.

The FIFO follows ``asyncio.Queue`` exactly, so that its capacity means what the spec says (at most
``capacity`` items put and not yet taken). ``put`` appends while fewer than ``capacity`` items are
held and wakes the longest-waiting getter; ``get`` takes the oldest item and wakes the
longest-waiting putter. A woken greenlet receives no item or slot: once it runs it checks again,
and parks again at the end of the line if another greenlet got there first (asyncio's
``while self.full(): await``).

``run()`` switches from the calling greenlet (normally the main one) to the hub and returns when
nothing is ready and no timer or I/O wait is pending. ``wait_readable(sock)`` and
``wait_writable(sock)`` park the calling greenlet on the hub's selector (created on first use).
The hub blocks in one place only, ``_wait``, when no greenlet is ready but timers or I/O waiters
are pending: with I/O waiters in ``selector.select`` with the timeout of the next timer (``None``
when none is pending), putting the greenlets whose sockets became ready on the ready queue; while
greenlets are ready it polls the selector once per pass without blocking. Workloads without I/O
pay one truth test per pass for it. ``connect``, ``send_all`` and ``receive`` are the
non-blocking socket operations built on the two waits.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import os
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

import greenlet

T = TypeVar("T")
ItemT = TypeVar("ItemT")

# greenlet ships no type information; a greenlet is an Any to mypy.
Greenlet = Any


class _Parked:
    __slots__ = ()

    def __repr__(self) -> str:
        return "PARKED"


# What every greenlet passes when it switches to the hub, so that anything else coming back from
# the hub's switch is the return value of a task that has finished.
_PARKED: Final = _Parked()


class Task(greenlet.greenlet, Generic[T]):  # type: ignore[misc]  # greenlet has no types
    """A greenlet that runs ``function(*args)`` as a child of a Hub and keeps its result.

    The function is the greenlet's ``run`` itself, with no wrapper frame: the hub sees the return
    value come back from its switch and records it, which keeps the C stack a parked task saves
    (and the memory workload measures) down to the task's own frames.
    """

    __slots__ = ("_result", "done", "joiners")

    def __init__(self, function: Callable[..., T], hub: Greenlet) -> None:
        super().__init__(function, hub)
        self.done = False
        # Created on the first join only: a parked task in the memory workload carries no list.
        self.joiners: list[Greenlet] | None = None
        self._result: T

    @property
    def result(self) -> T:
        if not self.done:
            raise RuntimeError("the task has not returned yet")
        return self._result

    def finish(self, result: T) -> None:
        self._result = result
        self.done = True


class Hub:
    """A loop greenlet that switches into ready greenlets round-robin and wakes timers."""

    def __init__(self) -> None:
        self._ready: deque[tuple[Greenlet, Any]] = deque()
        # (deadline, sequence, greenlet): the sequence keeps equal deadlines in FIFO order and
        # keeps heapq from ever comparing greenlets.
        self._timers: list[tuple[float, int, Greenlet]] = []
        self._sequence = itertools.count()
        # Its parent is the creating greenlet: an exception that ends the loop surfaces there.
        self._greenlet: Greenlet = greenlet.greenlet(self._loop)
        self._switch_to_hub = self._greenlet.switch
        self._runner: Greenlet | None = None
        self._selector: selectors.BaseSelector | None = None
        # Greenlets parked on I/O, by file descriptor (a socket has at most one waiter).
        self._io_waiters: dict[int, Greenlet] = {}

    def spawn(self, function: Callable[..., T], *args: Any) -> Task[T]:
        task = Task(function, self._greenlet)
        self._ready.append((task, args))  # a task not yet started is switched to with its args
        return task

    def park(self) -> Any:
        """Switch to the hub; return the value the waking side passed to ``resume``."""
        return self._switch_to_hub(_PARKED)

    def resume(self, parked: Greenlet, value: object) -> None:
        self._ready.append((parked, value))

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        heapq.heappush(self._timers, (deadline, next(self._sequence), greenlet.getcurrent()))
        self.park()

    def join(self, task: Task[T]) -> T:
        if not task.done:
            if task.joiners is None:
                task.joiners = []
            task.joiners.append(greenlet.getcurrent())
            self.park()
        return task.result

    def wait_readable(self, sock: socket.socket) -> None:
        """Park until ``sock`` has input (or EOF, or an error)."""
        self._park_on_io(sock, selectors.EVENT_READ)

    def wait_writable(self, sock: socket.socket) -> None:
        """Park until ``sock`` can take output (or a connect completed)."""
        self._park_on_io(sock, selectors.EVENT_WRITE)

    def _park_on_io(self, sock: socket.socket, events: int) -> None:
        selector = self._selector
        if selector is None:
            selector = self._selector = selectors.DefaultSelector()
        current = greenlet.getcurrent()
        selector.register(sock, events, current)
        self._io_waiters[sock.fileno()] = current
        self.park()

    @property
    def pending_timers(self) -> int:
        return len(self._timers)

    @property
    def io_waiters(self) -> int:
        return len(self._io_waiters)

    @property
    def started(self) -> bool:
        return bool(self._greenlet)

    def run(self) -> None:
        """Let the hub run until nothing is ready and no timer is pending; parked greenlets stay
        parked."""
        current = greenlet.getcurrent()
        if current is self._greenlet:
            raise RuntimeError("run() called from inside the hub")
        self._runner = current
        try:
            self._switch_to_hub(_PARKED)
        finally:
            self._runner = None

    def close(self) -> None:
        """End the hub greenlet, which waits in its loop between runs, and release its
        selector (greenlets still parked on I/O stay parked, their sockets open)."""
        if self._greenlet:
            self._greenlet.throw()  # GreenletExit ends the loop; control returns to its parent
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        self._io_waiters.clear()

    def _finish(self, task: Task[Any], result: object) -> None:
        task.finish(result)
        joiners = task.joiners
        if joiners:
            task.joiners = None
            ready = self._ready
            for joiner in joiners:
                ready.append((joiner, result))

    def _loop(self, _parked: object) -> None:
        """The hub greenlet's body; it starts with the _PARKED of the first switch to it."""
        ready = self._ready
        timers = self._timers
        io = self._io_waiters
        while True:
            if timers:
                if not ready:
                    self._wait(timers[0][0] - time.monotonic())
                elif io:
                    self._poll(0.0)
                self._wake_due_timers()
            elif io:
                self._poll(0.0 if ready else None)
            elif not ready:
                self._hand_back()
                continue
            for _ in range(len(ready)):
                runnable, value = ready.popleft()
                # A started greenlet gets the value its wait completes with; a new task (not
                # started yet, so false) gets its arguments.
                outcome = runnable.switch(value) if runnable else runnable.switch(*value)
                if outcome is not _PARKED:
                    self._finish(runnable, outcome)

    def _hand_back(self) -> None:
        """Idle: return control to the greenlet waiting in ``run()``."""
        if self._runner is None:
            raise RuntimeError("deadlock: every greenlet is parked and nobody is in run()")
        self._runner.switch()

    def _wait(self, timeout: float) -> None:
        """Block until the next deadline or ready I/O: the only place the hub blocks."""
        if self._io_waiters:
            self._poll(max(timeout, 0.0))
        elif timeout > 0:
            time.sleep(timeout)

    def _poll(self, timeout: float | None) -> None:
        """Make the greenlets whose sockets are ready runnable, waiting up to ``timeout``."""
        assert self._selector is not None
        unregister = self._selector.unregister
        io = self._io_waiters
        ready = self._ready
        for key, _ in self._selector.select(timeout):
            unregister(key.fileobj)
            del io[key.fd]
            ready.append((key.data, None))

    def _wake_due_timers(self) -> None:
        timers = self._timers
        ready = self._ready
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            ready.append((heapq.heappop(timers)[2], None))


class Event:
    """A one-shot event; ``set`` may be called from a task or from the greenlet calling run()."""

    __slots__ = ("_hub", "is_set", "waiters")

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self.is_set = False
        self.waiters: list[Greenlet] = []

    def wait(self) -> None:
        if not self.is_set:
            self.waiters.append(greenlet.getcurrent())
            self._hub.park()

    def set(self) -> None:
        self.is_set = True
        waiters, self.waiters = self.waiters, []
        resume = self._hub.resume
        for waiter in waiters:
            resume(waiter, None)


class Fifo(Generic[ItemT]):
    """A bounded FIFO with asyncio.Queue's semantics: at most ``capacity`` items are held, a put
    parks the calling greenlet while the FIFO is full, a get while it is empty."""

    __slots__ = ("_getters", "_hub", "_items", "_putters", "capacity")

    def __init__(self, hub: Hub, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._hub = hub
        self.capacity = capacity
        self._items: deque[ItemT] = deque()
        # Parked greenlets, longest-waiting first.
        self._getters: deque[Greenlet] = deque()
        self._putters: deque[Greenlet] = deque()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def waiting_putters(self) -> int:
        return len(self._putters)

    @property
    def waiting_getters(self) -> int:
        return len(self._getters)

    def put(self, item: ItemT) -> None:
        items = self._items
        while len(items) >= self.capacity:
            self._putters.append(greenlet.getcurrent())
            self._hub.park()
        items.append(item)
        if self._getters:
            self._hub.resume(self._getters.popleft(), None)

    def get(self) -> ItemT:
        items = self._items
        while not items:
            self._getters.append(greenlet.getcurrent())
            self._hub.park()
        if self._putters:
            self._hub.resume(self._putters.popleft(), None)
        return items.popleft()


def connect(hub: Hub, sock: socket.socket, address: tuple[str, int]) -> None:
    """Connect a non-blocking socket: start, wait until writable, read the outcome."""
    error = sock.connect_ex(address)
    if error in (errno.EINPROGRESS, errno.EAGAIN):
        hub.wait_writable(sock)
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, os.strerror(error))


def send_all(hub: Hub, sock: socket.socket, data: bytes) -> None:
    """Send all of ``data``, parking whenever the socket's buffer is full."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            hub.wait_writable(sock)
            continue
        view = view[sent:]


def receive(hub: Hub, sock: socket.socket, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only if the connection ended first. It parks before the
    first read: the caller has just sent a request, so its reply cannot be there yet."""
    parts = []
    received = 0
    while received < size:
        hub.wait_readable(sock)
        try:
            data = sock.recv(size - received)
        except BlockingIOError:
            continue
        if not data:
            break
        parts.append(data)
        received += len(data)
    return parts[0] if len(parts) == 1 else b"".join(parts)
