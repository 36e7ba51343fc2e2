"""Which cells a run measures, in which order: the matrix's specs for the chosen models.

Above the registry's models and the measuring layer's cells: it orders models by their
records (``ModelRecord.order``, each variant right after its base model) and reads from each
model which workloads it supports and whether it is lightweight.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bench.measure.cells import Cell
from bench.spec.models import Model
from bench.spec.workloads import DEFAULT_MATRIX, Spec


def order_models(models: Iterable[Model]) -> list[Model]:
    """The models in table order: by their records' order, a variant right after its base (then
    its base's other variants, in declaration order)."""
    return sorted(models, key=lambda model: (model.record.order, model.base, model.position))


def plan(
    models: Iterable[Model],
    workloads: Sequence[str],
    matrix: tuple[tuple[Spec, str], ...] = DEFAULT_MATRIX,
) -> list[Cell]:
    """Cells of the matrix for these models and workloads, workload-major, in matrix order.

    A matrix entry's scope says which models run it: "all", only the models that declare
    themselves ``lightweight``, only the others ("heavyweight"), or the serial baseline and
    the models that can run CPU work on several cores ("parallel"). In the default matrix a model
    runs only the workloads its record or variant chooses (``default_matrix``).
    """
    ordered = order_models(models)
    cells = []
    for spec, scope in matrix:
        if spec.workload not in workloads:
            continue
        for model in ordered:
            if not model.supports(spec.workload):
                continue
            if matrix is DEFAULT_MATRIX and not model.in_default_matrix(spec.workload, spec.params):
                continue
            if scope == "lightweight" and not model.lightweight:
                continue
            if scope == "heavyweight" and model.lightweight:
                continue
            if scope == "parallel" and not (model.record.baseline or model.parallel != "never"):
                continue
            cells.append(Cell(model, spec))
    return cells
