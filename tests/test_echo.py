"""fan_out work=echo: the echo server on its own, every model's echo client, and what is left
behind (nothing: no server process, no open socket).

The clients talk to the session's echo server (``tests/conftest.py``), as every cell of a run
talks to its cell's: a server per test would add a process start to each.
"""

from __future__ import annotations

import errno
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from bench.measure import echoserver
from bench.measure.cells import Cell, ResourceLimitError, resource_limit_reason, run_cell
from bench.measure.echoserver import ADDRESS_VARIABLE, EchoServerError, echo_address, serving
from bench.measure.meters import Clock
from bench.models import _gensched, _greensched
from bench.registry import get_model
from bench.spec.models import Model, ModelRecord, VariantParameters
from bench.spec.workloads import ECHO_HEADER, FanOut
from tests.helpers import StateMeter, models_of
from tests.runs import ROOT, run_runner

MODELS = models_of("fan_out")
SMALL = FanOut(tasks=5, work="echo", delay_ms=0.0)


def _tcp_sockets_to(port: int) -> list[object]:
    """This process's TCP sockets connected to or listening on ``port``."""
    return [
        conn
        for conn in psutil.Process().net_connections(kind="tcp")
        if (conn.raddr and conn.raddr.port == port) or (conn.laddr and conn.laddr.port == port)
    ]


def _servers() -> set[int]:
    return {
        child.pid
        for child in psutil.Process().children()
        if "bench.measure.echoserver" in " ".join(child.cmdline())
    }


def _server_process(others: set[int]) -> psutil.Process:
    """The echo server this test started (a session-wide one may be running as well)."""
    (pid,) = _servers() - others
    return psutil.Process(pid)


def _assert_gone(pid: int) -> None:
    """Reaped, not merely exited: a zombie child would still be listed."""
    assert pid not in [child.pid for child in psutil.Process().children(recursive=True)]
    assert not psutil.pid_exists(pid) or psutil.Process(pid).ppid() != os.getpid()


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    """A fresh echo server for one test; afterwards it must be reaped and no socket to it open
    in this process."""
    previous = os.environ.get(ADDRESS_VARIABLE)
    others = _servers()
    with serving() as address:
        pid = _server_process(others).pid
        yield address
    _assert_gone(pid)
    assert _tcp_sockets_to(address[1]) == []
    assert os.environ.get(ADDRESS_VARIABLE) == previous


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = sock.recv(size - len(data))
        assert more, f"connection ended after {len(data)} of {size} bytes"
        data += more
    return data


def _frame(payload: bytes, delay_us: int = 0) -> bytes:
    return ECHO_HEADER.pack(len(payload), delay_us) + payload


# The server alone.


def test_serving_sets_the_address_and_restores_the_environment(
    server: tuple[str, int],
) -> None:
    assert os.environ[ADDRESS_VARIABLE] == f"{server[0]}:{server[1]}"
    assert echo_address() == server
    assert server[0] == "127.0.0.1"


def test_echo_address_without_a_server_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ADDRESS_VARIABLE, raising=False)
    with pytest.raises(EchoServerError) as info:
        echo_address()
    assert str(info.value) == (
        "the echo server is not running; fan_out work=echo runs under the runner"
    )


def test_concurrent_connections_get_their_own_frames_back(server: tuple[str, int]) -> None:
    connections = [_connect(server) for _ in range(20)]
    try:
        frames = [_frame(f"connection {index}".encode() * (index + 1)) for index in range(20)]
        for sock, frame in zip(connections, frames, strict=True):
            sock.sendall(frame)
        for sock, frame in reversed(list(zip(connections, frames, strict=True))):
            assert _read_exactly(sock, len(frame)) == frame
    finally:
        for sock in connections:
            sock.close()


