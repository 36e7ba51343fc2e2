"""Workload facts live on the spec classes: no module outside the specs and the models names a
workload in a string literal, and the facts the other layers read are complete and consistent."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from bench.measure import latency
from bench.spec.workloads import (
    LATENCY_WORKLOADS,
    SPECS,
    TIME_SWEEP_WORKLOADS,
    TIMED_WORKLOADS,
    FanOut,
    ProducerConsumer,
    workload_facts,
)

ROOT = Path(__file__).resolve().parent.parent
SEARCHED = ("bench", "runners", "scripts")
# Where workload names belong: the specs define them, each model implements them by name.
EXEMPT = ("bench/spec/", "bench/models/")
# Literals that spell a workload's name but mean something else, each with what it means.
ALLOWED = {
    ("bench/analysis/comparison.py", "memory"): "the quantity a byte unit measures",
    ("runners/probe_passes.py", "memory"): "the kind of probe that measures bytes",
    ("runners/cell_process.py", "memory"): "the kind of probe that measures bytes",
}


def workload_literals(source: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, literal) of every string constant of ``source`` equal to one of ``names``."""
    return [
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
    ]


def _modules() -> list[Path]:
    return sorted(path for top in SEARCHED for path in (ROOT / top).rglob("*.py"))


def test_no_module_outside_the_specs_and_models_names_a_workload_in_a_literal() -> None:
    names = set(SPECS)
    found, allowed_seen = [], set()
    for path in _modules():
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(EXEMPT):
            continue
        for line, literal in workload_literals(path.read_text(encoding="utf-8"), names):
            if (relative, literal) in ALLOWED:
                allowed_seen.add((relative, literal))
            else:
                found.append(f"{relative}:{line}: {literal!r}")
    assert found == [], "read the workload's facts or its spec class instead:\n" + "\n".join(found)
    # An exception that no longer occurs is dropped from the list, so the list stays short.
    assert allowed_seen == set(ALLOWED)


def test_the_literal_check_flags_a_workload_name_and_nothing_else() -> None:
    source = (
        '"""A docstring about pingpong is prose."""\n'
        'KIND = "fan_out"\n'
        "def f(w):\n"
        '    return w == "producer_consumer" or w.startswith("pingpong_")\n'
    )
    assert workload_literals(source, set(SPECS)) == [(2, "fan_out"), (4, "producer_consumer")]


@pytest.mark.parametrize("workload", list(SPECS))
def test_every_workload_declares_consistent_facts(workload: str) -> None:
    spec_class = SPECS[workload]
    facts = spec_class.facts
    assert workload_facts(workload) is facts
    fields = {field.name: field for field in dataclasses.fields(spec_class)}
    for name in facts.size_parameters:
        assert fields[name].type in ("int", int), f"{workload}: a size must be an integer field"
    assert facts.operation and facts.operations and facts.value and facts.column
    # Every field a row label shows is one of the spec's fields, and the label names them all
    # (a size omitted from a sweep's label must be one the label shows).
    shown = [name for name, _text in spec_class().short_parts()]
    assert set(shown) <= set(fields)
    assert set(facts.size_parameters) <= set(shown)


def test_the_derived_workload_lists_follow_the_facts() -> None:
    assert tuple(w for w in SPECS if latency.supports(w)) == LATENCY_WORKLOADS
    assert set(TIMED_WORKLOADS) == {w for w, cls in SPECS.items() if cls.unit == "second"}
    assert set(TIME_SWEEP_WORKLOADS) <= set(TIMED_WORKLOADS)
    assert all(SPECS[w].facts.size_parameters for w in TIME_SWEEP_WORKLOADS)
    assert workload_facts("no_such_workload") is None and workload_facts(None) is None


def test_a_throughput_is_shown_as_a_rate_of_its_operations() -> None:
    assert ProducerConsumer.show(1e-6) == "1.00 M items/s"
    assert FanOut.show(1e-6) == "1.00 µs"
    assert ProducerConsumer(producers=4, consumers=4).short_params(
        omit=ProducerConsumer.facts.size_parameters
    ) == ("Q=64 M=4000 no work")


def test_the_ideal_makespan_is_a_method_of_the_fan_out_spec() -> None:
    spec = FanOut(tasks=10, work="sleep", delay_ms=2.0)
    assert spec.bound(10).ideal == pytest.approx(0.002)
    assert spec.bound(3).ideal == pytest.approx(0.008) and spec.bound(3).workers == 3
    assert spec.bound(1).text.startswith("N x D = 10 x 2 ms = 20 ms")
    assert FanOut(tasks=10, work="cpu").bound(10).ideal is None
