"""Result files: pyperf JSON, written atomically, never over a file the user already has."""

from __future__ import annotations

import datetime
import os
import platform
import socket
import sys
import tempfile
from pathlib import Path

import pyperf

RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"


class StorageError(RuntimeError):
    pass


def default_output(results_dir: Path = RESULTS_DIR) -> Path:
    """``results/<python>-<host>-<timestamp>.json``, unique even within one second."""
    major, minor = sys.version_info[:2]
    python = f"{platform.python_implementation().lower()}{major}.{minor}"
    if getattr(sys, "_is_gil_enabled", lambda: True)() is False:
        python += "t"
    host = socket.gethostname().split(".")[0] or "host"
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    candidate = results_dir / f"{python}-{host}-{stamp}.json"
    counter = 1
    while candidate.exists():
        counter += 1
        candidate = results_dir / f"{python}-{host}-{stamp}-{counter}.json"
    return candidate


class ResultFile:
    """A result file this run owns: created once (refusing an existing path), then replaced
    atomically after every cell so an interruption keeps every finished cell."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._created = False

    def claim(self) -> None:
        """Create the file empty and exclusively, so no other run or user file is overwritten."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise StorageError(f"{self.path} already exists; choose another output file") from None
        except OSError as exc:
            raise StorageError(f"cannot create {self.path}: {exc.strerror}") from None
        os.close(fd)
        self._created = True

    def adopt(self) -> None:
        """Take over an existing file (``--append``): later writes replace it atomically."""
        if not self.path.is_file():
            raise StorageError(f"{self.path} does not exist; nothing to append to")
        self._created = True

    def write(self, benchmarks: list[pyperf.Benchmark]) -> None:
        if not self._created:
            raise StorageError("result file written before it was claimed")
        if not benchmarks:
            return
        suite = pyperf.BenchmarkSuite(benchmarks)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.close(fd)
        try:
            suite.dump(tmp, compact=False, replace=True)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def discard_if_empty(self) -> None:
        """Remove the placeholder when no cell produced a result."""
        if self._created and self.path.exists() and self.path.stat().st_size == 0:
            self.path.unlink()
