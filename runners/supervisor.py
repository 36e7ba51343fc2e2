"""Run one cell's process tree under supervision: a time limit, the tail of its error output,
its result through a pipe, and nothing left running afterwards.

The cell process starts a session of its own, so the whole tree it creates (pyperf workers,
probes, the processes model's children) shares one process group that can be signalled at
once, and a Ctrl-C typed at the terminal reaches only the runner, which then stops the cell
itself. On Linux the runner also becomes a child subreaper: a process that leaves the group
(``setsid``) and is orphaned is re-parented to the runner instead of init, so it is still found.

While the cell runs, the runner sleeps in one blocking wait: on the cell's exit (a pidfd on
Linux), its deadline, or a stop request (a byte on a pipe of its own). It never wakes to poll,
because on a 2-core machine every wake-up can land in a measured region. Its reader threads
block on the cell's pipes, which the cell writes between regions only.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PR_SET_CHILD_SUBREAPER = 36
# Time a terminated tree gets to exit before it is killed, and a finished cell's stray
# processes get to exit by themselves (a multiprocessing resource tracker notices its
# parent's exit within a few hundred milliseconds) before they count as leaked.
TERMINATE_GRACE = 1.0
LEAK_GRACE = 2.0
TAIL_LINES = 40
# Lines of a process's error output shown to people (the last ones that are not blank).
TAIL_SHOWN = 8


def become_subreaper() -> bool:
    """Ask Linux to re-parent orphaned descendants to this process; False where unsupported."""
    if not hasattr(os, "sched_getaffinity"):  # not Linux
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def describe(process: psutil.Process) -> str:
    try:
        command = " ".join(process.cmdline()) or process.name()
    except psutil.Error:
        command = "?"
    command = " ".join(command.split())
    if len(command) > 80:
        command = command[:77] + "..."
    return f"pid {process.pid} ({command})"


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if process.pid != os.getpid() and os.getpgid(process.pid) == pgid:
                members.append(process)
    return members


def _descendants() -> list[psutil.Process]:
    try:
        children: list[psutil.Process] = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    return children


def _alive(processes: Sequence[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
            elif process.ppid() == os.getpid():
                # an orphan re-parented to us that has exited: reap it
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(process.pid, os.WNOHANG)
        except psutil.Error:
            continue
    return alive


def _signal_all(processes: Sequence[psutil.Process], signum: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signum)


def _reap(processes: Sequence[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to ``timeout`` for the processes to end (reaping our own children); the rest."""
    _, alive = psutil.wait_procs(list(processes), timeout=timeout)
    return _alive(alive)


