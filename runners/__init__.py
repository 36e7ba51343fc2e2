"""Measuring entry points: the pyperf runner (``python -m runners.run``) and its probes."""
