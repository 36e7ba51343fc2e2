"""Cell names, ``workload[params]/model``: one function builds them, one parses them, and the
two are each other's inverse, also for a variant's model name ``base[k=v,...]``."""

from __future__ import annotations

import pytest

from bench.spec.cellnames import CellName, CellNameError, cell_name, parse_cell_name
from bench.spec.models import model_name, split_model_name
from bench.spec.workloads import SMOKE_MATRIX, Spec

VARIANTS = ("", "loop=uvloop", "executor=pool", "start=forkserver,switch_interval=0.001")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("spec", [spec for spec, _scope in SMOKE_MATRIX], ids=str)
def test_a_cell_name_round_trips_with_and_without_a_variant(variant: str, spec: Spec) -> None:
    workload, params = spec.workload, spec.params
    model = model_name("asyncio", variant)
    name = cell_name(workload, params, model)
    parsed = parse_cell_name(name)
    assert parsed == CellName(workload, params, model) and str(parsed) == name
    assert split_model_name(parsed.model) == ("asyncio", variant)


def test_a_variant_cell_name_reads_as_documented() -> None:
    name = cell_name("pingpong", "rounds=2000", model_name("asyncio", "loop=uvloop"))
    assert name == "pingpong[rounds=2000]/asyncio[loop=uvloop]"
    assert parse_cell_name(name).model == "asyncio[loop=uvloop]"


@pytest.mark.parametrize(
    "name",
    [
        "pingpong/asyncio",
        "pingpong[rounds=5]",
        "pingpong[rounds=5]/",
        "pingpong[rounds=5]asyncio",
        "[rounds=5]/asyncio",
        "pingpong[rounds=5]/asyncio[loop=uvloop",
        "pingpong[rounds=5]/asyncio[]",
        "pingpong[rounds=5]/asyncio[a=b]/threads",
        "pingpong[rounds=[5]]/asyncio",
    ],
)
def test_what_is_not_a_cell_name_is_refused_in_one_line(name: str) -> None:
    with pytest.raises(CellNameError, match="malformed cell name") as raised:
        parse_cell_name(name)
    assert "\n" not in str(raised.value)
