"""What each variant changes against its base model (``bench.analysis.variants``): statements
the README's findings and the report carry, from hand-made entries."""

from __future__ import annotations

from bench.analysis import variants
from bench.render import readmegen
from bench.results.schema import Entry
from tests.result_sets import PC_1X1, PINGPONG, X, around, make_entry, make_set
from tests.test_paired import DRIFT, NOISE, rounds_entry

UVLOOP = {"base_model": "asyncio", "variant": "loop=uvloop"}


def test_a_variant_is_stated_against_its_base_in_every_row_both_ran() -> None:
    entries = [
        make_entry("pingpong", PINGPONG, "asyncio", around(4e-6)),
        make_entry("pingpong", PINGPONG, "asyncio[loop=uvloop]", around(2e-6), **UVLOOP),
        make_entry("producer_consumer", PC_1X1, "asyncio", around(1e-5)),
        make_entry("producer_consumer", PC_1X1, "asyncio[loop=uvloop]", around(1.25e-5), **UVLOOP),
        # a row without the base: nothing to say there
        make_entry("memory", "tasks=10000", "asyncio[loop=uvloop]", around(1400.0), **UVLOOP),
        make_entry("pingpong", PINGPONG, "threads", around(5e-6)),
    ]
    (finding,) = variants.variant_findings(make_set(entries))
    assert finding.topic == variants.TOPIC
    assert finding.text.startswith("asyncio[loop=uvloop] against asyncio: pingpong")
    assert f"2.0{X} faster (2.00 µs against 4.00 µs)" in finding.text
    assert f"1.25{X} slower" in finding.text
    assert "memory" not in finding.text


def test_paired_rounds_cancel_a_drift_and_an_unclear_difference_is_said_so() -> None:
    # The base and the variant drift together from round to round: paired, the variant is
    # 1.5x the base with a tight interval, although their values overlap widely.
    base = _drifting("asyncio", 1.0, NOISE)
    slower = _drifting("asyncio[loop=uvloop]", 1.5, NOISE, **UVLOOP)
    ((change,),) = variants.changes(make_set([base, slower])).values()
    assert change.interval is not None and change.interval[0] > 1.4
    assert variants.change_text(change).startswith(f"pingpong rounds=2000 1.50{X} slower")
    # the same drift with no difference between the two: "no clear difference"
    same = _drifting("asyncio[loop=uvloop]", 1.0, dict.fromkeys(DRIFT, 1.0), **UVLOOP)
    noisy_base = _drifting("asyncio", 1.0, {n: 1.0 + (0.02 if n % 2 else -0.02) for n in DRIFT})
    ((unclear,),) = variants.changes(make_set([noisy_base, same])).values()
    assert variants.change_text(unclear).startswith(f"pingpong rounds=2000 {variants.SAME}")


def _drifting(model: str, factor: float, noise: dict[int, float], **metadata: str) -> Entry:
    """A cell in every round of ``DRIFT``: ``factor`` x the round's drift x ``noise``."""
    means = {number: factor * drift * noise[number] * 1e-6 for number, drift in DRIFT.items()}
    return rounds_entry(model, means, **metadata)


def test_the_readme_statements_carry_the_variants_under_their_own_title() -> None:
    entries = [
        make_entry("pingpong", PINGPONG, "asyncio", around(4e-6)),
        make_entry("pingpong", PINGPONG, "asyncio[loop=uvloop]", around(2e-6), **UVLOOP),
    ]
    text = readmegen.statements_section(make_set(entries))
    assert f"**{readmegen.TOPIC_TITLES[variants.TOPIC]}**" in text
    assert "- asyncio[loop=uvloop] against asyncio: pingpong rounds=2000" in text


def test_a_plain_model_is_never_its_own_variant() -> None:
    entries = [make_entry("pingpong", PINGPONG, "asyncio", around(4e-6), **{"variant": ""})]
    assert variants.variant_findings(make_set(entries)) == []