def test_frames_in_pieces_and_several_per_connection_come_back_in_order(
    server: tuple[str, int],
) -> None:
    # The first frame is held longer than the second: replies still keep arrival order.
    frames = [_frame(b"first" * 10, 20_000), _frame(b"second" * 1000), _frame(b"third")]
    stream = b"".join(frames)
    with _connect(server) as sock:
        # Pieces smaller than a header, a header split from its payload, and frames sharing a
        # piece; the pauses let each piece arrive (and be read) on its own.
        previous = 0
        for cut in (3, 5, 8, 60, len(stream) - 2, len(stream)):
            sock.sendall(stream[previous:cut])
            previous = cut
            time.sleep(0.002)
        assert _read_exactly(sock, len(stream)) == stream


def test_a_large_frame_is_echoed_whole(server: tuple[str, int]) -> None:
    frame = _frame(bytes(range(256)) * 4096)  # 1 MiB: more than a socket buffer holds
    with _connect(server) as sock:
        # Write and read at once, so that neither side's buffer blocks the other.
        sock.setblocking(False)
        sent = 0
        received = bytearray()
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while len(received) < len(frame):
                for _, mask in selector.select(5.0):
                    if mask & selectors.EVENT_WRITE and sent < len(frame):
                        sent += sock.send(frame[sent : sent + 65536])
                        if sent == len(frame):
                            selector.modify(sock, selectors.EVENT_READ)
                    if mask & selectors.EVENT_READ:
                        chunk = sock.recv(1 << 20)
                        assert chunk
                        received += chunk
        assert bytes(received) == frame


def test_the_delay_is_honoured(server: tuple[str, int]) -> None:
    # A lower bound only: the server must hold the frame at least that long.
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(_frame(b"late", 50_000))
        _read_exactly(sock, ECHO_HEADER.size + 4)
        assert time.monotonic() - started >= 0.045


def test_half_closed_connection_still_gets_its_replies(server: tuple[str, int]) -> None:
    frames = _frame(b"a", 5_000) + _frame(b"b")
    with _connect(server) as sock:
        sock.sendall(frames)
        sock.shutdown(socket.SHUT_WR)
        assert _read_exactly(sock, len(frames)) == frames
        assert sock.recv(1) == b""  # the server closes once it has answered


def test_a_malformed_frame_is_reported() -> None:
    malformed = r"1 malformed frame.*payload length 4294967295"
    with (
        pytest.raises(EchoServerError, match=malformed),
        serving() as address,
        _connect(address) as sock,
    ):
        sock.sendall(ECHO_HEADER.pack(0xFFFFFFFF, 0))
        assert sock.recv(1) == b""  # the server drops the connection


def test_a_connection_broken_in_the_middle_of_a_request_is_reported() -> None:
    broken = "broken in the middle of a request"
    with pytest.raises(EchoServerError, match=broken), serving() as address:
        with _connect(address) as sock:
            sock.sendall(_frame(b"x" * 100)[:20])
        # Give the server a moment to see the end of input before it is stopped.
        time.sleep(0.05)


