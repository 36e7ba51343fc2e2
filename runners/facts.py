"""What a result records about its model, from the model's record, through the result schema:
analysis and rendering read these facts back from every cell instead of importing the models."""

from __future__ import annotations

from bench.results.schema import ModelFacts
from bench.spec.models import Model


def model_facts(model: Model) -> ModelFacts:
    return ModelFacts(
        name=model.name,
        base=model.base,
        variant=model.variant_name,
        order=model.order,
        colour=model.colour,
        task_noun=model.task_noun,
        parallel=model.parallel,
        baseline=model.baseline,
    )
