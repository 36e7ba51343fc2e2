"""The name of a cell, ``workload[params]/model``: built and parsed here only.

``params`` is the spec's canonical ``k=v,...`` string; ``model`` is a model's full name, which
for a variant is itself ``base[k=v,...]`` (``bench.spec.models.model_name``), e.g.
``pingpong[rounds=2000]/asyncio[loop=uvloop]``. The name is what result files, the runner's
cell processes and ``--resume`` match cells by, so building and parsing are each other's
inverse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The name up to the first "]/" is the workload and its params: a spec's params hold no
# brackets, so the model's own brackets (a variant's) cannot be mistaken for them.
_CELL = re.compile(r"(?P<workload>\w+)\[(?P<params>[^\[\]]*)\]/(?P<model>.+)", re.ASCII)
_MODEL = re.compile(r"\w+(\[[^\[\]/]+\])?", re.ASCII)


class CellNameError(ValueError):
    """A string is not a cell name; the message quotes it."""


@dataclass(frozen=True)
class CellName:
    workload: str
    params: str
    model: str

    def __str__(self) -> str:
        return cell_name(self.workload, self.params, self.model)


def cell_name(workload: str, params: str, model: str) -> str:
    """``workload[params]/model``."""
    return f"{workload}[{params}]/{model}"


def parse_cell_name(name: str) -> CellName:
    """The parts of ``workload[params]/model`` (the inverse of ``cell_name``); the model may be
    a variant's name. Whether the workload and model exist is the caller's question."""
    found = _CELL.fullmatch(name)
    if found is None or not _MODEL.fullmatch(found["model"]):
        raise CellNameError(
            f"malformed cell name {name!r}: expected workload[params]/model, e.g. "
            "pingpong[rounds=2000]/asyncio or pingpong[rounds=2000]/asyncio[loop=uvloop]"
        )
    return CellName(found["workload"], found["params"], found["model"])
