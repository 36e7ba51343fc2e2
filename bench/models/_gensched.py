"""A small round-robin scheduler for generator tasks: the runtime of the generators model.

A task is a generator that yields requests and is resumed with their values::

    yield fifo.put(item)        # parks while the FIFO is full (backpressure)
    item = yield fifo.get()     # parks while it is empty
    yield event.wait()          # parks until the event is set
    yield sleep(seconds)        # parks on the timer heap until its deadline
    result = yield task.join()  # parks until the task has returned
    yield readable(sock)        # parks until the socket has input (or EOF, or an error)
    yield writable(sock)        # parks until it can take output (or a connect completed)

The scheduler hands each request to its ``trap``. A request that can complete at once resumes the
same task right away with its value, the way ``await queue.put(item)`` on a non-full asyncio queue
does not yield to the loop; otherwise the trap parks the task on a waiter list or the timer heap,
and whoever completes the request later puts the task back on the ready queue with its value.

The FIFO follows ``asyncio.Queue`` exactly, so that its capacity means what the spec says (at most
``capacity`` items put and not yet taken). ``put`` appends while fewer than ``capacity`` items are
held and wakes the longest-waiting getter; ``get`` takes the oldest item and wakes the
longest-waiting putter. A woken task does not receive an item or a slot: it is only made ready,
with its request kept in ``Task.retry``, and re-executes that request when it runs, parking again
at the end of the line if another task got there first (asyncio's ``while self.full(): await``).

The scheduler blocks in one place only, ``_wait``, when no task is ready but timers or I/O
waiters are pending. With I/O waiters it blocks in ``selector.select`` with the timeout of the
next timer (``None`` when no timer is pending) and makes the tasks whose sockets became ready
runnable; while tasks are ready it polls the selector once per pass without blocking, so that a
busy scheduler cannot starve them. The selector is created on the first I/O wait; workloads
without I/O pay one truth test per pass for it. ``connect``, ``send_all`` and ``receive`` are
the non-blocking socket operations built on the two waits, used as ``yield from``.
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
from collections.abc import Generator
from typing import Any, Final, Generic, TypeVar

T = TypeVar("T")
ItemT = TypeVar("ItemT")

TaskBody = Generator["Request", Any, T]


class _Parked:
    __slots__ = ()

    def __repr__(self) -> str:
        return "PARKED"


# What a trap returns after parking the task: distinct from every resume value (None included).
PARKED: Final = _Parked()


class Request:
    """What a task yields to the scheduler."""

    __slots__ = ()

    def trap(self, scheduler: Scheduler, task: Task[Any]) -> object:
        """Complete the request and return the task's resume value, or park the task and
        return PARKED."""
        raise NotImplementedError


class Task(Generic[T]):
    """A generator scheduled by a Scheduler, with its result once it has returned."""

    __slots__ = ("_result", "body", "done", "joiners", "resume_value", "retry")

    def __init__(self, body: TaskBody[T]) -> None:
        self.body = body
        self.resume_value: Any = None
        # The FIFO request a parked task re-executes when it is woken (None otherwise).
        self.retry: Request | None = None
        self.done = False
        # Created on the first join only: a parked task in the memory workload carries no list.
        self.joiners: list[Task[Any]] | None = None
        self._result: T

    @property
    def result(self) -> T:
        if not self.done:
            raise RuntimeError("the task has not returned yet")
        return self._result

    def finish(self, result: T) -> None:
        self._result = result
        self.done = True

    def join(self) -> Request:
        return _Join(self)


class Scheduler:
    """Runs tasks round-robin: each pass steps every task that was ready when the pass began."""

    def __init__(self) -> None:
        self._ready: deque[Task[Any]] = deque()
        # (deadline, sequence, task): the sequence keeps equal deadlines in FIFO order and
        # keeps heapq from ever comparing tasks.
        self._timers: list[tuple[float, int, Task[Any]]] = []
        self._sequence = itertools.count()
        self._selector: selectors.BaseSelector | None = None
        # Tasks parked on I/O, by file descriptor (a socket has at most one waiter).
        self._io_waiters: dict[int, Task[Any]] = {}

    def spawn(self, body: TaskBody[T]) -> Task[T]:
        task = Task(body)
        self._ready.append(task)
        return task

    def resume(self, task: Task[Any], value: object) -> None:
        """Make a parked task runnable; it receives ``value`` as the result of its request."""
        task.resume_value = value
        self._ready.append(task)

    def wake(self, task: Task[Any]) -> None:
        """Make a task parked with a ``retry`` request runnable; it re-executes the request."""
        self._ready.append(task)

    def park_until(self, deadline: float, task: Task[Any]) -> None:
        heapq.heappush(self._timers, (deadline, next(self._sequence), task))

    def park_on_io(self, sock: socket.socket, events: int, task: Task[Any]) -> None:
        selector = self._selector
        if selector is None:
            selector = self._selector = selectors.DefaultSelector()
        selector.register(sock, events, task)
        self._io_waiters[sock.fileno()] = task

    @property
    def pending_timers(self) -> int:
        return len(self._timers)

    @property
    def io_waiters(self) -> int:
        return len(self._io_waiters)

    def run(self) -> None:
        """Run until no task is ready and no timer or I/O wait is pending. Tasks parked on a
        FIFO, an event or a join stay parked; a later ``run`` continues them once something
        resumed them."""
        ready = self._ready
        timers = self._timers
        io = self._io_waiters
        step = self._step
        while ready or timers or io:
            if timers:
                if not ready:
                    self._wait(timers[0][0] - time.monotonic())
                elif io:
                    self._poll(0.0)
                self._wake_due_timers()
            elif io:
                self._poll(0.0 if ready else None)
            for _ in range(len(ready)):
                step(ready.popleft())

    def close(self) -> None:
        """Release the selector (tasks still parked on I/O stay parked, their sockets open)."""
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        self._io_waiters.clear()

    def _wait(self, timeout: float) -> None:
        """Block until the next deadline or ready I/O: the only place the scheduler blocks."""
        if self._io_waiters:
            self._poll(max(timeout, 0.0))
        elif timeout > 0:
            time.sleep(timeout)

    def _poll(self, timeout: float | None) -> None:
        """Resume the tasks whose sockets are ready, waiting up to ``timeout`` for one."""
        assert self._selector is not None
        unregister = self._selector.unregister
        io = self._io_waiters
        ready = self._ready
        for key, _ in self._selector.select(timeout):
            unregister(key.fileobj)
            del io[key.fd]
            ready.append(key.data)

    def _wake_due_timers(self) -> None:
        timers = self._timers
        ready = self._ready
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            ready.append(heapq.heappop(timers)[2])

    def _step(self, task: Task[Any]) -> None:
        send = task.body.send
        retry = task.retry
        if retry is None:
            value = task.resume_value
            task.resume_value = None
        else:
            task.retry = None
            value = retry.trap(self, task)
            if value is PARKED:
                return
        try:
            while True:
                value = send(value).trap(self, task)
                if value is PARKED:
                    return
        except StopIteration as stop:
            self._finish(task, stop.value)

    def _finish(self, task: Task[Any], result: object) -> None:
        task.finish(result)
        joiners = task.joiners
        if joiners:
            task.joiners = None
            for joiner in joiners:
                self.resume(joiner, result)


class Event:
    """A one-shot event; ``set`` may be called from a task or from code outside the scheduler."""

    __slots__ = ("_scheduler", "_wait_request", "is_set", "waiters")

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self.is_set = False
        self.waiters: list[Task[Any]] = []
        self._wait_request = _Wait(self)

    def wait(self) -> Request:
        return self._wait_request

    def set(self) -> None:
        self.is_set = True
        waiters, self.waiters = self.waiters, []
        resume = self._scheduler.resume
        for waiter in waiters:
            resume(waiter, None)


class Fifo(Generic[ItemT]):
    """A bounded FIFO with asyncio.Queue's semantics: at most ``capacity`` items are held, a put
    parks its task while the FIFO is full, a get while it is empty."""

    __slots__ = ("_get_request", "capacity", "getters", "items", "putters")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.items: deque[ItemT] = deque()
        # Parked tasks, longest-waiting first; each keeps its request in ``Task.retry``.
        self.getters: deque[Task[Any]] = deque()
        self.putters: deque[Task[Any]] = deque()
        self._get_request = _Get(self)

    def __len__(self) -> int:
        return len(self.items)

    def put(self, item: ItemT) -> Request:
        return _Put(self, item)

    def get(self) -> Request:
        return self._get_request


def sleep(seconds: float) -> Request:
    return _Sleep(seconds)


class _Put(Request, Generic[ItemT]):
    __slots__ = ("fifo", "item")

    def __init__(self, fifo: Fifo[ItemT], item: ItemT) -> None:
        self.fifo = fifo
        self.item = item

    def trap(self, scheduler: Scheduler, task: Task[Any]) -> object:
        fifo = self.fifo
        items = fifo.items
        if len(items) < fifo.capacity:
            items.append(self.item)
            if fifo.getters:
                scheduler.wake(fifo.getters.popleft())
            return None
        task.retry = self
        fifo.putters.append(task)
        return PARKED


class _Get(Request, Generic[ItemT]):
    __slots__ = ("fifo",)

    def __init__(self, fifo: Fifo[ItemT]) -> None:
        self.fifo = fifo

    def trap(self, scheduler: Scheduler, task: Task[Any]) -> object:
        fifo = self.fifo
        items = fifo.items
        if items:
            if fifo.putters:
                scheduler.wake(fifo.putters.popleft())
            return items.popleft()
        task.retry = self
        fifo.getters.append(task)
        return PARKED


class _Wait(Request):
    __slots__ = ("event",)

    def __init__(self, event: Event) -> None:
        self.event = event

    def trap(self, scheduler: Scheduler, task: Task[Any]) -> object:
        if self.event.is_set:
            return None
        self.event.waiters.append(task)
        return PARKED


class _Sleep(Request):
    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def trap(self, scheduler: Scheduler, task: Task[Any]) -> object:
        scheduler.park_until(time.monotonic() + self.seconds, task)
        return PARKED


def readable(sock: socket.socket) -> Request:
    return _IoWait(sock, selectors.EVENT_READ)


def writable(sock: socket.socket) -> Request:
    return _IoWait(sock, selectors.EVENT_WRITE)


def connect(sock: socket.socket, address: tuple[str, int]) -> TaskBody[None]:
    """Connect a non-blocking socket: start, wait until writable, read the outcome."""
    error = sock.connect_ex(address)
    if error in (errno.EINPROGRESS, errno.EAGAIN):
        yield writable(sock)
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, os.strerror(error))


def send_all(sock: socket.socket, data: bytes) -> TaskBody[None]:
    """Send all of ``data``, waiting whenever the socket's buffer is full."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            yield writable(sock)
            continue
        view = view[sent:]


def receive(sock: socket.socket, size: int) -> TaskBody[bytes]:
    """Up to ``size`` bytes, fewer only if the connection ended first. It waits before the
    first read: the caller has just sent a request, so its reply cannot be there yet."""
    parts = []
    received = 0
    while received < size:
        yield readable(sock)
        try:
            data = sock.recv(size - received)
        except BlockingIOError:
            continue
        if not data:
            break
        parts.append(data)
        received += len(data)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class _IoWait(Request):
    __slots__ = ("events", "sock")

    def __init__(self, sock: socket.socket, events: int) -> None:
        self.sock = sock
        self.events = events

    def trap(self, scheduler: Scheduler, task: Task[Any]) -> object:
        scheduler.park_on_io(self.sock, self.events, task)
        return PARKED


class _Join(Request):
    __slots__ = ("target",)

    def __init__(self, target: Task[Any]) -> None:
        self.target = target

    def trap(self, scheduler: Scheduler, task: Task[Any]) -> object:
        target = self.target
        if target.done:
            return target.result
        if target.joiners is None:
            target.joiners = []
        target.joiners.append(task)
        return PARKED
