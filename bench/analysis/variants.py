"""What each variant changes against its base model: one statement per variant, over the rows
where both were measured ("asyncio[loop=uvloop] against asyncio: pingpong rounds=2000 1.31x
faster, ..."); a GIL-on twin against its model with the GIL off ("threads[executor=pool,gil=on]
against threads[executor=pool]").

A ratio is the variant's value per operation over its base's. For cells measured in rounds it
is paired: the geometric mean over the rounds both ran of the ratio of their run means
(``bench.analysis.paired``), so a drift of the machine between the two cells cancels; its 95%
interval decides whether the statement says "no clear difference". Cells without shared rounds
(older files, memory cells) are compared by their means, with no interval.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.analysis import findings, paired
from bench.analysis.findings import Finding, Row
from bench.results.schema import Entry, ResultSet
from bench.spec.models import gil_off_of, is_gil_on_twin
from bench.spec.workloads import Memory

TOPIC = "variants"
# What a statement says when the paired interval contains 1.
SAME = "no clear difference"


@dataclass(frozen=True)
class VariantChange:
    row: Row
    ratio: float  # variant over base, per operation (time or bytes)
    interval: tuple[float, float] | None
    variant_value: str
    base_value: str


def _ratio(variant: Entry, base: Entry) -> tuple[float, tuple[float, float] | None] | None:
    try:
        ratio, _ = paired.paired_ratio(paired.round_means(variant), paired.round_means(base))
    except ValueError:  # a repeated round or a mean that is not positive
        ratio = None
    if ratio is not None:
        return ratio.value, ratio.interval
    if variant.mean > 0 and base.mean > 0:
        return variant.mean / base.mean, None
    return None


def changes(result: ResultSet) -> dict[tuple[str, str], list[VariantChange]]:
    """(variant, base) -> its change in every row where both were measured, in row order."""
    found: dict[tuple[str, str], list[VariantChange]] = {}
    cells = findings.grid(result)
    for row in findings.rows([result]):
        models = {model: entry for (r, model), entry in cells.items() if r == row}
        for model, entry in models.items():
            facts = entry.model_facts
            # A GIL-on twin against the same model with the GIL off: what the GIL changes.
            base_name = gil_off_of(model) if is_gil_on_twin(model) else facts.base
            base = models.get(base_name)
            if not facts.variant or base is None or base_name == model:
                continue
            ratio = _ratio(entry, base)
            if ratio is None:
                continue
            shown = findings.show_entry(entry), findings.show_entry(base)
            change = VariantChange(row, ratio[0], ratio[1], *shown)
            found.setdefault((model, base_name), []).append(change)
    return found


def change_text(change: VariantChange) -> str:
    """ "pingpong rounds=2000 1.31x faster (3.42 µs against 4.49 µs)"; for memory "less" and
    "more"; "no clear difference" when the paired interval contains 1."""
    label = change.row.label
    values = f"({change.variant_value} against {change.base_value})"
    if change.interval is not None and change.interval[0] <= 1 <= change.interval[1]:
        return f"{label} {SAME} {values}"
    memory = change.row.workload == Memory.workload
    if change.ratio <= 1:
        word = "less memory" if memory else "faster"
        return f"{label} {findings.times(1 / change.ratio)} {word} {values}"
    word = "more memory" if memory else "slower"
    return f"{label} {findings.times(change.ratio)} {word} {values}"


def variant_findings(result: ResultSet) -> list[Finding]:
    return [
        Finding(TOPIC, f"{variant} against {base}: " + "; ".join(map(change_text, found)) + ".")
        for (variant, base), found in changes(result).items()
    ]
