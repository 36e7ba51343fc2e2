"""The echo server of ``fan_out`` with ``work=echo``, in a process of its own.

``python -m bench.measure.echoserver`` binds 127.0.0.1 on an ephemeral port, prints ``host:port``
on its
first line of output once it accepts connections, and serves until SIGTERM, when it prints one
JSON line with what it counted (connections, requests served, errors) and exits. A request is a
frame of ``bench.spec.workloads.ECHO_HEADER`` (payload length, delay in microseconds) and its
payload;
the server holds each frame for its delay and then sends it back unchanged, in the order the
frames arrived on their connection. A connection may carry any number of frames, and a frame may
arrive in any number of pieces.

The loop is a plain ``selectors`` loop with a timer heap: per request it parses one header, slices
one frame and writes it, so the server stays as cheap as a Python server can be and leaves the
CPU to the clients being measured.

The cell process (``runners.cell_process``) starts one server per cell with ``serving()``, which
exports its address in ``CONCBENCH_ECHO_ADDRESS`` for pyperf's workers and the probes, stops it
afterwards and raises ``EchoServerError`` if the server saw malformed frames or connections
broken in the middle of a request. Models read the address with ``echo_address()``.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from bench.spec.workloads import ECHO_HEADER, MAX_REQUEST_BYTES

ADDRESS_VARIABLE = "CONCBENCH_ECHO_ADDRESS"
HOST = "127.0.0.1"
# The kernel caps the accept queue at net.core.somaxconn; asking for more costs nothing.
BACKLOG = 65535
LISTENERS = 4
MAX_DELAY_US = 60_000_000
# How many error messages the server keeps to report; the counts are always complete.
MAX_MESSAGES = 5
READ_SIZE = 65536
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_GRACE_SECONDS = 5.0


class EchoServerError(RuntimeError):
    """The echo server is not running, did not start, or saw clients break the protocol."""


def echo_address() -> tuple[str, int]:
    """The running echo server's address, from ``CONCBENCH_ECHO_ADDRESS``."""
    value = os.environ.get(ADDRESS_VARIABLE, "")
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise EchoServerError(
            "the echo server is not running; fan_out work=echo runs under the runner"
        )
    return host, int(port)


# The server process.


class _Stats:
    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.malformed = 0
        self.broken = 0
        self.accept_errors = 0
        self.messages: list[str] = []

    def error(self, message: str) -> None:
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "requests": self.requests,
            "malformed": self.malformed,
            "broken": self.broken,
            "accept_errors": self.accept_errors,
            "messages": self.messages,
        }


class _Connection:
    """One client connection: its unparsed input, the frames it holds and unsent output."""

    __slots__ = ("buffer", "eof", "last_deadline", "number", "out", "pending", "sock", "writing")

    def __init__(self, sock: socket.socket, number: int) -> None:
        self.sock = sock
        self.number = number
        self.buffer = b""
        # Frames held for their delay, in arrival order; deadlines never decrease, so the
        # timer heap releases them in that order.
        self.pending: deque[bytes] = deque()
        self.last_deadline = 0.0
        self.out = b""
        self.writing = False
        self.eof = False


