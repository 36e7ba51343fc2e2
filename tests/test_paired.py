"""Within-row ratios from paired rounds (``bench.analysis.paired``) and where the summary and the
report show them, on tiny hand-made entries whose runs carry round metadata."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pyperf
import pytest

from bench.analysis import paired
from bench.render.terminal import render_all
from bench.results import schema
from bench.results.schema import Entry, Run
from bench.spec.cellnames import cell_name
from bench.spec.precision import t_quantile_975
from tests.result_sets import PC_1X1, PINGPONG, make_entry, make_set

DATA = Path(__file__).resolve().parent / "data"
X = paired.TIMES
# How much a whole round is slowed by the machine: every cell of the round alike.
DRIFT = {1: 1.0, 2: 1.4, 3: 0.8, 4: 1.25, 5: 0.9, 6: 1.3}
# What differs between two cells of one round besides the drift: a little.
NOISE = {1: 1.01, 2: 0.99, 3: 1.005, 4: 0.995, 5: 1.0, 6: 1.002}
NOISE_FLAT = dict.fromkeys(DRIFT, 1.0)


def rounds_entry(
    model: str,
    means: Mapping[int, float],
    *,
    workload: str = "pingpong",
    params: str = PINGPONG,
    session: str = "a1b2c3d4",
    **metadata: object,
) -> Entry:
    """A cell with one run per round, each of three values around that round's mean."""
    runs = tuple(
        Run(
            (mean * 0.999, mean, mean * 1.001),
            MappingProxyType({"round": number, "round_position": 0, "rounds_session": session}),
        )
        for number, mean in means.items()
    )
    entry = make_entry(workload, params, model, [v for run in runs for v in run.values], **metadata)
    return replace(entry, runs=runs)


def drifting(
    model: str,
    factor: float,
    noise: Mapping[int, float] = NOISE,
    *,
    workload: str = "pingpong",
    params: str = PINGPONG,
) -> Entry:
    """A cell measured in every round of ``DRIFT``: ``factor`` x the round's drift x noise."""
    means = {number: factor * drift * noise[number] for number, drift in DRIFT.items()}
    return rounds_entry(model, means, workload=workload, params=params)


def only_row(entries: list[Entry]) -> paired.RowRatios:
    (row,) = paired.row_ratios(entries)
    return row


def cell(row: paired.RowRatios, model: str) -> paired.CellRatio:
    return next(found for found in row.cells if found.model == model)


# --- the numbers ------------------------------------------------------------------------------


def test_paired_ratio_is_the_geometric_mean_of_round_ratios_with_a_t_interval() -> None:
    reference = rounds_entry("serial", {1: 1.0, 2: 2.0, 3: 4.0})
    threads = rounds_entry("threads", {1: 2.0, 2: 3.0, 3: 8.0})
    found = cell(only_row([reference, threads]), "threads")
    logs = [math.log(2.0), math.log(1.5), math.log(2.0)]
    centre = statistics.fmean(logs)
    half = 4.303 * statistics.stdev(logs) / math.sqrt(3)  # Student's t, 2 degrees of freedom
    assert found.rounds == 3
    assert found.paired is not None
    assert found.paired.value == pytest.approx(math.exp(centre))
    assert found.paired.interval == pytest.approx(
        (math.exp(centre - half), math.exp(centre + half))
    )


def test_unpaired_ratio_is_the_ratio_of_means_with_welch_interval() -> None:
    reference = rounds_entry("serial", {1: 1.0, 2: 2.0, 3: 3.0})
    threads = rounds_entry("threads", {1: 4.0, 2: 4.0, 3: 7.0})
    found = cell(only_row([reference, threads]), "threads")
    # relative squared standard errors: variance / n / mean^2
    a, b = 3.0 / 3 / 5.0**2, 1.0 / 3 / 2.0**2
    degrees = math.floor((a + b) ** 2 / (a**2 / 2 + b**2 / 2))
    half = t_quantile_975(degrees) * math.sqrt(a + b)
    assert found.unpaired is not None
    assert found.unpaired.value == pytest.approx(2.5)
    assert found.unpaired.interval == pytest.approx((2.5 * math.exp(-half), 2.5 * math.exp(half)))


