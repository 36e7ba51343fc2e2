"""The progress line: the estimate of the time left, and its two renderings (a terminal's line
redrawn in place, plain lines elsewhere), on a fake clock and fake streams."""

from __future__ import annotations

import io

import pytest

from runners.progress import CLEAR_LINE, NO_ESTIMATE, RESTORE, SAVE, Eta, Progress, eta_text


class FakeStream(io.StringIO):
    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


CELLS = [
    ("pingpong[rounds=5]/serial", "pingpong"),
    ("pingpong[rounds=5]/threads", "pingpong"),
    ("memory[tasks=5]/threads", "memory"),
    ("spawn[tasks=5]/threads", "spawn"),
]


def test_the_estimate_is_the_mean_duration_of_each_workload_measured_so_far() -> None:
    eta = Eta()
    assert eta.seconds_left(["pingpong"]) is None
    eta.add("pingpong", 2.0)
    eta.add("pingpong", 4.0)
    eta.add("memory", 10.0)
    # pingpong 3 s each, memory 10 s, spawn (none measured yet) the mean of every cell: 16 / 3
    assert eta.seconds_left(["pingpong", "pingpong", "memory", "spawn"]) == pytest.approx(
        3 + 3 + 10 + 16 / 3
    )
    assert eta.seconds_left([]) == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, NO_ESTIMATE),
        (0.2, "about 1 s left"),
        (42.4, "about 42 s left"),
        (130.0, "about 2 min 10 s left"),
        (3 * 3600 + 5 * 60, "about 3 h 05 min left"),
    ],
)
def test_eta_text(seconds: float | None, text: str) -> None:
    assert eta_text(seconds) == text


def _run(stream: FakeStream) -> None:
    clock = FakeClock()
    progress = Progress(CELLS, stream, clock=clock, size=(80, 24))
    for index, seconds in enumerate((2.0, 4.0, 10.0)):
        progress.start(index)
        clock.now += seconds
        progress.end()
    progress.start(3)
    progress.close()


def test_without_a_terminal_each_cell_start_is_a_plain_line() -> None:
    stream = FakeStream(terminal=False)
    _run(stream)
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert text.splitlines() == [
        f"[1/4] pingpong[rounds=5]/serial (0 done, 3 after it; {NO_ESTIMATE})",
        # one cell measured, 2 s: the three left (memory and spawn unmeasured) at 2 s each
        "[2/4] pingpong[rounds=5]/threads (1 done, 2 after it; about 6 s left)",
        # no pingpong cell left; memory and spawn unmeasured: the mean of every cell, 3 s
        "[3/4] memory[tasks=5]/threads (2 done, 1 after it; about 6 s left)",
        # spawn unmeasured: the mean of every cell, (2 + 4 + 10) / 3
        "[4/4] spawn[tasks=5]/threads (3 done, 0 after it; about 5 s left)",
    ]


def test_on_a_terminal_the_bottom_row_is_kept_for_the_line_and_given_back() -> None:
    stream = FakeStream(terminal=True)
    progress = Progress(CELLS, stream, clock=FakeClock(), size=(30, 24))
    progress.start(0)
    first = stream.getvalue()
    # rows 1 to 23 scroll; the line is drawn in row 24, cut to the width, the cursor restored
    assert first.startswith(f"\n{SAVE}\x1b[1;23r{RESTORE}")
    assert first.endswith(f"{SAVE}\x1b[24;1H{CLEAR_LINE}[1/4] pingpong[rounds=5]/seri{RESTORE}")
    progress.end()
    progress.start(1)
    second = stream.getvalue()[len(first) :]
    assert second == f"{SAVE}\x1b[24;1H{CLEAR_LINE}[2/4] pingpong[rounds=5]/thre{RESTORE}"
    assert "\n" not in second  # redrawn in place
    progress.close()
    closing = stream.getvalue()[len(first) + len(second) :]
    assert closing == f"{SAVE}\x1b[r\x1b[24;1H{CLEAR_LINE}{RESTORE}"  # the whole screen scrolls
    progress.close()  # once only
    assert stream.getvalue().endswith(closing) and stream.getvalue().count("\x1b[r") == 1


def test_a_terminal_too_small_for_a_kept_row_gets_plain_lines() -> None:
    stream = FakeStream(terminal=True)
    progress = Progress(CELLS, stream, clock=FakeClock(), size=(80, 2))
    progress.start(0)
    progress.close()
    assert (
        stream.getvalue()
        == f"[1/4] pingpong[rounds=5]/serial (0 done, 3 after it; {NO_ESTIMATE})\n"
    )
