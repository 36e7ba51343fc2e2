"""What the echo clients of ``fan_out`` (``work=echo``) share: a TCP connection to the suite's
echo server and one request-reply exchange over a socket with blocking semantics.

``exchange`` works on any object with the socket API whose calls block the caller until done:
a plain ``socket.socket`` (serial, threads, processes) blocks the OS thread, a
``gevent.socket.socket`` only the greenlet. The scheduler-based models (generators, greenlet) use
non-blocking sockets through their schedulers instead, and asyncio its streams.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from bench.spec.workloads import FanOut

Address = tuple[str, int]


def short_reply(number: int, received: int, expected: int) -> ConnectionError:
    """A reply that ended early: the server closed the connection or it broke."""
    return ConnectionError(
        f"task {number}: the connection ended after {received} of {expected} reply bytes"
    )


def configure(sock: Any) -> None:
    """Small requests go out at once rather than waiting for Nagle's algorithm to batch them."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def connect(address: Address, new_socket: Callable[..., Any] = socket.socket) -> Any:
    """A connected TCP socket made by ``new_socket`` (closed again if connecting fails)."""
    sock = new_socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        configure(sock)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def receive(sock: Any, size: int, number: int) -> bytes:
    """Exactly ``size`` bytes from a blocking socket; EOF before that is an error."""
    reply: bytes = sock.recv(size)
    if len(reply) == size:
        return reply
    parts = [reply]
    received = len(reply)
    while received < size:
        if not reply:
            raise short_reply(number, received, size)
        reply = sock.recv(size - received)
        parts.append(reply)
        received += len(reply)
    return b"".join(parts)


def exchange(sock: Any, spec: FanOut, number: int) -> int:
    """Task ``number``'s request over ``sock``, its whole reply, and the task's result.

    The spec's ``echo_result`` is the only way a result is made (a latency pass hooks it).
    """
    sock.sendall(spec.request(number))
    reply = receive(sock, spec.reply_bytes, number)
    return spec.echo_result(number, reply)


def echo_each(
    spec: FanOut, address: Address, number: int, new_socket: Callable[..., Any] = socket.socket
) -> int:
    """connect=each: a connection of its own for one exchange, closed afterwards."""
    sock = connect(address, new_socket)
    try:
        return exchange(sock, spec, number)
    finally:
        sock.close()