def test_pairing_uses_only_the_rounds_both_cells_ran() -> None:
    # the reference's rounds 1 and 5 and the cell's round 7 have no partner: were they paired,
    # the ratio would move far from 3
    reference = rounds_entry("serial", {1: 100.0, 2: 1.0, 3: 2.0, 4: 1.5, 5: 0.01})
    threads = rounds_entry("threads", {2: 3.0, 3: 6.0, 4: 4.5, 7: 1000.0})
    found = cell(only_row([reference, threads]), "threads")
    assert found.rounds == 3
    assert found.paired is not None
    assert found.paired.value == pytest.approx(3.0)
    assert found.paired.interval == pytest.approx((3.0, 3.0))


def test_runs_of_another_session_are_never_paired() -> None:
    # the same round numbers, appended from another run of the runner
    reference = rounds_entry("serial", {1: 1.0, 2: 1.0}, session="first")
    threads = rounds_entry("threads", {1: 2.0, 2: 2.0}, session="second")
    row = only_row([reference, threads])
    assert not row.paired
    assert cell(row, "threads").why_not_paired == "no round shared with the reference"


def test_a_drift_common_to_a_round_cancels_in_the_paired_ratio() -> None:
    found = cell(
        only_row([drifting("serial", 1e-6), drifting("threads", 2e-6, NOISE_FLAT)]), "threads"
    )
    assert found.paired is not None and found.paired.interval is not None
    assert found.unpaired is not None and found.unpaired.interval is not None
    low, high = found.paired.interval
    assert low < 2.0 < high
    paired_width, unpaired_width = found.paired.half_width, found.unpaired.half_width
    assert paired_width is not None and unpaired_width is not None
    # the point of interleaving: the drift widens the unpaired interval, not the paired one
    assert paired_width < 0.02 and unpaired_width > 0.1


def test_the_narrowing_comes_from_the_pairing_itself() -> None:
    # The same values with the cell's round numbers reversed: each run is now paired with a
    # run of another time. Were the narrowing not due to pairing runs measured side by side,
    # it would survive this; it does not.
    serial = drifting("serial", 1e-6)
    honest = cell(only_row([serial, drifting("threads", 2e-6)]), "threads")
    reversed_rounds = dict(zip(DRIFT, reversed(DRIFT.values()), strict=True))
    mislabelled = rounds_entry("threads", {r: 2e-6 * reversed_rounds[r] * NOISE[r] for r in DRIFT})
    broken = cell(only_row([serial, mislabelled]), "threads")
    widths = [
        (found.paired.half_width, found.unpaired.half_width)
        for found in (honest, broken)
        if found.paired is not None and found.unpaired is not None
    ]
    (honest_paired, honest_unpaired), (broken_paired, broken_unpaired) = widths
    assert honest_paired is not None and honest_unpaired is not None
    assert broken_paired is not None and broken_unpaired is not None
    assert honest_paired < honest_unpaired
    assert broken_paired > broken_unpaired


def test_one_pair_gives_an_estimate_and_no_interval() -> None:
    row = only_row([rounds_entry("serial", {1: 1.0, 2: 1.1}), rounds_entry("threads", {2: 3.3})])
    found = cell(row, "threads")
    assert found.rounds == 1
    assert found.paired is not None and found.paired.interval is None
    assert found.paired.value == pytest.approx(3.0)
    assert paired.paired_text(found) == f"3.00{X}, no interval"
    # one run of the cell: no unpaired interval either
    assert found.unpaired is not None and found.unpaired.interval is None


def test_a_round_that_occurs_twice_in_a_cell_pairs_nothing() -> None:
    reference = rounds_entry("serial", {1: 1.0, 2: 1.0})
    threads = rounds_entry("threads", {1: 2.0, 2: 2.0})
    twice = replace(threads, runs=(*threads.runs, threads.runs[1]))
    found = cell(only_row([reference, twice]), "threads")
    assert found.paired is None and found.rounds == 0
    assert found.why_not_paired == "round 2 occurs in two of its runs"