class _Server:
    def __init__(self, listeners: list[socket.socket]) -> None:
        self.selector = selectors.DefaultSelector()
        for listener in listeners:
            # A listener is registered with itself as data, a connection with its _Connection.
            self.selector.register(listener, selectors.EVENT_READ, listener)
        self.stats = _Stats()
        # (deadline, sequence, connection): the sequence keeps one connection's frames in order.
        self.timers: list[tuple[float, int, _Connection]] = []
        self.sequence = itertools.count()
        self.monotonic = time.monotonic
        # A descriptor held in reserve: when accept() fails for lack of descriptors, giving it
        # up lets the server accept and close the connection, so the client sees an error
        # instead of waiting forever in the accept queue.
        self.spare: int | None = os.open(os.devnull, os.O_RDONLY)

    def serve_forever(self) -> None:
        select = self.selector.select
        timers = self.timers
        monotonic = self.monotonic
        read_event, write_event = selectors.EVENT_READ, selectors.EVENT_WRITE
        while True:
            timeout = max(0.0, timers[0][0] - monotonic()) if timers else None
            for key, mask in select(timeout):
                connection = key.data
                if connection.__class__ is not _Connection:
                    self.accept(connection)
                    continue
                if mask & write_event:
                    self.flush(connection)
                if mask & read_event:
                    self.read(connection)
            if timers:
                now = monotonic()
                while timers and timers[0][0] <= now:
                    connection = heapq.heappop(timers)[2]
                    if connection.sock.fileno() >= 0:
                        self.send(connection, connection.pending.popleft())

    def accept(self, listener: socket.socket) -> None:
        stats = self.stats
        register = self.selector.register
        while True:
            try:
                sock, _ = listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                self.refuse_one(listener, exc)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            stats.connections += 1
            register(sock, selectors.EVENT_READ, _Connection(sock, stats.connections))

    def refuse_one(self, listener: socket.socket, exc: OSError) -> None:
        self.stats.accept_errors += 1
        self.stats.error(f"accept failed: {exc.strerror or exc}")
        if self.spare is None:
            return
        os.close(self.spare)
        self.spare = None
        try:
            sock, _ = listener.accept()
            sock.close()
        except OSError:
            pass
        self.spare = os.open(os.devnull, os.O_RDONLY)

    def read(self, connection: _Connection) -> None:
        try:
            data = connection.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self.lost(connection, exc.strerror or str(exc))
            return
        if not data:
            self.end_of_input(connection)
            return
        buffer = connection.buffer + data if connection.buffer else data
        header_size = ECHO_HEADER.size
        unpack_from = ECHO_HEADER.unpack_from
        size = len(buffer)
        offset = 0
        while size - offset >= header_size:
            length, delay_us = unpack_from(buffer, offset)
            if length > MAX_REQUEST_BYTES or delay_us > MAX_DELAY_US:
                self.stats.malformed += 1
                self.stats.error(
                    f"connection {connection.number}: malformed frame header "
                    f"(payload length {length}, delay {delay_us} us)"
                )
                self.close(connection)
                return
            end = offset + header_size + length
            if end > size:
                break
            frame = buffer[offset:end] if offset or end != size else buffer
            if delay_us or connection.pending:
                self.hold(connection, frame, delay_us)
            else:
                self.send(connection, frame)
            offset = end
        connection.buffer = buffer[offset:] if offset < size else b""

    def hold(self, connection: _Connection, frame: bytes, delay_us: int) -> None:
        deadline = max(self.monotonic() + delay_us / 1e6, connection.last_deadline)
        connection.last_deadline = deadline
        connection.pending.append(frame)
        heapq.heappush(self.timers, (deadline, next(self.sequence), connection))

    def send(self, connection: _Connection, frame: bytes) -> None:
        self.stats.requests += 1
        if connection.writing:
            connection.out += frame
            return
        try:
            sent = connection.sock.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self.lost(connection, exc.strerror or str(exc))
            return
        if sent < len(frame):
            connection.out = frame[sent:]
            self.want_write(connection, True)
        elif connection.eof and not connection.pending:
            self.close(connection)

    def flush(self, connection: _Connection) -> None:
        try:
            sent = connection.sock.send(connection.out)
        except BlockingIOError:
            return
        except OSError as exc:
            self.lost(connection, exc.strerror or str(exc))
            return
        connection.out = connection.out[sent:]
        if not connection.out:
            self.want_write(connection, False)
            if connection.eof and not connection.pending:
                self.close(connection)

    def want_write(self, connection: _Connection, writing: bool) -> None:
        connection.writing = writing
        self.watch(connection)

    def watch(self, connection: _Connection) -> None:
        """Select the events the connection waits for: input until its end, output while
        some is unsent."""

        events = (0 if connection.eof else selectors.EVENT_READ) | (
            selectors.EVENT_WRITE if connection.writing else 0
        )
        sock = connection.sock
        try:
            if events:
                self.selector.modify(sock, events, connection)
            else:
                self.selector.unregister(sock)
        except KeyError:
            if events:
                self.selector.register(sock, events, connection)

    def end_of_input(self, connection: _Connection) -> None:
        """The client closed its side. Frames it sent whole are still answered (it may have
        only shut down writing); a partial frame means it gave up in the middle of one."""
        if connection.buffer:
            self.lost(connection, f"end of input after {len(connection.buffer)} bytes of a frame")
            return
        if not connection.pending and not connection.writing:
            self.close(connection)
            return
        connection.eof = True
        self.watch(connection)

    def lost(self, connection: _Connection, reason: str) -> None:
        if connection.buffer or connection.pending or connection.out:
            self.stats.broken += 1
            self.stats.error(
                f"connection {connection.number} broken in the middle of a request: {reason}"
            )
        self.close(connection)

    def close(self, connection: _Connection) -> None:
        sock = connection.sock
        if sock.fileno() < 0:
            return
        with suppress(KeyError):
            self.selector.unregister(sock)
        sock.close()
        connection.pending.clear()
        connection.buffer = connection.out = b""


