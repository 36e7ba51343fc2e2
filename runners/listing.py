"""``--list``: the models with their availability, and the matrix's parameter sets."""

from __future__ import annotations

from bench.measure import mpcontext
from bench.measure.cells import plan
from bench.registry import all_models, workload_names
from bench.spec.workloads import MATRICES, SPECS


def list_matrix(matrix: str) -> None:
    print("models:")
    for model in all_models():
        reason = model.unavailable_reason()
        state = f"unavailable: {reason}" if reason else "available"
        kind = "lightweight" if model.lightweight else "heavyweight"
        supported = [w for w in workload_names() if model.supports(w)]
        print(f"  {model.name:<11} {kind:<11} {state}; workloads: {', '.join(supported)}")
    print(f"workloads ({matrix} matrix):")
    cells = plan(all_models(), workload_names(), MATRICES[matrix])
    for workload in workload_names():
        specs = list(dict.fromkeys(c.spec for c in cells if c.spec.workload == workload))
        print(f"  {workload}: {SPECS[workload].metric}")
        for spec in specs:
            models = [c.model.name for c in cells if c.spec == spec]
            print(f"    {spec.params}  ({len(models)} models)")
    print(f"start methods: {', '.join(mpcontext.available_methods())}")