def test_an_error_in_the_block_is_not_replaced_by_the_servers(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(ZeroDivisionError), serving() as address:
        with _connect(address) as sock:
            sock.sendall(ECHO_HEADER.pack(0xFFFFFFFF, 0))
            sock.recv(1)
        1 / 0  # noqa: B018 - the block's own error
    assert "malformed frame" in capfd.readouterr().err


def test_server_counts_what_it_served() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.measure.echoserver"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        host, _, port = proc.stdout.readline().strip().rpartition(":")
        for number in range(3):
            with _connect((host, int(port))) as sock:
                sock.sendall(SMALL.request(number))
                assert _read_exactly(sock, SMALL.reply_bytes) == SMALL.request(number)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["connections"] == 3 and stats["requests"] == 3
    assert stats["malformed"] == stats["broken"] == stats["accept_errors"] == 0
    assert proc.returncode == 0


def test_a_server_that_ignores_sigterm_is_killed_and_reaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(echoserver, "STOP_GRACE_SECONDS", 0.2)
    others = _servers()
    with pytest.raises(EchoServerError, match="ignored SIGTERM"), serving():
        server = _server_process(others)
        # Stopped processes do not act on SIGTERM until continued: as good as ignoring it.
        server.suspend()
    _assert_gone(server.pid)


# Every model's client.


@pytest.fixture
def session_server(echo_server: tuple[str, int]) -> Iterator[tuple[str, int]]:
    """The session's echo server; afterwards no socket of this process may be open to it."""
    assert echo_address() == echo_server
    yield echo_server
    assert _tcp_sockets_to(echo_server[1]) == []


@pytest.mark.parametrize("connect", ["each", "reuse"])
@pytest.mark.parametrize("model", MODELS)
def test_echo_client_returns_the_reference_checksum(
    session_server: tuple[str, int], model: Model, connect: str
) -> None:
    spec = FanOut(tasks=7, work="echo", delay_ms=1.0, request_bytes=100, connect=connect)
    for _ in range(2):  # pyperf repeats runs in one process: the second must work as well
        outcome = run_cell(Cell(model, spec), Clock())
        assert outcome.ops == 7
        assert tuple(outcome.checksum) == spec.reference()


@pytest.mark.parametrize("model", MODELS)
def test_reuse_connections_are_open_before_the_region_and_closed_after(
    session_server: tuple[str, int], model: Model
) -> None:
    spec = FanOut(tasks=4, work="echo", delay_ms=0.0, connect="reuse")
    # processes: one connection per pool worker, opened in the worker, not in this process.
    expected = {"processes": 0, "serial": 1}.get(model.base, spec.tasks)
    port = session_server[1]
    seen: list[int] = []
    meter = StateMeter(
        lambda: seen.append(len(_tcp_sockets_to(port))),
        lambda: seen.append(len(_tcp_sockets_to(port))),
    )
    run_cell(Cell(model, spec), meter)
    assert seen == [expected, expected]


@pytest.mark.parametrize("model", MODELS)
def test_each_task_opens_its_connection_inside_the_region(
    session_server: tuple[str, int], model: Model
) -> None:
    seen: list[int] = []
    meter = StateMeter(lambda: seen.append(len(_tcp_sockets_to(session_server[1]))))
    run_cell(Cell(model, SMALL), meter)
    assert seen == [0]


@pytest.fixture
def stopped_server(monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    """The address of a server that has stopped: a port that was listening and no longer is."""
    with socket.create_server((echoserver.HOST, 0)) as listener:
        host, port = listener.getsockname()[:2]
    monkeypatch.setenv(ADDRESS_VARIABLE, f"{host}:{port}")
    return host, port


@pytest.mark.parametrize("connect", ["each", "reuse"])
@pytest.mark.parametrize("model", MODELS)
def test_a_stopped_server_is_a_connection_error_not_a_number(
    stopped_server: tuple[str, int], model: Model, connect: str
) -> None:
    spec = FanOut(tasks=3, work="echo", delay_ms=0.0, connect=connect)
    with pytest.raises(OSError) as info:
        run_cell(Cell(model, spec), Clock())
    assert info.value.errno == errno.ECONNREFUSED, repr(info.value)
    assert "refused" in str(info.value).lower()
    assert _tcp_sockets_to(stopped_server[1]) == []


def test_without_a_server_the_model_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADDRESS_VARIABLE, raising=False)
    with pytest.raises(EchoServerError, match="the echo server is not running"):
        run_cell(Cell(get_model("generators"), SMALL), Clock())


# A server that answers with half a reply and hangs up: every client must name the task.
_SHORT_SERVER = """
import socket, sys
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
while True:
    sock, _ = listener.accept()
    request = sock.recv(1 << 16)
    sock.sendall(request[:10])
    sock.close()
"""


@pytest.fixture(scope="module")
def short_server_port() -> Iterator[int]:
    with subprocess.Popen(
        [sys.executable, "-c", _SHORT_SERVER], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            yield int(proc.stdout.readline())
        finally:
            proc.kill()


@pytest.fixture
def short_server(short_server_port: int, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv(ADDRESS_VARIABLE, f"127.0.0.1:{short_server_port}")
    return short_server_port


@pytest.mark.parametrize("model", MODELS)
def test_a_short_reply_is_an_error_naming_the_task(short_server: int, model: Model) -> None:
    spec = FanOut(tasks=1, work="echo", delay_ms=0.0)
    with pytest.raises(
        ConnectionError, match=r"task \d+: the connection ended after 10 of 72 reply bytes"
    ):
        run_cell(Cell(model, spec), Clock())
    assert _tcp_sockets_to(short_server) == []


def test_ephemeral_port_exhaustion_is_a_resource_limit() -> None:
    exhausted = OSError(errno.EADDRNOTAVAIL, os.strerror(errno.EADDRNOTAVAIL))
    assert resource_limit_reason(exhausted) is not None

    def fan_out(spec: FanOut, meter: Clock, variant: VariantParameters) -> None:
        raise exhausted

    record = ModelRecord(name="exhausted", summary="a test model", primitives={})
    module = SimpleNamespace(fan_out=fan_out)
    cell = Cell(Model(record, module), SMALL)  # type: ignore[arg-type]
    with pytest.raises(ResourceLimitError, match="EADDRNOTAVAIL"):
        run_cell(cell, Clock())


# The schedulers' readiness waits.


def test_generator_scheduler_waits_on_sockets_and_timers_together() -> None:
    scheduler = _gensched.Scheduler()
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    order: list[str] = []

    def reader() -> _gensched.TaskBody[bytes]:
        data = yield from _gensched.receive(left, 5)
        order.append("read")
        return data

    def writer() -> _gensched.TaskBody[None]:
        yield _gensched.sleep(0.01)
        order.append("slept")
        yield from _gensched.send_all(right, b"hello")

    try:
        read_task = scheduler.spawn(reader())
        scheduler.spawn(writer())
        scheduler.run()
        assert read_task.result == b"hello"
        assert order == ["slept", "read"]
        assert scheduler.io_waiters == 0
    finally:
        scheduler.close()
        left.close()
        right.close()


def test_greenlet_hub_waits_on_sockets_and_timers_together() -> None:
    hub = _greensched.Hub()
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    order: list[str] = []

    def reader() -> bytes:
        data = _greensched.receive(hub, left, 5)
        order.append("read")
        return data

    def writer() -> None:
        hub.sleep(0.01)
        order.append("slept")
        _greensched.send_all(hub, right, b"hello")

    try:
        read_task = hub.spawn(reader)
        hub.spawn(writer)
        hub.run()
        assert read_task.result == b"hello"
        assert order == ["slept", "read"]
        assert hub.io_waiters == 0
    finally:
        hub.close()
        left.close()
        right.close()


def test_receive_returns_short_at_end_of_input() -> None:
    scheduler = _gensched.Scheduler()
    left, right = socket.socketpair()
    left.setblocking(False)
    right.sendall(b"abc")
    right.close()
    try:
        task = scheduler.spawn(_gensched.receive(left, 10))
        scheduler.run()
        assert task.result == b"abc"
    finally:
        scheduler.close()
        left.close()


# The runner.


@pytest.mark.slow
def test_runner_measures_an_echo_cell_and_stops_its_server(tmp_path: Path) -> None:
    """Every pass of the cell (the timed runs, the latency pass) talks to the cell's server."""
    output = tmp_path / "echo.json"
    spec = "fan_out:tasks=3,work=echo,delay_ms=0,connect=reuse"
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    result = run_runner(
        "--debug-single-value", "--no-profile", "--models", "generators,threads",
        "--spec", spec, "-o", str(output),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(output.read_text())
    names = [bench["metadata"]["name"] for bench in data["benchmarks"]]
    assert len(names) == 2 and all("work=echo" in name for name in names)
    assert data["concbench"]["gaps"] == []
    latency = data["concbench"]["latency"]
    assert sorted(latency) == sorted(names)
    assert all(record["runs"][0]["count"] == 3 for record in latency.values())
    leftover = [
        child
        for child in psutil.Process().children(recursive=True)
        if child.pid not in before and "bench.measure.echoserver" in " ".join(child.cmdline())
    ]
    assert leftover == []