def test_the_reference_is_the_baseline_else_the_first_model_in_order() -> None:
    means = {1: 1.0, 2: 1.1}
    with_serial = [rounds_entry(m, means) for m in ("asyncio", "threads", "serial")]
    assert only_row(with_serial).reference == "serial"
    # serial is first in order anyway: a baseline declared by its facts wins over the order
    declared = rounds_entry("mine", means, model_order=99, model_baseline=1)
    assert only_row([*with_serial[:2], declared]).reference == "mine"
    assert only_row(with_serial[:2]).reference == "threads"  # order 20 before asyncio's 30
    moved = rounds_entry("asyncio", means, model_order=5)
    assert only_row([moved, with_serial[1]]).reference == "asyncio"
    assert [c.model for c in only_row(with_serial).cells] == ["threads", "asyncio"]


def test_entries_without_rounds_have_no_paired_row() -> None:
    old = [make_entry("pingpong", PINGPONG, m, [1e-6, 1.1e-6]) for m in ("serial", "threads")]
    assert paired.paired_rows(old) == []
    assert only_row(old).cells[0].why_not_paired == "no round shared with the reference"
    (result,) = schema.load_all([DATA / "py311.json"])
    assert paired.paired_rows(result.entries) == []
    assert paired.ratio_table([result]) is None


def pyperf_entry(model: str, means: Mapping[int, float]) -> Entry:
    """A cell as the runner gets it from pyperf: one pyperf run per round."""
    cell = {"name": cell_name("pingpong", PINGPONG, model), "unit": "second", "model": model,
            "workload": "pingpong", "params": PINGPONG, "rounds_session": "a1b2c3d4"}  # fmt: skip
    runs = [
        pyperf.Run(
            [mean, mean * 1.001],
            metadata={**cell, "round": number, "round_position": number % 2},
            collect_metadata=False,
        )
        for number, mean in means.items()
    ]
    return Entry.from_pyperf(pyperf.Benchmark(runs))


def test_pairing_survives_pyperf_and_the_result_file(tmp_path: Path) -> None:
    entries = [
        pyperf_entry("serial", {r: 1e-6 * d for r, d in DRIFT.items()}),
        pyperf_entry("threads", {r: 2e-6 * d * NOISE[r] for r, d in DRIFT.items()}),
        pyperf_entry("asyncio", {3: 1.6e-6}),
    ]
    # metadata every run shares moves to the benchmark's: the session always, and the round
    # of a cell of one run
    assert "round" in entries[2].metadata and "round" not in entries[2].runs[0].metadata
    assert "rounds_session" in entries[0].metadata
    path = tmp_path / "rounds.json"
    path.write_text(schema.dumps(schema.document(entries)))
    loaded = schema.load(path)
    assert paired.row_ratios(loaded.entries) == paired.row_ratios(entries)
    row = only_row(list(loaded.entries))
    assert cell(row, "threads").rounds == 6 and cell(row, "asyncio").rounds == 1
    threads = cell(row, "threads").paired
    assert threads is not None and threads.value == pytest.approx(2.0, rel=0.01)


@pytest.mark.parametrize(
    ("ratio", "text"),
    [
        (paired.Ratio(1.234, (1.2, 1.27)), f"1.23{X} [1.20\N{EN DASH}1.27]"),
        (paired.Ratio(190.4, (185.0, 1234.0)), f"190{X} [185\N{EN DASH}1,230]"),
        (paired.Ratio(0.02131, (0.0201, 0.0225)), f"0.0213{X} [0.0201\N{EN DASH}0.0225]"),
        # ends that would print like the estimate get more digits
        (paired.Ratio(1.0004, (0.9991, 1.0017)), f"1.000{X} [0.9991\N{EN DASH}1.002]"),
        (paired.Ratio(2.0, (2.0, 2.0)), f"2.00{X} [2.00\N{EN DASH}2.00]"),
    ],
)
def test_ratio_text(ratio: paired.Ratio, text: str) -> None:
    assert paired.ratio_text(ratio) == text


# --- where they are shown ---------------------------------------------------------------------