@contextlib.contextmanager
def exit_notice(proc: subprocess.Popen[bytes]) -> Iterator[int]:
    """A descriptor that becomes readable once ``proc`` has exited: its pidfd on Linux;
    elsewhere (or where the kernel has no pidfd) the read end of a pipe written by a thread
    that is blocked in ``proc.wait()`` until then."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        try:
            pidfd = pidfd_open(proc.pid)
        except OSError:
            pass
        else:
            try:
                yield pidfd
            finally:
                os.close(pidfd)
            return
    read_fd, write_fd = os.pipe()

    def notify() -> None:
        # The thread owns the write end: closing it is the notice, and it outlives the block
        # when the cell is still running at its end (it exits once the cell is killed).
        with contextlib.suppress(Exception):
            proc.wait()
        os.close(write_fd)

    threading.Thread(target=notify, name="cell-exit-notice", daemon=True).start()
    try:
        yield read_fd
    finally:
        os.close(read_fd)


@dataclass
class Finished:
    """How a supervised cell process ended."""

    returncode: int
    elapsed: float
    timed_out: bool = False
    stopped: bool = False  # terminated on request (an interrupt of the whole run)
    result: str = ""
    stderr_tail: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    def error_lines(self) -> tuple[str, ...]:
        """The last lines of its error output that are not blank, as people are shown them."""
        return tuple(line for line in self.stderr_tail if line.strip())[-TAIL_SHOWN:]

    def timeout_reason(self, timeout: float) -> str:
        stopped = f"; stopped {len(self.leftovers)} processes" if self.leftovers else ""
        return f"timed out after {timeout:g} s (--cell-timeout){stopped}"

    def leftovers_reason(self) -> str:
        shown = ", ".join(self.leftovers[:3])
        more = f" and {len(self.leftovers) - 3} more" if len(self.leftovers) > 3 else ""
        count = len(self.leftovers)
        return f"left {count} process(es) running after it ended: {shown}{more}; killed"


class Supervised:
    """One cell process: started in its own session, waited for with a time limit, and
    followed by a sweep that kills whatever it left behind."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        cwd: Path,
        environ: Mapping[str, str] | None = None,
        inherit_environ: bool = True,
    ) -> None:
        """``environ``: variables the cell process gets besides this process's own; with
        ``inherit_environ`` False, the only ones it gets (a pyperf worker's environment)."""
        self._argv = list(argv)
        self._timeout = timeout
        self._cwd = cwd
        self._environ: dict[str, str] | None
        if environ is None:
            self._environ = None if inherit_environ else {}
        else:
            self._environ = {**os.environ, **environ} if inherit_environ else dict(environ)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop_requested = False
        self._result = bytearray()
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._preexisting: set[psutil.Process] = set()
        # A stop request writes a byte here to end the wait at once (see ``_wait``).
        self._wake_fd: int | None = None

    def _tree(self, pgid: int) -> list[psutil.Process]:
        """The cell's process group and the processes below the runner that appeared since the
        cell started (whatever the runner had before is not the cell's), each once."""
        found = [*_group_members(pgid), *_descendants()]
        unique = {p.pid: p for p in found if p not in self._preexisting}
        return list(unique.values())

    def request_stop(self) -> None:
        """Stop the cell now. Safe to call from a signal handler: it only sends signals."""
        self._stop_requested = True
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        wake_fd = self._wake_fd
        if wake_fd is not None:
            with contextlib.suppress(OSError):  # full (a byte is already there) or closed
                os.write(wake_fd, b"\0")

    def _read_result(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as stream:
            while chunk := stream.read(65536):
                self._result += chunk

    def _read_stderr(self, stream: object) -> None:
        assert hasattr(stream, "readline")
        for raw in iter(stream.readline, b""):
            self._tail.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def _wait(self, proc: subprocess.Popen[bytes], deadline: float, wake_fd: int) -> bool:
        """Block until the cell exits, a stop is requested or the deadline passes (True)."""
        with exit_notice(proc) as exited, selectors.DefaultSelector() as selector:
            selector.register(exited, selectors.EVENT_READ)
            selector.register(wake_fd, selectors.EVENT_READ)
            while proc.poll() is None and not self._stop_requested:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return True
                selector.select(remaining)
        return False

    def run(self, result_fd_option: str) -> Finished:
        self._preexisting = set(_descendants())
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        self._wake_fd = wake_write
        try:
            return self._run(result_fd_option, wake_read)
        finally:
            # Forgotten before it is closed: a signal handler running in between sees None.
            self._wake_fd = None
            os.close(wake_write)
            os.close(wake_read)

    def _run(self, result_fd_option: str, wake_fd: int) -> Finished:
        read_fd, write_fd = os.pipe()
        started = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                [*self._argv, result_fd_option, str(write_fd)],
                cwd=self._cwd,
                env=self._environ,
                stdin=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        proc = self._proc
        readers = [
            threading.Thread(target=self._read_result, args=(read_fd,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(proc.stderr,), daemon=True),
        ]
        for reader in readers:
            reader.start()
        if self._stop_requested:  # a signal arrived while the process was being created
            self.request_stop()

        try:
            timed_out = self._wait(proc, started + self._timeout, wake_fd)
        except BaseException:
            # The runner itself is failing: its cell, in a session of its own, must not outlive it.
            self._kill_tree(proc)
            raise
        elapsed = time.monotonic() - started

        running = proc.poll() is None
        leftovers = self._kill_tree(proc) if running else self._sweep(proc.pid)
        for reader in readers:
            # the pipes close once every process holding them is gone
            reader.join(timeout=5.0)
        if proc.stderr is not None:
            proc.stderr.close()
        return Finished(
            returncode=proc.returncode,
            elapsed=elapsed,
            timed_out=timed_out,
            stopped=self._stop_requested and not timed_out,
            result=self._result.decode("utf-8", "replace"),
            stderr_tail=list(self._tail),
            leftovers=leftovers,
        )

    def _kill_tree(self, proc: subprocess.Popen[bytes]) -> list[str]:
        """Stop a cell that is still running: SIGTERM to its group, then SIGKILL to anything
        below the runner that is still there. Returns the processes that were stopped."""
        members = self._tree(proc.pid)
        names = [describe(process) for process in members]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        _signal_all(members, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=TERMINATE_GRACE)
        survivors = _reap(members, TERMINATE_GRACE)
        stubborn = _alive(list({p.pid: p for p in [*survivors, *self._tree(proc.pid)]}.values()))
        _signal_all(stubborn, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        _reap(stubborn, 5.0)
        return names

    def _sweep(self, pgid: int) -> list[str]:
        """After a cell ended by itself: processes it left behind, killed. Empty when clean."""
        strays = _alive(self._tree(pgid))
        if not strays:
            return []
        strays = _reap(strays, LEAK_GRACE)
        if not strays:
            return []
        names = [describe(process) for process in strays]
        _signal_all(strays, signal.SIGKILL)
        _reap(strays, 5.0)
        return names
