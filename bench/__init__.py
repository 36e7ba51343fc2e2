"""concbench: the same concurrency workloads, run by every concurrency model, measured by pyperf."""

__version__ = "0.1.0"