def mixed_row_set() -> list[Entry]:
    """pingpong: serial, threads, asyncio (asyncio stopped after two rounds); producer_consumer
    without serial; and a fan_out row from before rounds."""
    return [
        drifting("serial", 1e-6, NOISE_FLAT),
        drifting("threads", 2e-6),
        rounds_entry("asyncio", {1: 4e-6, 2: 5.6e-6}),
        drifting("threads", 4e-5, NOISE_FLAT, workload="producer_consumer", params=PC_1X1),
        drifting("asyncio", 8e-6, workload="producer_consumer", params=PC_1X1),
        make_entry("spawn", "tasks=100", "serial", [1e-6, 1.1e-6]),
        make_entry("spawn", "tasks=100", "threads", [5e-5, 5.1e-5]),
    ]


def _section(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(paired.TITLE))
    return lines[start : lines.index("", start)]


def test_terminal_section_follows_the_means_table() -> None:
    text = render_all(mixed_row_set(), [])
    lines = text.splitlines()
    section = _section(text)
    means = lines.index(next(line for line in lines if line.startswith("Mean of all values")))
    assert lines.index(section[0]) > means
    assert lines[lines.index(section[0]) - 1] == ""
    assert lines.index(section[0]) < lines.index(
        next(line for line in lines if line.startswith("Precision"))
    )
    title = section[0]
    assert "time per operation over the reference's" in title and "> 1 is slower" in title
    assert (
        "for producer_consumer, shown in items/s, the reference's items/s over the model's" in title
    )
    assert "Student's t on the log ratios" in title
    table = section[1:]
    assert table[0].split() == ["cell", "reference", "model", f"{X}", "ref", "[95%]", "rounds",
                                "unpaired", "[95%]"]  # fmt: skip
    pingpong = [line for line in table if "threads" in line or "asyncio" in line]
    assert pingpong[0].startswith("pingpong rounds=2000")
    assert "serial" in pingpong[0] and f"2.00{X} [" in pingpong[0]
    # the row's second line leaves its label and reference blank
    assert pingpong[1].split()[:2] == ["asyncio", f"4.00{X}"]
    assert any(line.startswith("producer_consumer") and "asyncio" in line for line in table)
    assert not any(line.startswith("spawn") for line in table)  # no rounds: no ratio
    assert section[-1].startswith("Paired interval narrower than the unpaired one for 3 of 3")


def test_terminal_has_no_section_without_rounds() -> None:
    (result,) = schema.load_all([DATA / "py311.json"])
    assert paired.TITLE not in render_all(list(result.entries), list(result.gaps))


def test_report_pages_show_the_table_in_their_style() -> None:
    pytest.importorskip("matplotlib")
    from bench.render import htmlreport

    page = htmlreport.content([make_set(mixed_row_set())], title="rounds")
    titles = [table.title for table in page.tables]
    assert titles.index(paired.TITLE) == titles.index("Mean of all values") + 1
    table = page.tables[titles.index(paired.TITLE)]
    assert table.header == paired.HEADER
    assert table.anchor == "ratios" and "Paired interval narrower" in table.note
    assert table.rows[0][:3] == ("pingpong rounds=2000", "serial", "threads")
    html = htmlreport.render_html(page)
    assert 'id="ratios"' in html and f"2.00{X} [" in html
    assert f'<a href="#ratios">{paired.TITLE}</a>' in html
    summary = htmlreport.render_summary(page)
    assert f"### {paired.TITLE}" in summary
    lines = summary.splitlines()
    ratios = lines[lines.index(f"### {paired.TITLE}") :]
    line = next(line for line in ratios if line.startswith("| pingpong rounds=2000"))
    assert line.startswith(f"| pingpong rounds=2000 | serial | threads | 2.00{X} [")


def test_report_with_two_files_names_the_file_of_each_line() -> None:
    first, second = make_set(mixed_row_set(), "A"), make_set(mixed_row_set()[:2], "B")
    table = paired.ratio_table([first, second])
    assert table is not None
    assert table.header[:2] == ("cell", "file")
    assert [line[:4] for line in table.rows[:3]] == [
        ("pingpong rounds=2000", "A", "serial", "threads"),
        ("pingpong rounds=2000", "A", "serial", "asyncio"),
        ("pingpong rounds=2000", "B", "serial", "threads"),
    ]
