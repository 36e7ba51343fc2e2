"""The run's progress: the current cell, the cells done and left, and the time left.

Written by the runner the user started, at cell boundaries only: it sleeps in one blocking
wait while a cell runs (``runners.supervisor``), and a timer waking it to redraw a line would
land in measured regions. On a terminal the line redraws itself in place in the bottom row,
which the runner keeps for it (a scrolling region above it holds everything else, the cells'
own output included); elsewhere (CI logs, tests) it is one plain line per cell start, without
carriage returns or escape codes.

The estimate of the time left is, for each cell still to run, the mean duration of the cells of
its workload measured so far, or of every cell measured so far when none of its workload was;
before the first cell ends there is none.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from typing import TextIO

# Erase to the end of the line; move up one line; save and restore the cursor (ANSI/DEC
# sequences, which every terminal emulator of today follows).
CLEAR_LINE = "\x1b[K"
UP = "\x1b[1A"
SAVE = "\x1b7"
RESTORE = "\x1b8"
MIN_ROWS = 3
NO_ESTIMATE = "no estimate yet"


class Eta:
    """Cell durations by workload, and the time the cells left should take."""

    def __init__(self) -> None:
        self.durations: dict[str, list[float]] = {}

    def add(self, workload: str, seconds: float) -> None:
        self.durations.setdefault(workload, []).append(seconds)

    def seconds_left(self, workloads: Sequence[str]) -> float | None:
        """The estimated time of cells of these workloads; None when no cell has ended yet."""
        every = [seconds for durations in self.durations.values() for seconds in durations]
        if not every:
            return None
        overall = statistics.fmean(every)
        means = {workload: statistics.fmean(d) for workload, d in self.durations.items()}
        return sum(means.get(workload, overall) for workload in workloads)


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return NO_ESTIMATE
    if seconds < 60:
        return f"about {max(round(seconds), 1)} s left"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"about {hours} h {minutes:02d} min left"
        if hours
        else f"about {minutes} min {rest:02d} s left"
    )


class Progress:
    """The progress of a run of ``cells`` (name, workload) in this order. ``size``: the
    terminal's columns and rows (read from the terminal when not given)."""

    def __init__(
        self,
        cells: Sequence[tuple[str, str]],
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
        size: tuple[int, int] | None = None,
    ) -> None:
        self.cells = list(cells)
        self.stream = stream
        self.clock = clock
        self.columns, self.rows = size or tuple(shutil.get_terminal_size())
        # Too few rows to keep one for the progress: plain lines there too.
        self.terminal = stream.isatty() and self.rows >= MIN_ROWS
        self.eta = Eta()
        self.index = -1
        self.started: float | None = None
        self._reserved = False

    def line(self) -> str:
        """ "[3/24] NAME (2 done, 21 after it; about 1 min 10 s left)": the estimate counts
        the current cell."""
        name, _ = self.cells[self.index]
        done, total = self.index, len(self.cells)
        left = [workload for _, workload in self.cells[self.index :]]
        eta = eta_text(self.eta.seconds_left(left))
        return f"[{done + 1}/{total}] {name} ({done} done, {total - done - 1} after it; {eta})"

    def start(self, index: int) -> None:
        """Cell ``index`` starts (a sweep may skip it at once: then ``end`` is not called)."""
        self.index, self.started = index, self.clock()
        if self.terminal:
            self._draw(self.line()[: self.columns - 1])
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def detail(self, text: str) -> None:
        """On a terminal, the current line with ``text`` after it (a row's latest round);
        elsewhere nothing: the runner prints the row's last round once it ends."""
        if self.terminal and self.index >= 0:
            self._draw(f"{self.line()} · {text}"[: self.columns - 1])
            self.stream.flush()

    def end(self) -> None:
        """The current cell has ended (measured, failed or skipped by its process)."""
        if self.started is not None:
            self.eta.add(self.cells[self.index][1], self.clock() - self.started)
        self.started = None

    def _draw(self, text: str) -> None:
        if not self._reserved:
            # Keep the bottom row for the progress, as apt does: everything printed (the cells'
            # own lines too, however many) scrolls in the rows above it. A new line first, so
            # that the cursor is above the bottom row once it moves up.
            self.stream.write(f"\n{SAVE}\x1b[1;{self.rows - 1}r{RESTORE}{UP}")
            self._reserved = True
        self.stream.write(f"{SAVE}\x1b[{self.rows};1H{CLEAR_LINE}{text}{RESTORE}")

    def close(self) -> None:
        """Give the bottom row back, empty (on a terminal); call it whatever ends the run."""
        if self._reserved:
            self.stream.write(f"{SAVE}\x1b[r\x1b[{self.rows};1H{CLEAR_LINE}{RESTORE}")
            self.stream.flush()
            self._reserved = False