class _Stopped(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise _Stopped


def _raise_descriptor_limit() -> None:
    """Thousands of concurrent connections need thousands of descriptors: use the hard limit."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _listen() -> list[socket.socket]:
    """Listening sockets on one ephemeral port. The kernel caps each accept queue at
    net.core.somaxconn (often 4096): a burst of ten thousand connects would overflow one, and
    each connect dropped there waits a whole second for its SYN to be resent. Several
    SO_REUSEPORT listeners, among which the kernel spreads the connections, have that much
    room each."""

    count = LISTENERS if sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT") else 1
    listeners: list[socket.socket] = []
    port = 0
    try:
        for _ in range(count):
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listeners.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind((HOST, port))
            port = listener.getsockname()[1]
            listener.listen(BACKLOG)
            listener.setblocking(False)
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    # A Ctrl-C at the terminal reaches the whole process group: the cell process stops the
    # server itself, with SIGTERM, after it has stopped its clients.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _raise_descriptor_limit()
    listeners: list[socket.socket] = []
    server: _Server | None = None
    try:
        listeners = _listen()
        server = _Server(listeners)
        host, port = listeners[0].getsockname()[:2]
        print(f"{host}:{port}", flush=True)
        server.serve_forever()
    except _Stopped:
        pass
    finally:
        for listener in listeners:
            listener.close()
    stats = server.stats if server is not None else _Stats()
    print(json.dumps(stats.as_dict()), flush=True)
    return 0


# The cell's side.


def _project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def _stop_server(proc: subprocess.Popen[str]) -> tuple[str, bool]:
    """SIGTERM, then SIGKILL after a grace period; reaped either way. Returns its output and
    whether it had to be killed."""

    if proc.poll() is None:
        proc.terminate()
    try:
        out, _ = proc.communicate(timeout=STOP_GRACE_SECONDS)
        return out, False
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        return out, True


def _read_address(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while not selector.select(max(0.0, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                raise EchoServerError(
                    f"the echo server did not start within {STARTUP_TIMEOUT_SECONDS:.0f} s"
                )
    line = proc.stdout.readline().strip()
    if not line:
        raise EchoServerError(f"the echo server exited at start (status {proc.wait()})")
    return line


def _server_errors(out: str, killed: bool, status: int | None) -> list[str]:
    if killed:
        return ["the echo server ignored SIGTERM and was killed"]
    lines = out.strip().splitlines()
    try:
        stats = json.loads(lines[-1]) if lines else None
    except ValueError:
        stats = None
    if not isinstance(stats, dict):
        return [f"the echo server exited with status {status} without reporting"]
    problems = []
    for key, what in (
        ("malformed", "malformed frame(s)"),
        ("broken", "connection(s) broken in the middle of a request"),
        ("accept_errors", "failed accept(s)"),
    ):
        if stats.get(key):
            problems.append(f"{stats[key]} {what}")
    if problems:
        detail = "; ".join(stats.get("messages", []))
        return [f"{', '.join(problems)}" + (f" ({detail})" if detail else "")]
    return []


@contextmanager
def serving() -> Iterator[tuple[str, int]]:
    """Run an echo server for the duration of the block, its address in
    ``CONCBENCH_ECHO_ADDRESS`` (inherited by every process started meanwhile).

    On exit the server is stopped and reaped. Errors it saw raise EchoServerError, unless the
    block is already raising, in which case they are printed to stderr rather than hidden.
    """

    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.measure.echoserver"],
        cwd=_project_root(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    previous = os.environ.get(ADDRESS_VARIABLE)
    failed = True
    try:
        value = _read_address(proc)
        host, _, port = value.rpartition(":")
        os.environ[ADDRESS_VARIABLE] = value
        yield host, int(port)
        failed = False
    finally:
        if previous is None:
            os.environ.pop(ADDRESS_VARIABLE, None)
        else:
            os.environ[ADDRESS_VARIABLE] = previous
        out, killed = _stop_server(proc)
        errors = _server_errors(out, killed, proc.returncode)
        if errors and failed:
            print(f"echo server: {errors[0]}", file=sys.stderr)
    if errors:
        raise EchoServerError(f"echo server: {errors[0]}")


if __name__ == "__main__":
    sys.exit(main())
