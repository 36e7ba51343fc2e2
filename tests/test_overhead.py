"""runners.overhead: the gate, the alternation and bad input, with the timings replaced (no
timed assertions); the bare loops only run, at tiny sizes."""

from __future__ import annotations

import math

import pytest

from runners import overhead


@pytest.mark.parametrize("model", overhead.BARE_LOOPS)
def test_every_bare_loop_runs_and_returns_a_time_per_switch(model: str) -> None:
    if model in ("greenlet", "gevent"):
        pytest.importorskip(model)
    seconds = overhead.BARE_LOOPS[model](10)
    assert math.isfinite(seconds) and seconds >= 0


def test_measure_alternates_bare_loop_and_suite_and_keeps_the_best_of_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    bare_times = iter([3.0, 1.0, 2.0])
    suite_times = iter([5.0, 6.0, 4.0])

    def bare(rounds: int) -> float:
        calls.append(f"bare {rounds}")
        return next(bare_times)

    def suite(model: str, rounds: int) -> float:
        calls.append(f"suite {rounds}")
        return next(suite_times)

    monkeypatch.setitem(overhead.BARE_LOOPS, "generators", bare)
    monkeypatch.setattr(overhead, "_suite", suite)
    assert overhead.measure("generators", 4000, 3) == (1.0, 4.0)
    assert calls == ["bare 4000", "suite 4000"] * 3


def _fake_ratios(monkeypatch: pytest.MonkeyPatch, ratios: dict[str, float]) -> None:
    def measure(model: str, rounds: int, repeat: int) -> tuple[float, float]:
        return 1e-7, 1e-7 * ratios.get(model, 1.0)

    monkeypatch.setattr(overhead, "measure", measure)


def test_a_gated_model_above_its_limit_fails_and_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("greenlet", reason="the gate under test is greenlet's")
    _fake_ratios(monkeypatch, {"generators": 1.14, "greenlet": 1.12, "threads": 3.0})
    assert overhead.main([]) == 1
    out, err = capsys.readouterr()
    assert err == "overhead: greenlet: the suite's switch is 1.12x the bare one, above 1.10\n"
    assert "ratio 1.14 (limit 1.15; best of 7 x 500,000 rounds)" in out
    assert "ratio 3.00 (no limit; best of 7 x 20,000 rounds)" in out


def test_ratios_within_the_limits_pass_and_other_models_can_be_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_ratios(monkeypatch, {"generators": 1.15, "greenlet": 0.98})
    assert overhead.main(["--other-rounds", "0", "--repeat", "2"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert [line.split()[0] for line in out.splitlines()] == ["generators", "greenlet"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rounds", "1999"], "argument --rounds: must be an integer from 2,000, got '1999'"),
        (["--repeat", "0"], "argument --repeat: must be an integer from 1, got '0'"),
        (["--other-rounds", "many"], "argument --other-rounds: must be an integer from 0, got"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        overhead.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
