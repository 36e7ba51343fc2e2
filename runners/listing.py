"""``--list``: the models (each variant on a line of its own) with their availability, and the
matrix's parameter sets."""

from __future__ import annotations

from bench.measure import mpcontext
from bench.planning import order_models, plan
from bench.registry import all_models, workload_names
from bench.spec.workloads import MATRICES, SPECS


def list_matrix(matrix: str) -> None:
    models = order_models(all_models())
    width = max((len(model.name) for model in models), default=0)
    print("models:")
    for model in models:
        reason = model.unavailable_reason()
        state = f"unavailable: {reason}" if reason else "available"
        kind = "lightweight" if model.lightweight else "heavyweight"
        supported = [w for w in workload_names() if model.supports(w)]
        print(f"  {model.name:<{width}} {kind:<11} {state}; workloads: {', '.join(supported)}")
        print(f"  {'':<{width}} {model.summary}")
    print(f"workloads ({matrix} matrix):")
    cells = plan(models, workload_names(), MATRICES[matrix])
    for workload in workload_names():
        specs = list(dict.fromkeys(c.spec for c in cells if c.spec.workload == workload))
        print(f"  {workload}: {SPECS[workload].metric}")
        for spec in specs:
            names = [c.model.name for c in cells if c.spec == spec]
            print(f"    {spec.params}  ({len(names)} models)")
    print(f"start methods: {', '.join(mpcontext.available_methods())}")
